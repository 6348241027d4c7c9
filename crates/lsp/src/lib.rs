//! The language server: tower-lsp glue between editors and hearth-assist. The only crate that serves the
//! protocol (the CLI's bench client speaks it too): [`from_proto`] and [`to_proto`] convert at the edge,
//! [`server`] dispatches the protocol's methods to `handlers/`, over the state in `state.rs`.

pub mod config;
mod documents;
mod errors;
pub mod from_proto;
mod handlers;
pub mod limits;
pub mod server;
pub mod socket;
mod state;
mod stats;
pub mod status;
pub mod to_proto;
mod transport;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use tower_lsp::jsonrpc::{Request, Response};
use tower_lsp::{ExitedError, LspService, Server};

pub use config::{ModelSource, ServerOptions, Settings};
pub use state::{Backend, ContextFactory};

/// How long handlers may run on after the client closed its input.
const END_OF_INPUT_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Serves LSP on `input`/`output` (stdio for `hearth serve`) until the client sends `exit` or closes
/// the input. Returns the process exit code the protocol asks for: 0 after `shutdown`, else 1.
pub async fn serve<I, O>(input: I, output: O, options: ServerOptions, context: Option<ContextFactory>) -> i32
where
    I: AsyncRead + Unpin,
    O: AsyncWrite,
{
    let (service, socket) = LspService::build(|client| Backend::new(client, options, context))
        .custom_method("textDocument/inlineCompletion", Backend::inline_completion)
        .custom_method(handlers::agent::METHOD, Backend::agent)
        .custom_method(handlers::next_edit::METHOD, Backend::next_edit)
        .finish();
    let (filtered, sink) = tokio::io::duplex(1 << 20);
    let (server_output, merged) = tokio::io::duplex(1 << 20);
    let (replies, answers) = tokio::sync::mpsc::channel(transport::REPLY_QUEUE);
    // Requests wait on the one model; a high limit keeps `didChange` from queueing behind them.
    let lifecycle = Arc::new(Lifecycle::default());
    let service = Wrapped { inner: service, lifecycle: lifecycle.clone() };
    let server = Server::new(filtered, server_output, socket).concurrency_level(64).serve(service);
    let filter = transport::sanitize(input, sink, replies);
    // Malformed input is answered by the filter; `merge` writes its answers between the server's frames.
    let writer = transport::merge(merged, answers, Box::pin(output));
    let session = async {
        tokio::pin!(server);
        tokio::select! {
            _ = &mut server => {}
            _ = lifecycle.exit.notified() => {
                // tower-lsp would wait for more input after `exit`; give it a moment to flush instead.
                let _ = tokio::time::timeout(std::time::Duration::from_millis(100), &mut server).await;
            }
            result = filter => {
                if let Err(e) = result {
                    tracing::error!("reading the client's messages failed: {e}");
                }
                // The filter dropped its end of the pipe, so the server sees end of input. Handlers
                // still running (the first index build, a model load) may wait forever on a client
                // that is gone: give them a moment, then drop them, which cancels the build.
                if tokio::time::timeout(END_OF_INPUT_GRACE, &mut server).await.is_err() {
                    tracing::info!("the client closed the connection; stopping the work still running");
                }
            }
        }
    };
    let (_, written) = tokio::join!(session, writer);
    if let Err(e) = written {
        tracing::error!("writing to the client failed: {e}");
    }
    if lifecycle.shutdown.load(Ordering::Relaxed) {
        0
    } else {
        1
    }
}

/// Runs a future that waits for a client's answer in its own task. tower-lsp 0.20 panics (and stops
/// reading input) when an answer arrives for a request whose waiter was dropped, which is what
/// `$/cancelRequest` does to a handler: a detached waiter outlives the handler. Await the handle.
pub(crate) fn detached<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future)
}

/// Whether `shutdown` came, and a signal for `exit`.
#[derive(Default)]
struct Lifecycle {
    shutdown: AtomicBool,
    exit: tokio::sync::Notify,
}

/// `shutdown` and `exit` take no params, but many clients send `null` or `{}`, which tower-lsp
/// rejects: drop them.
fn without_params(request: Request) -> Request {
    let (method, id, _) = request.into_parts();
    let builder = Request::build(method);
    match id {
        Some(id) => builder.id(id).finish(),
        None => builder.finish(),
    }
}

/// Around tower-lsp's service: adds `inlineCompletionProvider` to the `initialize` result, which
/// lsp-types 0.94 cannot express, and notes `shutdown` and `exit` (accepting them with any params).
struct Wrapped<S> {
    inner: S,
    lifecycle: Arc<Lifecycle>,
}

impl<S> tower::Service<Request> for Wrapped<S>
where
    S: tower::Service<Request, Response = Option<Response>, Error = ExitedError>,
    S::Future: Send + 'static,
{
    type Response = Option<Response>;
    type Error = ExitedError;
    type Future = Pin<Box<dyn Future<Output = Result<Option<Response>, ExitedError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ExitedError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let initialize = request.method() == "initialize";
        let request = match request.method() {
            "shutdown" => {
                self.lifecycle.shutdown.store(true, Ordering::Relaxed);
                without_params(request)
            }
            "exit" => {
                self.lifecycle.exit.notify_one();
                without_params(request)
            }
            _ => request,
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            if !initialize {
                return Ok(response);
            }
            Ok(response.map(|r| {
                let (id, body) = r.into_parts();
                let body = body.map(|mut result| {
                    if let Some(caps) = result.get_mut("capabilities").and_then(|c| c.as_object_mut()) {
                        caps.insert("inlineCompletionProvider".into(), serde_json::json!({}));
                    }
                    result
                });
                Response::from_parts(id, body)
            }))
        })
    }
}
