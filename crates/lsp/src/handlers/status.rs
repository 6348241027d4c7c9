//! `hearth.status` (the combined model and index status, as `hearth/status` last sent it) and
//! `hearth.stats` (the completion counters benchmarks read).

use serde_json::Value;

use crate::state::Backend;

impl Backend {
    pub(crate) async fn status_command(&self) -> Value {
        serde_json::to_value(self.status.lock().await.clone()).unwrap_or_default()
    }

    pub(crate) fn stats_command(&self) -> Value {
        self.stats.to_json()
    }
}
