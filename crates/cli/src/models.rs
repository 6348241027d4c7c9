//! `hearth models list|pull|synthesize`: what is on disk, the one command that downloads, and
//! random-weight models of real shapes for benchmarks.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Models found locally: the bundled demo model, the Hugging Face cache, the Ollama store,
    /// and any folders given.
    List {
        /// Extra folders to scan.
        dirs: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Download a model from the Hugging Face Hub into the local HF cache. This is the only
    /// Hearth command that opens a network connection.
    Pull {
        /// `org/name` (safetensors) or `org/name:FILE.gguf` (one GGUF file of a repository).
        id: String,
        #[arg(long, default_value = "main")]
        revision: String,
    },
    /// Write a model with random weights and the exact shape of a real one, for benchmarks
    /// (its outputs mean nothing). Prints the path to pass to --model.
    Synthesize {
        /// qwen2.5-coder-0.5b, -1.5b, -7b, qwen3-coder-30b-a3b, gemma-3-270m, test-qwen3, test-qwen3moe,
        /// test-gemma3, or custom:HIDDEN:LAYERS:HEADS:KV_HEADS:INTERMEDIATE:VOCAB (Qwen2).
        #[arg(long)]
        shape: String,
        /// bf16, f16, f32 (safetensors folder) or q8_0, q4_k, gguf-f32 (GGUF file).
        #[arg(long)]
        format: String,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A byte-level BPE tokenizer.json to pad up to the vocabulary, e.g. ../shared/models/tiny-coder/tokenizer.json.
        #[arg(long)]
        tokenizer: PathBuf,
    },
}

pub fn run(command: ModelsCommand) -> anyhow::Result<()> {
    match command {
        ModelsCommand::List { mut dirs, json } => {
            if let Some(bundled) = crate::args::find_bundled_model() {
                if let Some(parent) = bundled.parent() {
                    dirs.insert(0, parent.to_path_buf());
                }
            }
            let models = hearth_model::list_local(&dirs);
            if json {
                println!("{}", serde_json::to_string_pretty(&models)?);
                return Ok(());
            }
            if models.is_empty() {
                println!(
                    "no models found (looked in {} and {}); get one with `hearth models pull Qwen/Qwen2.5-Coder-1.5B`",
                    hearth_model::hf_cache_dir().display(),
                    hearth_model::ollama_dir().display()
                );
            }
            for m in models {
                println!("{:<60} {:<9} {:<12} {:>8.1} MB  {}", m.spec, m.source, m.format, m.bytes as f64 / 1e6, m.path.display());
            }
            Ok(())
        }
        ModelsCommand::Pull { id, revision } => pull(&id, &revision),
        ModelsCommand::Synthesize { shape, format, out, seed, tokenizer } => synthesize(&shape, &format, &out, seed, &tokenizer),
    }
}

fn synthesize(shape: &str, format: &str, out: &std::path::Path, seed: u64, tokenizer: &std::path::Path) -> anyhow::Result<()> {
    use hearth_model::synthetic::{Format, Shape};
    let shape = Shape::parse(shape).map_err(anyhow::Error::msg)?;
    let format = Format::parse(format).map_err(anyhow::Error::msg)?;
    let started = std::time::Instant::now();
    let path = hearth_model::synthetic::synthesize(&shape, format, out, seed, tokenizer)?;
    eprintln!(
        "wrote {} ({:.2}B parameters, {}, random weights) in {:.1} s",
        shape.name,
        shape.param_count() as f64 / 1e9,
        format.name(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", path.display());
    Ok(())
}

fn pull(spec: &str, revision: &str) -> anyhow::Result<()> {
    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Repo, RepoType};
    let (id, file) = match spec.split_once(':') {
        Some((id, f)) => (id, Some(f)),
        None => (spec, None),
    };
    eprintln!("downloading {spec} from the Hugging Face Hub into {}", hearth_model::hf_cache_dir().display());
    let api = ApiBuilder::from_env().with_progress(true).build().context("setting up the Hugging Face client")?;
    let repo = api.repo(Repo::with_revision(id.to_string(), RepoType::Model, revision.to_string()));
    let files: Vec<String> = match file {
        Some(f) => vec![f.to_string()],
        None => {
            let info = repo.info().with_context(|| format!("looking up {id} on the Hub"))?;
            let names: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
            let wanted = |n: &String| {
                matches!(n.as_str(), "config.json" | "tokenizer.json" | "tokenizer_config.json" | "generation_config.json")
                    || n.ends_with(".safetensors")
                    || n == "model.safetensors.index.json"
            };
            let picked: Vec<String> = names.iter().filter(|n| wanted(n)).cloned().collect();
            if !picked.iter().any(|n| n.ends_with(".safetensors")) {
                let ggufs: Vec<&String> = names.iter().filter(|n| n.ends_with(".gguf")).collect();
                anyhow::bail!(
                    "{id} has no safetensors weights; pick one GGUF file with `hearth models pull {id}:FILE`, e.g. {}",
                    ggufs.iter().take(5).map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
            picked
        }
    };
    for f in &files {
        let path = repo.get(f).with_context(|| format!("downloading {f}"))?;
        eprintln!("  {f} -> {}", path.display());
    }
    let spec_out = match file {
        Some(f) => format!("{id}:{f}"),
        None => id.to_string(),
    };
    hearth_model::resolve(&spec_out).context("the download finished but the model does not resolve")?;
    println!("ready: hearth serve --model {spec_out}");
    Ok(())
}
