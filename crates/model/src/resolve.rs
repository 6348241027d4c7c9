//! Finding model files on disk: Hugging Face folders, GGUF files, the local Hugging Face cache,
//! and Ollama's store. Nothing here touches the network.

use std::path::{Path, PathBuf};

use crate::{ModelError, Result};

/// The files of one model, ready to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelFiles {
    HfFolder { dir: PathBuf, config: PathBuf, weights: Vec<PathBuf>, tokenizer: PathBuf },
    Gguf { path: PathBuf },
}

impl ModelFiles {
    pub fn main_path(&self) -> &Path {
        match self {
            ModelFiles::HfFolder { dir, .. } => dir,
            ModelFiles::Gguf { path } => path,
        }
    }

    /// Bytes of weights on disk.
    pub fn weight_bytes(&self) -> u64 {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        match self {
            ModelFiles::HfFolder { weights, .. } => weights.iter().map(|p| size(p)).sum(),
            ModelFiles::Gguf { path } => size(path),
        }
    }
}

/// Resolves `spec`: a folder, a `.gguf` file, `ollama:NAME[:TAG]`, or a Hugging Face id
/// (`org/name`, optionally `org/name:FILE.gguf`) looked up in the local cache only.
pub fn resolve(spec: &str) -> Result<ModelFiles> {
    let path = Path::new(spec);
    if path.is_dir() {
        return hf_folder(path);
    }
    if path.is_file() {
        return Ok(ModelFiles::Gguf { path: path.to_path_buf() });
    }
    if let Some(name) = spec.strip_prefix("ollama:") {
        return ollama_model(name).map(|path| ModelFiles::Gguf { path });
    }
    if looks_like_hf_id(spec) {
        let (id, file) = match spec.split_once(':') {
            Some((id, file)) => (id, Some(file)),
            None => (spec, None),
        };
        let snapshot = hf_snapshot(id).ok_or_else(|| ModelError::NotFound {
            spec: spec.into(),
            message: format!(
                "it is not in the local Hugging Face cache ({}); download it with `hearth models pull {id}`",
                hf_cache_dir().display()
            ),
        })?;
        return match file {
            Some(f) if !f.split('/').all(plain_component) => Err(ModelError::NotFound {
                spec: spec.into(),
                message: format!("`{f}` is not a file name inside the repository (no `..`, no absolute paths)"),
            }),
            Some(f) => Ok(ModelFiles::Gguf { path: snapshot.join(f) }),
            None if snapshot.join("config.json").exists() => hf_folder(&snapshot),
            None => match gguf_files_in(&snapshot).first() {
                Some(p) => Ok(ModelFiles::Gguf { path: p.clone() }),
                None => hf_folder(&snapshot),
            },
        };
    }
    Err(ModelError::NotFound {
        spec: spec.into(),
        message: "no such file or folder, and not a Hugging Face id (org/name) or ollama:NAME".into(),
    })
}

fn looks_like_hf_id(spec: &str) -> bool {
    let id = spec.split(':').next().unwrap_or("");
    let parts: Vec<&str> = id.split('/').collect();
    parts.len() == 2 && parts.iter().all(|p| !p.is_empty() && !p.starts_with('.'))
}

/// A Hugging Face model folder: config.json, tokenizer.json and safetensors (single or sharded).
pub fn hf_folder(dir: &Path) -> Result<ModelFiles> {
    let config = dir.join("config.json");
    let tokenizer = dir.join("tokenizer.json");
    let missing = |what: &str| ModelError::bad_file(dir, format!("not a model folder: {what} is missing"));
    if !config.is_file() {
        return Err(missing("config.json"));
    }
    if !tokenizer.is_file() {
        return Err(missing("tokenizer.json"));
    }
    let index = dir.join("model.safetensors.index.json");
    let weights = if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|source| ModelError::Io { path: index.clone(), source })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ModelError::bad_file(&index, format!("invalid JSON: {e}")))?;
        let map = json.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| ModelError::bad_file(&index, "no `weight_map`"))?;
        let mut files: Vec<PathBuf> = map.values().filter_map(|v| v.as_str()).map(|f| dir.join(f)).collect();
        files.sort();
        files.dedup();
        if let Some(absent) = files.iter().find(|f| !f.is_file()) {
            return Err(ModelError::bad_file(&index, format!("shard {} is missing", absent.display())));
        }
        files
    } else if dir.join("model.safetensors").is_file() {
        vec![dir.join("model.safetensors")]
    } else {
        return Err(missing("model.safetensors (or model.safetensors.index.json)"));
    };
    Ok(ModelFiles::HfFolder { dir: dir.to_path_buf(), config, weights, tokenizer })
}

