//! `hearth models list|pull`.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Models found locally.
    List,
}

pub fn run(_: ModelsCommand) -> anyhow::Result<()> {
    anyhow::bail!("`hearth models` is not built yet")
}
