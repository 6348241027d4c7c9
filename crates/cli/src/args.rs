//! The arguments several commands share, resolved one way: which model to run (the flag, then
//! `HEARTH_MODEL`, then the config file, then the bundled demo model) and a `FILE:LINE:COL` position.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context as _};
use clap::Args;
use hearth_assist::completion::{Completer, CompletionOptions, LoadSpec};
use hearth_base::{LineCol, LineIndex, WideEncoding};
use hearth_lsp::config::{read_user_settings, ModelSource, ServerOptions, Settings};
use hearth_model::LoadedModel;

/// The demo model bundled in the repository, found next to the binary or the source tree.
pub const BUNDLED_MODEL: &str = "models/tiny-coder-q8_0.gguf";

/// The model alone, for commands that read only its tokenizer.
#[derive(Args, Clone, Debug, Default)]
pub struct ModelChoice {
    /// A model folder (config.json, tokenizer.json, *.safetensors), a .gguf file, `ollama:NAME[:TAG]`,
    /// or a Hugging Face id downloaded with `hearth models pull`. Default: `HEARTH_MODEL`, then the
    /// config file's `model`, then the bundled demo model.
    #[arg(long, short)]
    pub model: Option<String>,
}

/// Which model to run, and where.
#[derive(Args, Clone, Debug, Default)]
pub struct ModelArgs {
    #[command(flatten)]
    pub choice: ModelChoice,
    /// A draft model with the same tokenizer, for speculative decoding (default: the config file's
    /// `draftModel`).
    #[arg(long)]
    pub draft: Option<String>,
    /// auto, cpu, cuda, cuda:N or metal (default: the config file's `device`, else auto).
    #[arg(long)]
    pub device: Option<String>,
    /// CPU threads (default: every physical core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run quantized GGUF weights as F32 (exact quantized weights, F32 activations).
    #[arg(long)]
    pub dequantize: bool,
    /// How the CPU keeps the KV cache: f16 (half the memory, as llama.cpp's default) or f32 (exact).
    #[arg(long, value_name = "f16|f32", default_value = "f16")]
    pub kv_type: hearth_model::KvType,
}

/// A model resolved from the arguments and the config file.
pub struct Resolved {
    pub spec: LoadSpec,
    pub source: ModelSource,
    /// The config file's completion settings.
    pub options: CompletionOptions,
}

impl ModelChoice {
    /// The model to load, as every command resolves it.
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        resolve(&self.server_options(), &Settings::default())
    }

    /// Server options: this model (or `HEARTH_MODEL`) on top, the config file below, the bundled model last.
    pub fn server_options(&self) -> ServerOptions {
        let model_override = match (&self.model, std::env::var("HEARTH_MODEL")) {
            (Some(m), _) => Some((m.clone(), ModelSource::CommandLine)),
            (None, Ok(m)) if !m.is_empty() => Some((m, ModelSource::Environment)),
            _ => None,
        };
        let file = read_user_settings().unwrap_or_else(|e| {
            tracing::warn!("ignoring the config file: {e}");
            Settings::default()
        });
        ServerOptions { model_override, file, bundled_model: find_bundled_model(), ..ServerOptions::default() }
    }
}

impl ModelArgs {
    pub fn server_options(&self) -> ServerOptions {
        self.choice.server_options()
    }