/// `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn hf_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("HF_HOME") {
        return PathBuf::from(p).join("hub");
    }
    dirs::home_dir().unwrap_or_default().join(".cache/huggingface/hub")
}

/// The snapshot folder of `org/name` in the HF cache, following `refs/main`.
pub fn hf_snapshot(id: &str) -> Option<PathBuf> {
    let repo = hf_cache_dir().join(format!("models--{}", id.replace('/', "--")));
    let snapshots = repo.join("snapshots");
    if let Ok(rev) = std::fs::read_to_string(repo.join("refs/main")) {
        let dir = snapshots.join(rev.trim());
        if dir.is_dir() {
            return Some(dir);
        }
    }
    std::fs::read_dir(&snapshots).ok()?.flatten().map(|e| e.path()).find(|p| p.is_dir())
}

/// `$OLLAMA_MODELS`, else `~/.ollama/models`.
pub fn ollama_dir() -> PathBuf {
    match std::env::var_os("OLLAMA_MODELS") {
        Some(p) => PathBuf::from(p),
        None => dirs::home_dir().unwrap_or_default().join(".ollama/models"),
    }
}

/// The GGUF blob of an Ollama model `NAME[:TAG]` (library namespace unless NAME has a `/`).
pub fn ollama_model(name: &str) -> Result<PathBuf> {
    let (name, tag) = name.split_once(':').unwrap_or((name, "latest"));
    let bad = |what: &str| ModelError::NotFound {
        spec: format!("ollama:{name}:{tag}"),
        message: format!("{what} is not a valid Ollama name (letters, digits, `.`, `_`, `-`, and `/` between parts; no `..`)"),
    };
    if !name.split('/').all(plain_component) {
        return Err(bad(&format!("`{name}`")));
    }
    if !plain_component(tag) {
        return Err(bad(&format!("tag `{tag}`")));
    }
    let name = if name.contains('/') { name.to_string() } else { format!("library/{name}") };
    let root = ollama_dir();
    let manifest = root.join("manifests/registry.ollama.ai").join(&name).join(tag);
    let not_found = |m: String| ModelError::NotFound { spec: format!("ollama:{name}:{tag}"), message: m };
    let text = std::fs::read_to_string(&manifest).map_err(|_| not_found(format!("no manifest at {}", manifest.display())))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| not_found(format!("bad manifest: {e}")))?;
    let digest = json["layers"]
        .as_array()
        .and_then(|layers| layers.iter().find(|l| l["mediaType"] == "application/vnd.ollama.image.model"))
        .and_then(|l| l["digest"].as_str())
        .ok_or_else(|| not_found("the manifest names no model layer".into()))?;
    // The digest names a file under blobs/: a manifest must not point elsewhere.
    let blob_name = digest.replace(':', "-");
    if !plain_component(&blob_name) {
        return Err(not_found(format!("the manifest's digest `{digest}` is not a blob name")));
    }
    let blob = root.join("blobs").join(blob_name);
    if blob.is_file() {
        Ok(blob)
    } else {
        Err(not_found(format!("blob {} is missing", blob.display())))
    }
}

/// A name that stays one path component: not empty, not `.` or `..`, only `[A-Za-z0-9._-]`.
fn plain_component(part: &str) -> bool {
    !part.is_empty() && part != "." && part != ".." && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// One model found on disk.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LocalModel {
    /// What to pass to `--model`.
    pub spec: String,
    pub source: &'static str,
    pub format: &'static str,
    pub path: PathBuf,
    pub bytes: u64,
}

/// Models in the HF cache, the Ollama store, and the given extra folders.
pub fn list_local(extra_dirs: &[PathBuf]) -> Vec<LocalModel> {
    let mut out = Vec::new();
    for dir in extra_dirs {
        scan_folder(dir, "folder", &mut out);
    }
    if let Ok(entries) = std::fs::read_dir(hf_cache_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(id) = name.strip_prefix("models--") else { continue };
            let id = id.replacen("--", "/", 1);
            if let Some(snap) = hf_snapshot(&id) {
                if let Ok(files) = hf_folder(&snap) {
                    out.push(local(&id, "hf-cache", "safetensors", &files));
                }
                for g in gguf_files_in(&snap) {
                    let file = g.file_name().unwrap_or_default().to_string_lossy().to_string();
                    out.push(local(&format!("{id}:{file}"), "hf-cache", "gguf", &ModelFiles::Gguf { path: g }));
                }
            }
        }
    }
    let manifests = ollama_dir().join("manifests/registry.ollama.ai");
    for ns in read_dirs(&manifests) {
        for model in read_dirs(&ns) {
            for tag in std::fs::read_dir(&model).into_iter().flatten().flatten() {
                let ns_name = ns.file_name().unwrap_or_default().to_string_lossy().to_string();
                let model_name = model.file_name().unwrap_or_default().to_string_lossy().to_string();
                let tag = tag.file_name().to_string_lossy().to_string();
                let name = if ns_name == "library" { model_name } else { format!("{ns_name}/{model_name}") };
                if let Ok(path) = ollama_model(&format!("{name}:{tag}")) {
                    out.push(local(&format!("ollama:{name}:{tag}"), "ollama", "gguf", &ModelFiles::Gguf { path }));
                }
            }
        }
    }
    out
}

