//! `hearth edit`: repo-wide edits from the command line.

use clap::Args;

#[derive(Args)]
pub struct EditArgs {}

pub fn edit(_: EditArgs) -> anyhow::Result<()> {
    anyhow::bail!("`hearth edit` is not built yet")
}