    /// Settings from these flags, as a client layer over the config file.
    pub fn flag_settings(&self) -> Settings {
        Settings { draft_model: self.draft.clone(), device: self.device.clone(), ..Settings::default() }
    }

    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        resolve(&self.server_options(), &self.flag_settings())
    }

    /// The model and its draft, loaded with these flags.
    pub fn load_models(&self) -> anyhow::Result<(LoadedModel, Option<LoadedModel>, CompletionOptions)> {
        let Resolved { spec, source, options } = self.resolve()?;
        if source == ModelSource::Bundled {
            eprintln!(
                "note: using the bundled DEMO model {} (6.8M parameters, trained on Python only: weak completions); \
                 pass --model or set HEARTH_MODEL for a real one",
                spec.model
            );
        }
        let device = spec.device.parse().map_err(|e| anyhow::anyhow!("--device: {e}"))?;
        let load = hearth_model::LoadOptions {
            device,
            dequantize: self.dequantize,
            threads: self.threads,
            kv_type: self.kv_type,
            ..Default::default()
        };
        let target = hearth_model::load_with(&spec.model, &load).with_context(|| format!("loading model `{}`", spec.model))?;
        if let Some(w) = &target.warning {
            eprintln!("warning: {w}");
        }
        let draft = match &spec.draft {
            Some(d) => Some(hearth_model::load_with(d, &load).with_context(|| format!("loading draft model `{d}`"))?),
            None => None,
        };
        Ok((target, draft, options))
    }

    /// A completer for the model, with the config file's completion settings.
    pub fn load_completer(&self) -> anyhow::Result<(Completer, CompletionOptions)> {
        let (target, draft, options) = self.load_models()?;
        let completer = Completer::new(&target, draft.as_ref()).with_context(|| format!("loading model `{}`", target.info.name))?;
        Ok((completer, options))
    }
}

fn resolve(options: &ServerOptions, flags: &Settings) -> anyhow::Result<Resolved> {
    let effective = options.effective(flags);
    let Some(spec) = effective.load else {
        bail!("no model: pass --model PATH_OR_ID or set HEARTH_MODEL (the bundled demo model {BUNDLED_MODEL} was not found)")
    };
    Ok(Resolved { spec, source: effective.model_source, options: effective.options })
}

/// `models/tiny-coder-q8_0.gguf` beside the binary or in one of its parent folders (also under
/// `share/hearth/`, as an install lays it out), in the working directory's ancestors, or in the
/// source tree this binary was built from.
pub fn find_bundled_model() -> Option<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            roots.push(dir.to_path_buf());
            roots.push(dir.join("share/hearth"));
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(PathBuf::from));
    }
    roots.push(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")));
    roots.into_iter().map(|r| r.join(BUNDLED_MODEL)).find(|p| p.is_file()).and_then(|p| p.canonicalize().ok())
}

/// `FILE:LINE:COL`, 1-based, the column in characters; the file name may itself hold colons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: u32,
    pub col: u32,
}

impl FromStr for Location {
    type Err = anyhow::Error;

    fn from_str(location: &str) -> anyhow::Result<Location> {
        let mut parts = location.rsplitn(3, ':');
        let (Some(col), Some(line), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("expected FILE:LINE:COL, got `{location}`")
        };
        let line: u32 = line.parse().with_context(|| format!("line `{line}` in `{location}` is not a number"))?;
        let col: u32 = col.parse().with_context(|| format!("column `{col}` in `{location}` is not a number"))?;
        if line == 0 || col == 0 {
            bail!("LINE and COL are 1-based in `{location}`");
        }
        Ok(Location { file: PathBuf::from(file), line, col })
    }
}

impl Location {
    /// The byte offset of this position in `text` (the file's contents).
    pub fn offset_in(&self, text: &str) -> anyhow::Result<usize> {
        let at = LineCol { line: self.line - 1, col: self.col - 1 };
        LineIndex::new(text)
            .offset(text, at, WideEncoding::Utf32)
            .with_context(|| format!("{} has no line {} column {}", self.file.display(), self.line, self.col))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based_and_allow_colons_in_the_file() {
        let at: Location = "a/b.py:3:7".parse().unwrap();
        assert_eq!(at, Location { file: PathBuf::from("a/b.py"), line: 3, col: 7 });
        assert_eq!("C:/x.py:1:1".parse::<Location>().unwrap().file, PathBuf::from("C:/x.py"));
        assert_eq!("src/a:b.rs:12:3".parse::<Location>().unwrap().file, PathBuf::from("src/a:b.rs"));
        for bad in ["x.py:0:1", "x.py:3", "x.py:x:1", "x.py:1:0"] {
            assert!(bad.parse::<Location>().is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets_count_characters_from_one() {
        let text = "ab\nçd = 1\n";
        let at: Location = "f.py:2:2".parse().unwrap();
        assert_eq!(&text[at.offset_in(text).unwrap()..], "d = 1\n");
        assert!("f.py:9:1".parse::<Location>().unwrap().offset_in(text).is_err());
    }
}
