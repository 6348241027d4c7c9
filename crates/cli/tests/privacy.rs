//! Privacy by construction: `hearth serve` and the offline commands work in a network namespace with
//! no interfaces (`unshare -n`), the server never holds a network socket while it completes and edits,
//! and only the download command's module and the remote backend's crate name network code in the
//! source tree.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::{hearth_bin, python_repo, tiny_model, Rpc, PYTHON_SOURCE};

/// `unshare -n PROGRAM ARGS..`, or a clear failure when this machine refuses network namespaces.
fn offline(program: &str, args: &[&str]) -> Command {
    let probe = Command::new("unshare").args(["-n", "true"]).output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`unshare -n` is refused here ({}): the egress test needs root or user namespaces (CI runs as root)",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("`unshare` is not installed ({e}): apt-get install util-linux"),
    }
    let mut command = Command::new("unshare");
    command.arg("-n").arg(program).args(args).env_remove("HEARTH_MODEL").env_remove("RUST_LOG");
    command
}

/// Socket inodes listed in one of `/proc/PID/net/*` (the inode is column `column`).
fn table_inodes(pid: u32, table: &str, column: usize) -> HashSet<u64> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else { return HashSet::new() };
    text.lines().skip(1).filter_map(|l| l.split_whitespace().nth(column)?.parse().ok()).collect()
}

/// The process's open sockets by inode, from its fd links (`socket:[INODE]`).
fn fd_sockets(pid: u32) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    entries
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy();
            t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// What each of the process's sockets is: `unix`, a network table's name, or `unknown`.
fn classify_sockets(pid: u32) -> BTreeMap<u64, String> {
    let inet: Vec<(&str, HashSet<u64>)> = ["tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6"]
        .into_iter()
        .map(|t| (t, table_inodes(pid, t, 9)))
        .chain([("packet", table_inodes(pid, "packet", 8))])
        .collect();
    let unix = table_inodes(pid, "unix", 6);
    let netlink = table_inodes(pid, "netlink", 9);
    fd_sockets(pid)
        .into_iter()
        .map(|inode| {
            let kind = if let Some((table, _)) = inet.iter().find(|(_, set)| set.contains(&inode)) {
                table.to_string()
            } else if unix.contains(&inode) {
                "unix".to_string()
            } else if netlink.contains(&inode) {
                "netlink".to_string()
            } else {
                "unknown".to_string()
            };
            (inode, kind)
        })
        .collect()
}

/// Samples the process's sockets every few milliseconds until stopped; returns every socket seen.
fn watch_sockets(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, BTreeMap<u64, String>)> {
    std::thread::spawn(move || {
        let mut seen = BTreeMap::new();
        let mut samples = 0;
        while !stop.load(Ordering::Relaxed) {
            seen.extend(classify_sockets(pid));
            samples += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        (samples, seen)
    })
}

fn net_namespace(pid: &str) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap()
}

