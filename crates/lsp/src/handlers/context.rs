//! `hearth.context`: what a completion at a position would get (the snippets, the prompt, and the
//! text token healing takes off), for users and tests to see.

use hearth_assist::completion::CompletionRequest;
use hearth_base::CancelToken;
use serde_json::{json, Value};
use tower_lsp::jsonrpc::Result;
use tower_lsp::lsp_types::{Position, Url};

use crate::errors::invalid_params;
use crate::from_proto;
use crate::state::{lock, Backend, ModelState};

impl Backend {
    pub(crate) fn context_command(&self, args: &[Value]) -> Result<Option<Value>> {
        #[derive(serde::Deserialize)]
        struct Args {
            uri: Url,
            position: Position,
        }
        let args: Args = args
            .first()
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| invalid_params("hearth.context takes {uri, position}"))?;
        let doc = lock(&self.docs).get(&args.uri).cloned().ok_or_else(|| invalid_params(format!("unknown document {}", args.uri)))?;
        let offset = from_proto::offset(&doc.text, &doc.index, args.position).map_err(|e| invalid_params(e.to_string()))?;
        let ModelState::Ready(completer, _) = self.model.borrow().clone() else {
            return Err(invalid_params("the model is not loaded yet"));
        };
        let path = self.relative_path(&args.uri);
        let request = CompletionRequest { text: &doc.text, offset, path: Some(&path), language: Some(&doc.language), repo_name: None };
        let options = self.effective().options;
        let (prompt, snippets) = completer.preview(&request, &options, &CancelToken::new());
        let healed = completer.healed_text(&request, &options);
        Ok(Some(json!({ "snippets": snippets, "prompt": prompt, "healed": healed })))
    }
}
