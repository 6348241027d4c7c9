//! The language server: tower-lsp glue between editors and hearth-assist. The only crate that knows the
//! protocol: [`from_proto`] and [`to_proto`] convert at the edge, [`server`] holds the state and handlers.

pub mod config;
mod documents;
pub mod from_proto;
pub mod status;
pub mod server;
pub mod to_proto;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use tower_lsp::jsonrpc::{Request, Response};
use tower_lsp::{ExitedError, LspService, Server};

pub use config::{ModelSource, ServerOptions, Settings};
pub use server::{Backend, ContextFactory};

/// Serves LSP on `input`/`output` (stdio for `hearth serve`) until the client sends `exit`.
pub async fn serve<I, O>(input: I, output: O, options: ServerOptions, context: Option<ContextFactory>)
where
    I: AsyncRead + Unpin,
    O: AsyncWrite,
{
    let (service, socket) = LspService::build(|client| Backend::new(client, options, context))
        .custom_method("textDocument/inlineCompletion", Backend::inline_completion)
        .finish();
    // Requests wait on the one model; a high limit keeps `didChange` from queueing behind them.
    Server::new(input, output, socket).concurrency_level(64).serve(AdvertiseInline(service)).await;
}

/// Adds `inlineCompletionProvider` to the `initialize` result, which lsp-types 0.94 cannot express.
struct AdvertiseInline<S>(S);

impl<S> tower::Service<Request> for AdvertiseInline<S>
where
    S: tower::Service<Request, Response = Option<Response>, Error = ExitedError>,
    S::Future: Send + 'static,
{
    type Response = Option<Response>;
    type Error = ExitedError;
    type Future = Pin<Box<dyn Future<Output = Result<Option<Response>, ExitedError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ExitedError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let initialize = request.method() == "initialize";
        let response = self.0.call(request);
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
