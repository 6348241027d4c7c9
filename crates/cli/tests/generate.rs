//! `hearth generate` as a user runs it: the reference prompts give the reference text, and bad
//! input gives a one-line error and a non-zero exit code.

use std::path::PathBuf;
use std::process::{Command, Output};

fn shared() -> PathBuf {
    std::env::var_os("HEARTH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn hearth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .env_remove("HEARTH_MODEL")
        .env("HEARTH_CONFIG", "/nonexistent/hearth.toml")
        .output()
        .unwrap()
}

fn model(name: &str) -> String {
    shared().join("models").join(name).display().to_string()
}

#[test]
fn fim_generation_reproduces_the_reference_text() {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared().join("eval/reference-dev.json")).unwrap()).unwrap();
    for case in reference["cases"].as_array().unwrap().iter().take(5) {
        for extra in [&[][..], &["--lookup"][..], &["--draft", &model("tiny-coder-draft")][..]] {
            let mut args = vec![
                "generate",
                "--model",
                &model("tiny-coder"),
                "--device",
                "cpu",
                "--fim-prefix",
                case["prefix"].as_str().unwrap(),
                "--fim-suffix",
                case["suffix"].as_str().unwrap(),
                "--max-tokens",
                "24",
                "--json",
            ]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
            args.extend(extra.iter().map(|s| s.to_string()));
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = hearth(&refs);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(json["token_ids"], case["reference_ids"], "{} {extra:?}", case["id"]);
            assert_eq!(json["text"], case["reference"]);
            for key in ["tokens_per_second", "acceptance_rate", "mean_accepted_length"] {
                assert!(json[key].is_number(), "missing {key}");
            }
        }
    }
}

/// Every command finds its model the same way: `--model`, then `HEARTH_MODEL`, then the config file.
#[test]
fn commands_resolve_the_model_from_flag_environment_and_config_file_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, format!("model = {:?}\n", model("tiny-coder"))).unwrap();
    let run = |args: &[&str], env_model: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hearth"));
        command.args(args).env("HEARTH_CONFIG", &config).env_remove("HEARTH_MODEL");
        if let Some(m) = env_model {
            command.env("HEARTH_MODEL", m);
        }
        command.output().unwrap()
    };
    let generate = ["generate", "--device", "cpu", "--prompt", "def add(a, b):", "--max-tokens", "4", "--json"];
    let tokenize = ["tokenize", "--json", "def add(a, b):"];
    for args in [&generate[..], &tokenize[..]] {
        // The config file's model.
        let out = run(args, None);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        // HEARTH_MODEL over the config file, and --model over both.
        let out = run(args, Some("/nonexistent/from-env"));
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("/nonexistent/from-env"), "{args:?}");
        let mut flagged = args.to_vec();
        flagged.extend(["--model", "/nonexistent/from-flag"]);
        let out = run(&flagged, Some("/nonexistent/from-env"));
        assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/from-flag"), "{args:?}");
    }
    let out = run(&generate, None);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The folder the config file names, not the bundled GGUF file.
    assert_eq!(json["format"], "safetensors f32", "{json}");
}

#[test]
fn bad_input_exits_non_zero_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.gguf");
    std::fs::write(&broken, b"GGUF but not really").unwrap();
    let unknown = tmp.path().join("mystery");
    std::fs::create_dir(&unknown).unwrap();
    std::fs::write(unknown.join("config.json"), r#"{"model_type": "rwkv"}"#).unwrap();
    std::fs::copy(shared().join("models/tiny-coder/tokenizer.json"), unknown.join("tokenizer.json")).unwrap();
    std::fs::write(unknown.join("model.safetensors"), b"").unwrap();
    let cases: Vec<(Vec<String>, String)> = vec![
        (vec!["--model".into(), broken.display().to_string(), "--prompt".into(), "x".into()], broken.display().to_string()),
        (vec!["--model".into(), unknown.display().to_string(), "--prompt".into(), "x".into()], "unknown architecture `rwkv`".into()),
        (vec!["--model".into(), model("tiny-coder"), "--prompt".into(), "".into()], "prompt is empty".into()),
    ];
    for (args, expect) in cases {
        let mut all = vec!["generate".to_string(), "--device".into(), "cpu".into()];
        all.extend(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = hearth(&refs);
        assert_eq!(out.status.code(), Some(1), "{all:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains(&expect), "{stderr}");
    }
}
