//! Broken model files give one-line errors that name the file and the problem.

use std::path::{Path, PathBuf};

use hearth_model::testing::model_path;
use hearth_model::{load, DeviceChoice};

fn copy_model(dir: &Path) -> PathBuf {
    let dst = dir.join("model");
    std::fs::create_dir_all(&dst).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json"] {
        std::fs::copy(Path::new(&model_path("tiny-coder")).join(f), dst.join(f)).unwrap();
    }
    dst
}

fn load_err(spec: &Path) -> String {
    match load(&spec.display().to_string(), DeviceChoice::Cpu) {
        Ok(_) => panic!("{} loaded although it is broken", spec.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_one_line(msg: &str, file: &Path, words: &str) {
    assert!(!msg.contains('\n'), "not one line: {msg}");
    assert!(msg.contains(&file.display().to_string()), "does not name {}: {msg}", file.display());
    assert!(msg.contains(words), "does not say `{words}`: {msg}");
}

fn truncate(path: &Path, keep: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(keep).unwrap();
}

#[test]
fn truncated_and_corrupt_safetensors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_model(tmp.path());
    let weights = dir.join("model.safetensors");
    let len = std::fs::metadata(&weights).unwrap().len();
    truncate(&weights, len / 2);
    assert_one_line(&load_err(&dir), &weights, "truncated");

    std::fs::write(&weights, b"\xff\xff\xff\xff\xff\xff\xff\x7fgarbage").unwrap();
    assert_one_line(&load_err(&dir), &weights, "not a safetensors file");
}

#[test]
fn truncated_and_garbage_gguf() {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = tmp.path().join("tiny.gguf");
    std::fs::copy(model_path("gguf/tiny-coder-q8_0.gguf"), &gguf).unwrap();
    let len = std::fs::metadata(&gguf).unwrap().len();
    truncate(&gguf, len - 1000);
    assert_one_line(&load_err(&gguf), &gguf, "truncated");

    std::fs::write(&gguf, b"this is not a model").unwrap();
    assert_one_line(&load_err(&gguf), &gguf, "not a readable GGUF file");
}

#[test]
fn config_tokenizer_mismatch_and_unknown_architecture() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_model(tmp.path());
    let config = dir.join("config.json");
    let original = std::fs::read_to_string(&config).unwrap();

    std::fs::write(&config, original.replace("\"vocab_size\": 4096", "\"vocab_size\": 1000")).unwrap();
    let msg = load_err(&dir);
    assert!(msg.contains("tokenizer has 4096 tokens but the model expects at most 1000"), "{msg}");
    assert!(msg.contains("tokenizer.json"), "{msg}");

    std::fs::write(&config, original.replace("\"intermediate_size\": 768", "\"intermediate_size\": 512")).unwrap();
    assert_one_line(&load_err(&dir), &dir.join("model.safetensors"), "config and weights do not match");

    std::fs::write(&config, original.replace("\"qwen2\"", "\"mamba\"").replace("Qwen2ForCausalLM", "MambaForCausalLM")).unwrap();
    assert_one_line(&load_err(&dir), &config, "unknown architecture `mamba`");

    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    assert_one_line(&load_err(&dir), &dir, "tokenizer.json is missing");
}

#[test]
fn missing_model_names_the_download_command() {
    let msg = match load("acme/not-downloaded", DeviceChoice::Cpu) {
        Ok(_) => panic!("loaded a model that does not exist"),
        Err(e) => e.to_string(),
    };
    assert!(msg.contains("hearth models pull acme/not-downloaded"), "{msg}");
}
