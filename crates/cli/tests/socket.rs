//! `hearth serve --listen`: the Unix socket lets its owner in (one session per connection, documents
//! kept apart) and refuses every other uid, by file mode and by SO_PEERCRED; loopback TCP wants the token.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use support::{hearth_bin, python_repo, tiny_model, Rpc, PYTHON_SOURCE};

const PEER_USER: &str = "hearth-test-peer";

/// The uid and gid of a throwaway system user, created once (needs root; CI runs as root).
fn peer_user() -> (u32, u32) {
    static PEER: OnceLock<(u32, u32)> = OnceLock::new();
    *PEER.get_or_init(|| {
        let id = |flag: &str| Command::new("id").args([flag, PEER_USER]).output().unwrap();
        if !id("-u").status.success() {
            let out = Command::new("useradd")
                .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PEER_USER])
                .output()
                .expect("useradd (needs root)");
            assert!(out.status.success(), "useradd {PEER_USER} failed (the test needs root): {}", String::from_utf8_lossy(&out.stderr));
        }
        let number = |flag| String::from_utf8(id(flag).stdout).unwrap().trim().parse::<u32>().unwrap();
        (number("-u"), number("-g"))
    })
}

/// `hearth serve --listen KIND`; returns the child, its announcement, and the file its stderr goes to.
fn listen(program: &Path, kind: &str, runtime_dir: &Path, extra: &[&str], peer: Option<(u32, u32)>) -> (Child, Value, PathBuf) {
    let stderr_path = runtime_dir.with_extension("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut command = match peer {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.args([format!("--reuid={uid}"), format!("--regid={gid}"), "--clear-groups".into()]).arg(program);
            c
        }
        None => Command::new(program),
    };
    let model = tiny_model();
    command
        .args(["serve", "--listen", kind, "--no-index", "--model", &model])
        .args(extra)
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .env("HOME", runtime_dir)
        .env("HEARTH_CONFIG", runtime_dir.join("none.toml"))
        .env("RUST_LOG", "info")
        .env_remove("HEARTH_MODEL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    let mut child = command.spawn().expect("starting hearth serve --listen");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let announcement: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
        let _ = child.kill();
        panic!("no announcement ({e}): {line:?}; stderr: {}", std::fs::read_to_string(&stderr_path).unwrap_or_default())
    });
    (child, announcement, stderr_path)
}

/// A directory with the given mode, owned by `owner` when given.
fn dir(path: PathBuf, mode: u32, owner: Option<(u32, u32)>) -> PathBuf {
    std::fs::create_dir_all(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
    }
    path
}

fn unix_rpc(path: &str) -> Rpc {
    let stream = UnixStream::connect(path).unwrap_or_else(|e| panic!("connecting to {path}: {e}"));
    Rpc::new(stream.try_clone().unwrap(), stream)
}

/// Sends `initialize` on a raw stream and says whether a response came before the server hung up.
fn answered(mut stream: impl Read + Write) -> bool {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}).to_string();
    if stream.write_all(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).is_err() {
        return false;
    }
    let mut reply = Vec::new();
    let mut buf = [0; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&reply).contains("\"capabilities\"") {
            return true;
        }
    }
    false
}

/// Not a test by itself: run as another user by `another_uid_is_refused`, it tries the socket in
/// `HEARTH_PROBE_SOCKET` and prints `PROBE: answered` or `PROBE: refused (...)`.
#[test]
#[ignore]
fn probe_socket() {
    let Some(path) = std::env::var_os("HEARTH_PROBE_SOCKET") else { return };
    match UnixStream::connect(&path) {
        Err(e) => println!("PROBE: refused (connect: {e})"),
        Ok(stream) => {
            stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            match answered(stream) {
                true => println!("PROBE: answered"),
                false => println!("PROBE: refused (closed without an answer)"),
            }
        }
    }
}

