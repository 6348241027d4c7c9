//! `hearth generate` and `hearth bench decode`.

use clap::Args;

#[derive(Args)]
pub struct GenerateArgs {}
#[derive(Args)]
pub struct BenchDecodeArgs {}

pub fn run(_: GenerateArgs) -> anyhow::Result<()> {
    anyhow::bail!("`hearth generate` is not built yet")
}
pub fn bench_decode(_: BenchDecodeArgs) -> anyhow::Result<()> {
    anyhow::bail!("`hearth bench decode` is not built yet")
}
