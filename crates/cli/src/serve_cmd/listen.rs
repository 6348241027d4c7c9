//! `hearth serve --listen unix|tcp`: binds the socket, announces where on stdout (one JSON line), and
//! hands every connection its own LSP session (see `hearth_lsp::socket` for what sessions share).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::ValueEnum;
use hearth_lsp::{socket, ContextFactory, ServerOptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Listen {
    /// A Unix socket only this user can connect to (mode 0600, peer uid checked).
    Unix,
    /// Loopback TCP; each client must first send the token from the announced token file.
    Tcp,
}

pub fn run(
    runtime: &tokio::runtime::Runtime,
    listen: Listen,
    socket_path: Option<PathBuf>,
    port: u16,
    options: ServerOptions,
    indexer: Option<ContextFactory>,
) -> anyhow::Result<()> {
    runtime.block_on(async move {
        match listen {
            Listen::Unix => {
                let (listener, path) = socket::bind_unix(socket_path.clone())
                    .with_context(|| format!("listening on {}", socket_path.unwrap_or_else(socket::default_socket_path).display()))?;
                println!("{}", serde_json::json!({"listen": "unix", "path": path}));
                eprintln!("hearth: listening on unix socket {}", path.display());
                socket::serve_unix(listener, options, indexer).await.context("accepting on the Unix socket")
            }
            Listen::Tcp => {
                let (listener, token) = socket::bind_tcp(port).await.with_context(|| format!("listening on 127.0.0.1:{port}"))?;
                let address = listener.local_addr()?;
                let token_file = socket::write_token_file(address.port(), &token).context("writing the token file")?;
                println!("{}", serde_json::json!({"listen": "tcp", "address": address.to_string(), "tokenFile": token_file}));
                eprintln!(
                    "hearth: WARNING: listening on TCP {address}; clients must send the token in {} as their first line",
                    token_file.display()
                );
                socket::serve_tcp(listener, token, options, indexer).await.context("accepting on TCP")
            }
        }
    })
}
