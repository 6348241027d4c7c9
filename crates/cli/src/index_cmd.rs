//! `hearth index|search|symbols|context|bench index`: the repository index from the command line.

use clap::Args;

#[derive(Args)]
pub struct IndexArgs {}
#[derive(Args)]
pub struct SearchArgs {}
#[derive(Args)]
pub struct SymbolsArgs {}
#[derive(Args)]
pub struct ContextArgs {}
#[derive(Args)]
pub struct BenchIndexArgs {}

pub fn index(_: IndexArgs) -> anyhow::Result<()> {
    anyhow::bail!("`hearth index` is not built yet")
}
pub fn search(_: SearchArgs) -> anyhow::Result<()> {
    anyhow::bail!("`hearth search` is not built yet")
}
pub fn symbols(_: SymbolsArgs) -> anyhow::Result<()> {
    anyhow::bail!("`hearth symbols` is not built yet")
}
pub fn context(_: ContextArgs) -> anyhow::Result<()> {
    anyhow::bail!("`hearth context` is not built yet")
}
pub fn bench(_: BenchIndexArgs) -> anyhow::Result<()> {
    anyhow::bail!("`hearth bench index` is not built yet")
}