#[test]
fn serve_completes_and_edits_with_no_network_and_holds_no_network_socket() {
    let repo = python_repo(PYTHON_SOURCE);
    let cache = tempfile::tempdir().unwrap();
    let model = tiny_model();
    let mut child = offline(hearth_bin(), &["serve", "--model", &model])
        .env("XDG_CACHE_HOME", cache.path())
        .env("HEARTH_INDEX_DIR", cache.path().join("index"))
        .env("HEARTH_CONFIG", cache.path().join("none.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting unshare");
    let pid = child.id();
    let mut rpc = Rpc::new(child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_sockets(pid, stop.clone());

    let init = rpc.start(repo.path(), json!({"debounceMs": 0}));
    // `unshare` execs the server, so PID is the server in its own, empty network namespace.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.ends_with("hearth"), "pid {pid} is {}", exe.display());
    assert_ne!(net_namespace(&pid.to_string()), net_namespace("self"), "the server shares the test's network namespace");
    let interfaces: Vec<String> = std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .unwrap()
        .lines()
        .skip(2)
        .filter_map(|l| Some(l.split(':').next()?.trim().to_string()))
        .collect();
    assert_eq!(interfaces, ["lo"], "the namespace should hold only a downed loopback");

    let uri = format!("file://{}/main.py", repo.path().display());
    rpc.open(&uri, "python", PYTHON_SOURCE);
    let mut completions = 0;
    for (line, character) in [(6, 14), (7, 4), (9, 4), (13, 11), (14, 10)] {
        let result = rpc.inline_completion(&uri, line, character);
        if let Some(items) = result.get("items").and_then(Value::as_array) {
            assert!(items.iter().all(|i| i["insertText"].is_string()), "{result}");
            completions += items.len();
        }
    }
    assert!(completions > 0, "no completion came back from 5 requests");
    let stats = rpc.call("workspace/executeCommand", json!({"command": "hearth.stats", "arguments": []}));
    assert_eq!(stats["requests"], 5, "{stats}");

    // The edit, as editors send it; checked strictly where the server advertises it.
    let advertised =
        init["capabilities"]["executeCommandProvider"]["commands"].as_array().is_some_and(|c| c.iter().any(|c| c == "hearth.edit"));
    let edit_id = rpc.request(
        "workspace/executeCommand",
        json!({"command": "hearth.edit", "arguments": [{
            "instruction": "rename parse_cfg to parse_config",
            "scope": "file",
            "uri": uri,
        }]}),
    );
    let edit = rpc.response(edit_id, Duration::from_secs(120));
    if advertised {
        assert!(edit["result"]["edit"].is_object(), "hearth.edit gave no WorkspaceEdit: {edit}");
    } else {
        eprintln!("note: this server does not advertise hearth.edit; it answered {edit}");
        assert!(edit.get("error").is_some() || edit.get("result").is_some(), "{edit}");
    }
    // Malformed input on the same connection does not end the session.
    rpc.write_raw(b"Content-Length: 9\r\n\r\n{not json");
    let parse_error = rpc.wait_for("the parse error", Duration::from_secs(30), |m| m["error"]["code"] == -32700);
    assert!(parse_error["id"].is_null(), "{parse_error}");
    rpc.inline_completion(&uri, 7, 4);

    stop.store(true, Ordering::Relaxed);
    let (samples, seen) = watcher.join().unwrap();
    rpc.shutdown();
    let status = child.wait().unwrap();
    assert!(status.success(), "hearth serve exited with {status}");

    assert!(samples > 10, "only {samples} socket samples were taken");
    let network: Vec<_> = seen.iter().filter(|(_, kind)| kind.as_str() != "unix").collect();
    assert!(network.is_empty(), "the server held non-Unix sockets (inode, table): {network:?}; all: {seen:?}");
    eprintln!("{samples} samples of the server's sockets; seen: {seen:?}");
}

/// The offline commands a user runs by hand, with the network namespace empty.
#[test]
fn offline_commands_work_without_a_network() {
    let repo = python_repo(PYTHON_SOURCE);
    let cache = tempfile::tempdir().unwrap();
    let index_dir = cache.path().join("index");
    let model = tiny_model();
    let run = |args: &[&str]| {
        let out = offline(hearth_bin(), args)
            .current_dir(repo.path())
            .env("XDG_CACHE_HOME", cache.path())
            .env("HEARTH_INDEX_DIR", &index_dir)
            .env("HEARTH_CONFIG", cache.path().join("none.toml"))
            .output()
            .unwrap();
        assert!(out.status.success(), "hearth {args:?} failed offline: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["generate", "--model", &model, "--fim-prefix", "def add(a, b):\n    return ", "--fim-suffix", "\n", "--max-tokens", "8"]);
    run(&["complete", "main.py:8:5", "--model", &model]);
    let summary = run(&["index", "--json"]);
    assert!(summary.contains("files"), "{summary}");
    let found = run(&["search", "parse_cfg"]);
    assert!(found.contains("main.py"), "{found}");
    run(&["edit", "rename parse_cfg to parse_config", "--apply", "--model", &model]);
    let edited = std::fs::read_to_string(repo.path().join("main.py")).unwrap();
    assert!(edited.contains("def parse_config(path)") && edited.contains("rows = parse_config("), "{edited}");
    assert!(!edited.contains("parse_cfg"), "{edited}");
}

/// Network code by name: where each is allowed in the source tree.
const NETWORK_NAMES: &[(&str, &[&str])] = &[
    // The one download command.
    ("hf_hub", &["crates/cli/src/models.rs"]),
    ("hf-hub", &["crates/cli/Cargo.toml", "Cargo.toml"]),
    ("reqwest", &[]),
    // The download command's client (through hf-hub), and the remote backend's: it connects to the
    // configured URL only (tests/lsp-node/test/remote.test.js checks the server's sockets).
    ("ureq", &["Cargo.toml", "crates/remote/Cargo.toml", "crates/remote/src/generator.rs", "crates/remote/src/stream.rs"]),
    ("hyper::", &[]),
    ("UdpSocket", &[]),
    // `hearth serve --listen tcp`: loopback only, behind a token.
    ("TcpListener", &["crates/lsp/src/socket.rs"]),
    ("TcpStream", &["crates/lsp/src/socket.rs", "crates/cli/tests/socket.rs"]),
    ("ToSocketAddrs", &[]),
];

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "node_modules" | ".git" | "dist") {
                source_files(&path, out);
            }
        } else if name.ends_with(".rs") || name == "Cargo.toml" {
            out.push(path);
        }
    }
}

#[test]
fn network_code_is_only_where_it_is_allowed() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let mut files = vec![root.join("Cargo.toml")];
    source_files(&root.join("crates"), &mut files);
    assert!(files.len() > 30, "found only {} source files under {}", files.len(), root.display());
    let this_file = Path::new(file!()).file_name().unwrap();
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if rel.ends_with("tests/privacy.rs") && file.file_name() == Some(this_file) {
            continue; // this list
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (name, allowed) in NETWORK_NAMES {
            if !allowed.contains(&rel.as_str()) {
                for (n, line) in text.lines().enumerate().filter(|(_, l)| l.contains(name)) {
                    violations.push(format!("{rel}:{}: `{name}`: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(violations.is_empty(), "network code outside the allowed files:\n{}", violations.join("\n"));
    // The download command really is where the list says.
    let models = std::fs::read_to_string(root.join("crates/cli/src/models.rs")).unwrap();
    assert!(models.contains("hf_hub::"), "crates/cli/src/models.rs no longer uses hf_hub: update NETWORK_NAMES");
    let remote = std::fs::read_to_string(root.join("crates/remote/src/generator.rs")).unwrap();
    assert!(remote.contains("ureq::AgentBuilder"), "crates/remote/src/generator.rs no longer builds the agent: update NETWORK_NAMES");
}

/// The socket census itself: a TCP and a UDP socket of this test process are seen as network sockets.
#[test]
fn the_socket_census_sees_network_sockets() {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (unix, _) = std::os::unix::net::UnixStream::pair().unwrap();
    let kinds: Vec<String> = classify_sockets(std::process::id()).into_values().collect();
    assert!(kinds.iter().any(|k| k == "tcp"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "udp"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "unix"), "{kinds:?}");
    drop((tcp, udp, unix));
}
