//! `hearth serve|complete|eval fim|bench typing`: the completion path from the command line.

use clap::Args;

#[derive(Args)]
pub struct ServeArgs {}
#[derive(Args)]
pub struct CompleteArgs {}
#[derive(Args)]
pub struct EvalFimArgs {}
#[derive(Args)]
pub struct BenchTypingArgs {}

pub fn serve(_: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("`hearth serve` is not built yet")
}
pub fn complete(_: CompleteArgs) -> anyhow::Result<()> {
    anyhow::bail!("`hearth complete` is not built yet")
}
pub fn eval_fim(_: EvalFimArgs) -> anyhow::Result<()> {
    anyhow::bail!("`hearth eval fim` is not built yet")
}
pub fn bench_typing(_: BenchTypingArgs) -> anyhow::Result<()> {
    anyhow::bail!("`hearth bench typing` is not built yet")
}
