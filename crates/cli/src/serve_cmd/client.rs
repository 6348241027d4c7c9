//! A minimal LSP client over a child process's stdio, for replaying editor sessions against `hearth serve`.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};

type Pending = Arc<Mutex<HashMap<i64, oneshot::Sender<Value>>>>;

pub struct LspClient {
    child: Child,
    stdin: Arc<tokio::sync::Mutex<ChildStdin>>,
    pending: Pending,
    next_id: AtomicI64,
}

impl LspClient {
    /// Starts `program args..`, which must speak LSP on stdio.
    pub fn spawn(program: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<LspClient> {
        let mut command = Command::new(program);
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().with_context(|| format!("starting {}", program.display()))?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let pending: Pending = Arc::default();
        let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<Value>();
        tokio::spawn(read_loop(BufReader::new(stdout), pending.clone(), reply_tx));
        let stdin = Arc::new(tokio::sync::Mutex::new(stdin));
        // Answer the server's own requests (progress tokens, configuration) with null.
        let reply_stdin = stdin.clone();
        tokio::spawn(async move {
            while let Some(id) = reply_rx.recv().await {
                let _ = write(&reply_stdin, &json!({"jsonrpc": "2.0", "id": id, "result": null})).await;
            }
        });
        Ok(LspClient { child, stdin, pending, next_id: AtomicI64::new(1) })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends a request; the receiver gets the whole response message.
    pub async fn request(&self, method: &str, params: Value) -> anyhow::Result<(i64, oneshot::Receiver<Value>)> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let mut message = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if !params.is_null() {
            message["params"] = params;
        }
        self.send(&message).await?;
        Ok((id, rx))
    }

    /// Sends a request and waits for its result; an error response is an error.
    pub async fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let (_, rx) = self.request(method, params).await?;
        let response = rx.await.context("server closed the connection")?;
        if let Some(error) = response.get("error") {
            bail!("{method} failed: {error}");
        }
        Ok(response.get("result").cloned().unwrap_or(Value::Null))
    }

    pub async fn notify(&self, method: &str, params: Value) -> anyhow::Result<()> {
        let mut message = json!({"jsonrpc": "2.0", "method": method});
        if !params.is_null() {
            message["params"] = params;
        }
        self.send(&message).await
    }

    async fn send(&self, message: &Value) -> anyhow::Result<()> {
        write(&self.stdin, message).await
    }

    /// `shutdown`, `exit`, and the exit status.
    pub async fn shutdown(mut self) -> anyhow::Result<std::process::ExitStatus> {
        self.call("shutdown", Value::Null).await?;
        self.notify("exit", Value::Null).await?;
        Ok(tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait()).await??)
    }
}

/// Writes one framed message.
async fn write(stdin: &tokio::sync::Mutex<ChildStdin>, message: &Value) -> anyhow::Result<()> {
    let body = serde_json::to_vec(message)?;
    let mut stdin = stdin.lock().await;
    stdin.write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes()).await?;
    stdin.write_all(&body).await?;
    stdin.flush().await?;
    Ok(())
}

async fn read_loop<R: tokio::io::AsyncRead + Unpin>(mut reader: BufReader<R>, pending: Pending, replies: mpsc::UnboundedSender<Value>) {
    loop {
        let mut length = None;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length:") {
                length = v.trim().parse::<usize>().ok();
            }
        }
        let Some(length) = length else { return };
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let Ok(message) = serde_json::from_slice::<Value>(&body) else { continue };
        match (message.get("id"), message.get("method")) {
            (Some(id), None) => {
                if let Some(tx) = id.as_i64().and_then(|id| pending.lock().unwrap().remove(&id)) {
                    let _ = tx.send(message);
                }
            }
            (Some(id), Some(_)) => {
                let _ = replies.send(id.clone());
            }
            // Notifications (`hearth/status`, `$/progress`, logs): the replay does not need them.
            (None, _) => {}
        }
    }
}
