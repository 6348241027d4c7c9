//! `hearth/status` notifications and `$/progress` reports of model loading and indexing.

use serde::{Deserialize, Serialize};
use tower_lsp::lsp_types::notification::{Notification, Progress};
use tower_lsp::lsp_types::request::WorkDoneProgressCreate;
use tower_lsp::lsp_types::{
    NumberOrString, ProgressParams, ProgressParamsValue, WorkDoneProgress, WorkDoneProgressBegin,
    WorkDoneProgressCreateParams, WorkDoneProgressEnd, WorkDoneProgressReport,
};
use tower_lsp::Client;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Loading,
    Indexing,
    Ready,
    Error,
}

/// The payload of `hearth/status` and of the `hearth.status` command.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct StatusParams {
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<u32>,
}

pub enum HearthStatus {}

impl Notification for HearthStatus {
    type Params = StatusParams;
    const METHOD: &'static str = "hearth/status";
}

/// A `$/progress` work-done report, sent only when the client supports them.
pub struct ProgressReporter {
    client: Client,
    token: Option<NumberOrString>,
}

impl ProgressReporter {
    /// Creates the progress token (when `supported`) and sends its begin report.
    pub async fn begin(client: &Client, supported: bool, id: &str, title: &str) -> ProgressReporter {
        let mut token = None;
        if supported {
            let t = NumberOrString::String(id.to_string());
            if client.send_request::<WorkDoneProgressCreate>(WorkDoneProgressCreateParams { token: t.clone() }).await.is_ok() {
                token = Some(t);
            }
        }
        let reporter = ProgressReporter { client: client.clone(), token };
        reporter
            .send(WorkDoneProgress::Begin(WorkDoneProgressBegin {
                title: title.to_string(),
                cancellable: Some(false),
                message: None,
                percentage: Some(0),
            }))
            .await;
        reporter
    }

    pub async fn report(&self, message: String, percentage: Option<u32>) {
        self.send(WorkDoneProgress::Report(WorkDoneProgressReport { cancellable: Some(false), message: Some(message), percentage }))
            .await;
    }

    pub async fn end(self, message: String) {
        self.send(WorkDoneProgress::End(WorkDoneProgressEnd { message: Some(message) })).await;
    }

    async fn send(&self, value: WorkDoneProgress) {
        if let Some(token) = &self.token {
            let params = ProgressParams { token: token.clone(), value: ProgressParamsValue::WorkDone(value) };
            self.client.send_notification::<Progress>(params).await;
        }
    }
}