fn scan_folder(dir: &Path, source: &'static str, out: &mut Vec<LocalModel>) {
    if let Ok(files) = hf_folder(dir) {
        out.push(local(&dir.display().to_string(), source, "safetensors", &files));
    }
    for g in gguf_files_in(dir) {
        out.push(local(&g.display().to_string(), source, "gguf", &ModelFiles::Gguf { path: g.clone() }));
    }
    for sub in read_dirs(dir) {
        if let Ok(files) = hf_folder(&sub) {
            out.push(local(&sub.display().to_string(), source, "safetensors", &files));
        }
    }
}

fn local(spec: &str, source: &'static str, format: &'static str, files: &ModelFiles) -> LocalModel {
    LocalModel { spec: spec.into(), source, format, path: files.main_path().to_path_buf(), bytes: files.weight_bytes() }
}

fn read_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    v.sort();
    v
}

fn gguf_files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "gguf") && p.is_file())
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_hf_ids() {
        assert!(looks_like_hf_id("Qwen/Qwen2.5-Coder-1.5B"));
        assert!(looks_like_hf_id("Qwen/Qwen2.5-Coder-1.5B-GGUF:qwen2.5-coder-1.5b-q8_0.gguf"));
        assert!(!looks_like_hf_id("./models/x"));
        assert!(!looks_like_hf_id("justaname"));
    }

    #[test]
    fn finds_models_in_a_fake_hf_cache_and_ollama_store() {
        let tmp = tempfile::tempdir().unwrap();
        let snap = tmp.path().join("hub/models--acme--coder/snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(tmp.path().join("hub/models--acme--coder/refs")).unwrap();
        std::fs::write(tmp.path().join("hub/models--acme--coder/refs/main"), "abc123").unwrap();
        for f in ["config.json", "tokenizer.json", "model.safetensors"] {
            std::fs::write(snap.join(f), "{}").unwrap();
        }
        let ollama = tmp.path().join("ollama");
        let manifest_dir = ollama.join("manifests/registry.ollama.ai/library/tiny");
        std::fs::create_dir_all(&manifest_dir).unwrap();
        std::fs::create_dir_all(ollama.join("blobs")).unwrap();
        std::fs::write(ollama.join("blobs/sha256-feed"), "GGUF").unwrap();
        std::fs::write(
            manifest_dir.join("q8"),
            r#"{"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:feed"}]}"#,
        )
        .unwrap();
        // Environment variables are process-wide; this is the only test in the crate that sets them.
        std::env::set_var("HF_HUB_CACHE", tmp.path().join("hub"));
        std::env::set_var("OLLAMA_MODELS", &ollama);

        assert_eq!(resolve("acme/coder").unwrap().main_path(), snap);
        assert_eq!(resolve("ollama:tiny:q8").unwrap().main_path(), ollama.join("blobs/sha256-feed"));
        let err = resolve("acme/absent").unwrap_err().to_string();
        assert!(err.contains("hearth models pull acme/absent"), "{err}");
        // Names that would leave the Ollama store or the snapshot are refused before any lookup.
        std::fs::write(ollama.join("manifests/evil"), r#"{"layers":[]}"#).unwrap();
        for spec in ["ollama:../../evil", "ollama:tiny:../../../evil", "ollama:a//b", "ollama:/etc/passwd"] {
            let err = resolve(spec).unwrap_err().to_string();
            assert!(err.contains("not a valid Ollama name"), "{spec}: {err}");
        }
        let err = resolve("acme/coder:../../../../etc/passwd").unwrap_err().to_string();
        assert!(err.contains("not a file name inside the repository"), "{err}");
        std::fs::write(
            manifest_dir.join("evil"),
            r#"{"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:../../x"}]}"#,
        )
        .unwrap();
        let err = resolve("ollama:tiny:evil").unwrap_err().to_string();
        assert!(err.contains("not a blob name"), "{err}");
        std::fs::remove_file(manifest_dir.join("evil")).unwrap();
        let specs: Vec<String> = list_local(&[]).into_iter().map(|m| m.spec).collect();
        assert_eq!(specs, vec!["acme/coder".to_string(), "ollama:tiny:q8".to_string()]);
    }
}
