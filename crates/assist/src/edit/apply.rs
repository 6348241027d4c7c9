//! Writing changes to disk safely: every path re-checked, files with uncommitted changes refused
//! unless forced, and each file replaced atomically (write a temporary file beside it, fsync,
//! rename), so that an interrupted apply leaves every file either old or new.

use std::io::Write;
use std::path::Path;

use hearth_base::CancelToken;

use super::{workspace::Workspace, EditError, FileChange};

/// Prefix of the temporary files an apply writes beside their targets.
pub const TEMP_PREFIX: &str = ".hearth-edit-";

#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyOptions {
    /// Apply even to files with uncommitted changes (or outside a git repository).
    pub force: bool,
}

/// Progress of [`apply_with`], one call per file and phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyStep<'a> {
    /// The new text is written and synced to a temporary file beside the target.
    Staged(&'a str),
    /// The temporary file has replaced the target.
    Replaced(&'a str),
}

/// The files an apply replaced, root-relative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub files: Vec<String>,
}

/// Writes `changes`. See [`apply_with`].
pub fn apply(workspace: &Workspace, changes: &[FileChange], options: &ApplyOptions, cancel: &CancelToken) -> Result<Applied, EditError> {
    apply_with(workspace, changes, options, cancel, &mut |_| {})
}

/// Writes `changes` in two phases. First every path is checked again (inside the root after
/// resolving symlinks, not `.git/`, not ignored), its text must still be the change's old text,
/// and, unless `options.force`, git must show no uncommitted change in it. Then every new text is
/// staged in a temporary file in the target's directory and synced; a cancel or an error here
/// removes the temporary files and leaves the workspace untouched. Last, each temporary file is
/// renamed over its target (atomic on POSIX); cancellation is no longer checked. A failure in that
/// phase stops with [`EditError::PartialApply`] naming the files already replaced: each file is
/// then either entirely old or entirely new, never half-written.
pub fn apply_with(
    workspace: &Workspace,
    changes: &[FileChange],
    options: &ApplyOptions,
    cancel: &CancelToken,
    on_step: &mut dyn FnMut(ApplyStep<'_>),
) -> Result<Applied, EditError> {
    let mut targets = Vec::with_capacity(changes.len());
    for change in changes {
        let path = workspace.resolve(&change.abs_path)?;
        if workspace.read(&path)? != change.old {
            return Err(EditError::Stale(path.rel));
        }
        targets.push(path);
    }
    if !options.force {
        let rels: Vec<&str> = targets.iter().map(|t| t.rel.as_str()).collect();
        let dirty = workspace.uncommitted(&rels)?;
        if !dirty.is_empty() {
            return Err(EditError::Uncommitted(dirty));
        }
    }
    cancel.check()?;

    let mut staged = Vec::with_capacity(changes.len());
    for (change, target) in changes.iter().zip(&targets) {
        staged.push(stage(&target.abs, &change.new)?);
        on_step(ApplyStep::Staged(&target.rel));
        cancel.check()?;
    }

    let total = staged.len();
    let mut applied = Vec::with_capacity(total);
    for (temp, target) in staged.into_iter().zip(&targets) {
        if let Err(e) = temp.persist(&target.abs) {
            return Err(EditError::PartialApply { applied, total, source: e.error });
        }
        applied.push(target.rel.clone());
        on_step(ApplyStep::Replaced(&target.rel));
    }
    for dir in targets.iter().filter_map(|t| t.abs.parent()) {
        // Make the renames durable; best effort (not every filesystem lets a directory be synced).
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(Applied { files: applied })
}

/// A synced temporary file beside `target` holding `text`, with `target`'s permissions.
fn stage(target: &Path, text: &str) -> Result<tempfile::NamedTempFile, EditError> {
    let io = |source| EditError::Io { path: target.to_path_buf(), source };
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new().prefix(TEMP_PREFIX).suffix(".tmp").tempfile_in(dir).map_err(io)?;
    temp.write_all(text.as_bytes()).map_err(io)?;
    let permissions = std::fs::metadata(target).map_err(io)?.permissions();
    temp.as_file().set_permissions(permissions).map_err(io)?;
    temp.as_file().sync_all().map_err(io)?;
    Ok(temp)
}
