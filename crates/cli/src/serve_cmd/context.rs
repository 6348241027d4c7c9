//! Opening the repository index for `hearth serve` and `hearth eval`: built or refreshed, with
//! progress, until cancelled. Retrieval itself is the index's `ContextSource` (in hearth-assist).

use std::path::Path;
use std::sync::Arc;

use hearth_base::CancelToken;
use hearth_index::{Index, IndexOptions};

/// Opens the index of `root` and brings it up to date, reporting progress as `(message, percent)`.
pub fn open_index(
    root: &Path,
    options: IndexOptions,
    cancel: &CancelToken,
    progress: &mut dyn FnMut(String, Option<u32>),
) -> anyhow::Result<Arc<Index>> {
    let index = Index::open(root, options)?;
    let stats = index.sync_until(cancel, &mut |p| {
        let percent = (p.files_total > 0).then(|| (100 * p.files_done / p.files_total) as u32);
        progress(format!("{}/{} files", p.files_done, p.files_total), percent);
    })?;
    tracing::info!("index of {}: {} files indexed, {} unchanged", root.display(), stats.files_indexed, stats.files_unchanged);
    Ok(Arc::new(index))
}
