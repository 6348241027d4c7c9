//! `hearth/status` notifications and `$/progress` reports of model loading, indexing and edits. The
//! status combines the model's and the index's phases, so it never goes back from ready to indexing.

use serde::{Deserialize, Serialize};
use tower_lsp::lsp_types::notification::{Notification, Progress};
use tower_lsp::lsp_types::request::WorkDoneProgressCreate;
use tower_lsp::lsp_types::{
    NumberOrString, ProgressParams, ProgressParamsValue, WorkDoneProgress, WorkDoneProgressBegin, WorkDoneProgressCreateParams,
    WorkDoneProgressEnd, WorkDoneProgressReport,
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
    /// `HOST:PORT` of the backend that completions go to, when it is not the in-process model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// Once the model is ready: the context budget completions use.
    #[serde(rename = "contextBudget", skip_serializing_if = "Option::is_none")]
    pub context_budget: Option<ContextBudgetStatus>,
}

/// The context budget as `hearth/status` tells it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextBudgetStatus {
    pub tokens: usize,
    /// No setting names it: it follows the measured prompt speed (at most the default).
    pub auto: bool,
    /// The measured prompt speed, once a completion measured it (only when `auto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_per_second: Option<f64>,
}

/// Where the model stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelPhase {
    Loading(String),
    Ready(String),
    Failed(String),
}

/// Where the repository index stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IndexPhase {
    /// No indexer, or not started yet.
    #[default]
    Absent,
    Building {
        message: String,
        percentage: Option<u32>,
    },
    Ready,
    Failed(String),
}

/// The one status the editor shows: an error or a loading model first; then indexing until the
/// index is built; then ready. Index work on its own never turns a ready status back to indexing
/// (the model loads and the index builds at the same time, and ready waits for both).
pub fn combine(model: &ModelPhase, index: &IndexPhase) -> StatusParams {
    let status = |state, message: &str, percentage| StatusParams {
        state,
        message: Some(message.to_string()),
        percentage,
        ..StatusParams::default()
    };
    match (model, index) {
        (ModelPhase::Failed(m), _) => status(State::Error, m, None),
        (ModelPhase::Loading(m), _) => status(State::Loading, m, None),
        (ModelPhase::Ready(_), IndexPhase::Building { message, percentage }) => status(State::Indexing, message, *percentage),
        (ModelPhase::Ready(m), IndexPhase::Failed(why)) => status(State::Ready, &format!("{m}; no repository context: {why}"), None),
        (ModelPhase::Ready(m), IndexPhase::Absent | IndexPhase::Ready) => status(State::Ready, m, None),
    }
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
        Self::begin_with(client, None, supported, id, title).await
    }

    /// Like [`begin`](Self::begin), but reports on `given` when the client sent a `workDoneToken`
    /// with its request (the client created that token; none is requested).
    pub async fn begin_with(client: &Client, given: Option<NumberOrString>, supported: bool, id: &str, title: &str) -> ProgressReporter {
        let mut token = given;
        if token.is_none() && supported {
            let t = NumberOrString::String(id.to_string());
            let create = WorkDoneProgressCreateParams { token: t.clone() };
            let client = client.clone();
            // tower-lsp 0.20 panics when a client answers a request whose waiter was dropped, as a
            // cancelled handler's would be: the waiter lives in its own task (see `crate::detached`).
            let created = crate::detached(async move { client.send_request::<WorkDoneProgressCreate>(create).await.is_ok() });
            if created.await.unwrap_or(false) {
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
        self.send(WorkDoneProgress::Report(WorkDoneProgressReport { cancellable: Some(false), message: Some(message), percentage })).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn state(model: &ModelPhase, index: &IndexPhase) -> (State, Option<u32>) {
        let s = combine(model, index);
        (s.state, s.percentage)
    }

    #[test]
    fn the_status_never_goes_back_from_ready_to_indexing() {
        let loading = ModelPhase::Loading("loading m".into());
        let ready = ModelPhase::Ready("m ready".into());
        let building = |p| IndexPhase::Building { message: format!("{p}/100 files"), percentage: Some(p) };
        // The index finishes first: loading until the model is ready, then ready at once.
        let first: Vec<_> =
            [(&loading, IndexPhase::Absent), (&loading, building(40)), (&loading, IndexPhase::Ready), (&ready, IndexPhase::Ready)]
                .iter()
                .map(|(m, i)| state(m, i))
                .collect();
        assert_eq!(first, [(State::Loading, None), (State::Loading, None), (State::Loading, None), (State::Ready, None)]);
        // The model finishes first: indexing with its percentage, then ready.
        let second: Vec<_> =
            [(&loading, building(10)), (&ready, building(60)), (&ready, IndexPhase::Ready)].iter().map(|(m, i)| state(m, i)).collect();
        assert_eq!(second, [(State::Loading, None), (State::Indexing, Some(60)), (State::Ready, None)]);
    }

    #[test]
    fn errors_win_and_a_failed_index_still_leaves_the_server_ready() {
        let failed = ModelPhase::Failed("cannot load model `x`".into());
        assert_eq!(combine(&failed, &IndexPhase::Ready).state, State::Error);
        assert_eq!(combine(&failed, &IndexPhase::Ready).message.as_deref(), Some("cannot load model `x`"));
        let s = combine(&ModelPhase::Ready("m ready".into()), &IndexPhase::Failed("not a git repository".into()));
        assert_eq!(s.state, State::Ready);
        assert_eq!(s.message.as_deref(), Some("m ready; no repository context: not a git repository"));
    }
}
