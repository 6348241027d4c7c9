//! `hearth agent` from the command line: the transcript on stderr, the diff on stdout, nothing
//! written without `--apply`, and `--apply`'s refusal of files with uncommitted changes; with a
//! scripted model (the mechanics) and with the real tiny-coder (a session that ends with a reason).

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{hearth_bin, tiny_model};

const CONFIG: &str = "def parse_config(path):\n    with open(path) as f:\n        return f.read()\n";
const MAIN: &str = "from config import parse_config\n\nprint(parse_config('a.toml'))\n";

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.py"), CONFIG).unwrap();
    std::fs::write(dir.path().join("main.py"), MAIN).unwrap();
    let git = |args: &[&str]| {
        let ok =
            Command::new("git").arg("-C").arg(dir.path()).args(["-c", "user.name=t", "-c", "user.email=t@e"]).args(args).status().unwrap();
        assert!(ok.success());
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "init"]);
    dir
}

fn agent(root: &Path, args: &[&str]) -> Output {
    Command::new(hearth_bin())
        .arg("agent")
        .args(args)
        .arg("--index-dir")
        .arg(root.join(".git/hearth-index"))
        .current_dir(root)
        .env("HEARTH_CONFIG", root.join("none.toml"))
        .output()
        .unwrap()
}

fn script(root: &Path) -> String {
    let call = |name: &str, args: serde_json::Value| {
        format!("<tool_call>\n{}\n</tool_call>", serde_json::json!({"name": name, "arguments": args}))
    };
    let turns = vec![
        call("rename", serde_json::json!({"from": "parse_config", "to": "load_config"})),
        call("edit", serde_json::json!({"path": "config.py", "search": "f.read()", "replace": "f.read().strip()"})),
        "Done: renamed and stripped.".to_string(),
    ];
    let path = root.join(".git/script.json");
    std::fs::write(&path, serde_json::json!({"format": "hermes", "turns": turns}).to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn a_scripted_session_prints_a_diff_and_writes_only_with_apply() {
    let dir = repo();
    let root = dir.path();
    let script = script(root);
    let out = agent(root, &["rename parse_config to load_config", "--script", &script]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("-def parse_config(path):\n+def load_config(path):"), "{stdout}");
    assert!(stdout.contains("+        return f.read().strip()"), "{stdout}");
    assert!(stdout.contains("+print(load_config('a.toml'))"), "{stdout}");
    assert!(stderr.contains("[step 1/16]") && stderr.contains("-> rename") && stderr.contains("nothing written"), "{stderr}");
    assert_eq!(std::fs::read_to_string(root.join("config.py")).unwrap(), CONFIG);

    // A file with uncommitted changes is refused, and left as it is.
    std::fs::write(root.join("main.py"), format!("{MAIN}# local change\n")).unwrap();
    let out = agent(root, &["rename parse_config to load_config", "--script", &script, "--apply"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("uncommitted changes in main.py"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(root.join("config.py")).unwrap(), CONFIG);

    std::fs::write(root.join("main.py"), MAIN).unwrap();
    let out = agent(root, &["rename parse_config to load_config", "--script", &script, "--apply", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["stop"], "answered");
    assert_eq!(json["applied"].as_array().unwrap().len(), 2);
    assert_eq!(
        std::fs::read_to_string(root.join("config.py")).unwrap(),
        CONFIG.replace("parse_config", "load_config").replace("f.read()", "f.read().strip()")
    );
    assert_eq!(std::fs::read_to_string(root.join("main.py")).unwrap(), MAIN.replace("parse_config", "load_config"));
}

/// Real models. tiny-coder's 384-token context cannot hold the agent's prompt: the session stops
/// at once and says so, with the numbers. Gemma 3 270M (32k context) runs turns; whatever this small
/// base model writes, a call it opens parses.
#[test]
fn real_models_end_with_a_reason_and_no_malformed_call() {
    let dir = repo();
    let root = dir.path();
    let out = agent(root, &["Rename parse_config to load_config", "--model", &tiny_model(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["stop"], "context_full");
    let note = json["transcript"][0]["text"].as_str().unwrap();
    assert!(note.contains("but the model's context holds 384") && note.contains("longer context"), "{note}");

    let gemma = hearth_model::testing::gemma3_path();
    let out = agent(
        root,
        &["Rename parse_config to load_config", "--model", gemma.to_str().unwrap(), "--max-steps", "2", "--max-tokens", "160", "--json"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("gemma: stop {}, {} step(s), {} call(s), {} tokens", json["stop"], json["steps"], json["calls"], json["generatedTokens"]);
    assert_eq!(json["malformedCalls"], 0, "{:#}", json["transcript"]);
    assert!(json["steps"].as_u64().unwrap() >= 1);
    assert!(["answered", "step_budget", "token_budget"].contains(&json["stop"].as_str().unwrap()), "{json}");
    assert_eq!(std::fs::read_to_string(root.join("config.py")).unwrap(), CONFIG);
}
