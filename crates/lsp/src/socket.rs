//! Socket transports for `hearth serve --listen`: a Unix socket only its owner can use (0700 directory,
//! 0600 socket, peer uid checked with SO_PEERCRED), or, when asked explicitly, loopback TCP guarded by
//! a random token the client sends as its first line.
//!
//! Each connection is its own LSP session (`crate::serve`): its own documents, settings, model handle and
//! index. What the sessions share is the process: the options they start from and the indexer. The
//! model is loaded per session, so memory is paid per connected editor.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, UnixListener, UnixStream};

use crate::{ContextFactory, ServerOptions};

/// How long a TCP client has to send its token.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where `--listen unix` puts its socket: `$XDG_RUNTIME_DIR/hearth/hearth.sock`, else
/// `/tmp/hearth-UID/hearth.sock`.
pub fn default_socket_path() -> PathBuf {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(runtime) => PathBuf::from(runtime).join("hearth"),
        None => std::env::temp_dir().join(format!("hearth-{}", rustix::process::geteuid().as_raw())),
    };
    dir.join("hearth.sock")
}

/// Creates `dir` with mode 0700, or checks that an existing one is ours and closed to others.
fn private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).recursive(false).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let me = rustix::process::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} must be a directory owned by uid {me} with mode 0700 (it is uid {}, mode {:o})",
                dir.display(),
                meta.uid(),
                meta.mode() & 0o777
            ),
        ));
    }
    Ok(())
}

/// A listening Unix socket at `path` (default [`default_socket_path`]), mode 0600 in a 0700 directory.
pub fn bind_unix(path: Option<PathBuf>) -> io::Result<(UnixListener, PathBuf)> {
    let path = path.unwrap_or_else(default_socket_path);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    private_dir(dir)?;
    match std::os::unix::net::UnixStream::connect(&path) {
        Ok(_) => return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("another server is listening on {}", path.display()))),
        Err(_) if path.exists() => std::fs::remove_file(&path)?, // left by a server that died
        Err(_) => {}
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok((listener, path))
}

/// Accepts connections forever; a peer whose uid is not ours is logged and dropped unanswered.
pub async fn serve_unix(listener: UnixListener, options: ServerOptions, context: Option<ContextFactory>) -> io::Result<()> {
    let me = rustix::process::geteuid().as_raw();
    loop {
        let (stream, _) = listener.accept().await?;
        match peer_uid(&stream) {
            Ok(uid) if uid == me => {}
            Ok(uid) => {
                tracing::warn!("refused a connection from uid {uid}: only uid {me} may use this socket");
                continue;
            }
            Err(e) => {
                tracing::warn!("refused a connection whose peer credentials are unreadable: {e}");
                continue;
            }
        }
        let (options, context) = (options.clone(), context.clone());
        tokio::spawn(async move {
            let (read, write) = stream.into_split();
            let code = crate::serve(read, write, options, context).await;
            tracing::info!("session on the Unix socket ended (exit code {code})");
        });
    }
}

fn peer_uid(stream: &UnixStream) -> io::Result<u32> {
    Ok(stream.peer_cred()?.uid())
}

/// A loopback TCP listener on `port` (0: any free port) and a fresh random token (32 hex digits).
pub async fn bind_tcp(port: u16) -> io::Result<(TcpListener, String)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let token = format!("{:032x}", rand::random::<u128>());
    Ok((listener, token))
}

/// Writes `token` to `tcp-PORT.token` (mode 0600) in the private directory beside the default socket.
pub fn write_token_file(port: u16, token: &str) -> io::Result<PathBuf> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = default_socket_path().parent().expect("the socket path has a directory").to_path_buf();
    private_dir(&dir)?;
    let path = dir.join(format!("tcp-{port}.token"));
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    file.write_all(token.as_bytes())?;
    Ok(path)
}

/// Accepts loopback connections forever; each must send `token` and a newline before any LSP message.
pub async fn serve_tcp(listener: TcpListener, token: String, options: ServerOptions, context: Option<ContextFactory>) -> io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        if !peer.ip().is_loopback() {
            tracing::warn!("refused a connection from {peer}: not loopback");
            continue;
        }
        let (token, options, context) = (token.clone(), options.clone(), context.clone());
        tokio::spawn(async move {
            let (read, write) = stream.into_split();
            let mut read = BufReader::new(read);
            let mut line = Vec::new();
            let got = tokio::time::timeout(TOKEN_TIMEOUT, (&mut read).take(256).read_until(b'\n', &mut line)).await;
            if !matches!(got, Ok(Ok(_))) || !same_token(line.trim_ascii(), token.as_bytes()) {
                tracing::warn!("refused a TCP connection from {peer}: missing or wrong token");
                return;
            }
            let code = crate::serve(read, write, options, context).await;
            tracing::info!("TCP session from {peer} ended (exit code {code})");
        });
    }
}

/// Compares in time independent of where the first difference is.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"abc", b"abc"));
        assert!(!same_token(b"abd", b"abc"));
        assert!(!same_token(b"ab", b"abc"));
        assert!(!same_token(b"", b"abc"));
    }

    #[test]
    fn the_socket_directory_is_private() {
        let tmp = std::env::temp_dir().join(format!("hearth-socket-test-{}", std::process::id()));
        let path = tmp.join("run/hearth.sock");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (_listener, bound) = rt.block_on(async { bind_unix(Some(path.clone())) }).unwrap();
        assert_eq!(bound, path);
        assert_eq!(std::fs::metadata(tmp.join("run")).unwrap().mode() & 0o777, 0o700);
        assert_eq!(std::fs::symlink_metadata(&path).unwrap().mode() & 0o777, 0o600);
        // A second server on the same path is refused rather than stealing the socket.
        let again = rt.block_on(async { bind_unix(Some(path.clone())) });
        assert_eq!(again.unwrap_err().kind(), io::ErrorKind::AddrInUse);
        // A directory others can enter is refused.
        let open = tmp.join("open");
        std::fs::create_dir_all(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = rt.block_on(async { bind_unix(Some(open.join("hearth.sock"))) }).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