/// Runs [`probe_socket`] from a world-readable copy of this test binary as `uid`.
fn probe_as(exe: &Path, (uid, gid): (u32, u32), socket: &str) -> String {
    let out = Command::new("setpriv")
        .args([format!("--reuid={uid}"), format!("--regid={gid}"), "--clear-groups".into()])
        .arg(exe)
        .args(["probe_socket", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("HEARTH_PROBE_SOCKET", socket)
        .output()
        .expect("setpriv (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.split_once("PROBE: ").map(|(_, verdict)| verdict.to_string()))
        .unwrap_or_else(|| panic!("the probe printed no verdict: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// Copies a binary where any user can run it (the build directory may sit in root's home).
fn world_executable(src: &Path, dir: &Path) -> PathBuf {
    let dst = dir.join(src.file_name().unwrap());
    std::fs::copy(src, &dst).unwrap();
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
    dst
}

#[test]
fn owner_connects_with_one_session_per_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let run = dir(tmp.path().join("run"), 0o700, None);
    let (mut server, announced, stderr) = listen(Path::new(hearth_bin()), "unix", &run, &[], None);
    let path = announced["path"].as_str().unwrap().to_string();
    assert_eq!(Path::new(&path), run.join("hearth/hearth.sock"), "{announced}");
    assert_eq!(std::fs::metadata(run.join("hearth")).unwrap().mode() & 0o777, 0o700);
    assert_eq!(std::fs::symlink_metadata(&path).unwrap().mode() & 0o777, 0o600);

    let repo = python_repo(PYTHON_SOURCE);
    let uri = format!("file://{}/main.py", repo.path().display());
    let mut a = unix_rpc(&path);
    let mut b = unix_rpc(&path);
    a.start(repo.path(), json!({"debounceMs": 0}));
    b.start(repo.path(), json!({"debounceMs": 0}));
    a.open(&uri, "python", PYTHON_SOURCE);
    let items: usize =
        [(6, 14), (7, 4), (13, 11)].into_iter().map(|(l, c)| a.inline_completion(&uri, l, c)["items"].as_array().map_or(0, Vec::len)).sum();
    assert!(items > 0, "no completion over the Unix socket");
    // B never opened the document: its session does not see A's.
    let id = b.request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": uri}, "position": {"line": 7, "character": 4}, "context": {"triggerKind": 1}}),
    );
    let response = b.response(id, Duration::from_secs(60));
    assert_eq!(response["error"]["code"], -32602, "{response}");
    assert!(response["error"]["message"].as_str().unwrap().contains("unknown document"), "{response}");

    a.shutdown();
    b.shutdown();
    // The daemon outlives its sessions.
    let mut c = unix_rpc(&path);
    c.start(repo.path(), json!({}));
    c.shutdown();
    server.kill().unwrap();
    server.wait().unwrap();
    let log = std::fs::read_to_string(stderr).unwrap();
    assert!(!log.contains("refused"), "{log}");
}

#[test]
fn another_uid_is_refused() {
    let peer = peer_user();
    let tmp = tempfile::tempdir().unwrap();
    let bin = dir(tmp.path().join("bin"), 0o755, None);
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let probe_exe = world_executable(&std::env::current_exe().unwrap(), &bin);

    // Root's server: the peer cannot even connect (0700 directory, 0600 socket).
    let run = dir(tmp.path().join("run"), 0o700, None);
    let (mut server, announced, _) = listen(Path::new(hearth_bin()), "unix", &run, &[], None);
    let path = announced["path"].as_str().unwrap();
    let verdict = probe_as(&probe_exe, peer, path);
    assert!(verdict.starts_with("refused"), "uid {} got in: {verdict}", peer.0);
    assert!(answered(UnixStream::connect(path).unwrap()), "the owner was not answered");
    server.kill().unwrap();
    server.wait().unwrap();

    // The peer's server: root passes the file modes, so SO_PEERCRED is what refuses it.
    let hearth = world_executable(Path::new(hearth_bin()), &bin);
    let peer_run = dir(tmp.path().join("peer-run"), 0o700, Some(peer));
    let (mut server, announced, stderr) = listen(&hearth, "unix", &peer_run, &[], Some(peer));
    let path = announced["path"].as_str().unwrap();
    let stream = UnixStream::connect(path).expect("root passes the file modes");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert!(!answered(stream), "uid 0 was served by uid {}'s daemon", peer.0);
    assert_eq!(probe_as(&probe_exe, peer, path), "answered", "the owner was refused");
    server.kill().unwrap();
    server.wait().unwrap();
    let log = std::fs::read_to_string(stderr).unwrap();
    assert!(log.contains(&format!("refused a connection from uid 0: only uid {} may use this socket", peer.0)), "{log}");
}

#[test]
fn tcp_listens_on_loopback_and_wants_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let run = dir(tmp.path().join("run"), 0o700, None);
    let (mut server, announced, stderr) = listen(Path::new(hearth_bin()), "tcp", &run, &[], None);
    let address = announced["address"].as_str().unwrap();
    assert!(address.starts_with("127.0.0.1:"), "{announced}");
    let token_file = announced["tokenFile"].as_str().unwrap();
    assert_eq!(std::fs::metadata(token_file).unwrap().mode() & 0o777, 0o600);
    let token = std::fs::read_to_string(token_file).unwrap();
    assert_eq!(token.len(), 32, "{token}");

    let connect = |first_line: &str| {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.write_all(first_line.as_bytes()).unwrap();
        answered(stream)
    };
    assert!(!connect(""), "served without a token");
    assert!(!connect("0123456789abcdef0123456789abcdef\n"), "served with a wrong token");
    assert!(connect(&format!("{token}\n")), "not served with the right token");
    server.kill().unwrap();
    server.wait().unwrap();
    let log = std::fs::read_to_string(stderr).unwrap();
    assert!(log.contains("WARNING: listening on TCP 127.0.0.1:"), "{log}");
    assert_eq!(log.matches("missing or wrong token").count(), 2, "{log}");
}
