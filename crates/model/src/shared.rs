//! Models shared by everything in one process that loads them (`hearth serve --listen`: one
//! session per editor connection). Weights and tokenizer are loaded once per (model, device) and held
//! weakly here, so they are freed when the last holder drops them; each holder still builds its own
//! KV caches.

use std::sync::{Arc, Mutex, Weak};

use crate::{DeviceChoice, LoadedModel, ModelInfo, Tokenizer, Transformer};

struct Entry {
    spec: String,
    device: DeviceChoice,
    model: Weak<Transformer>,
    tokenizer: Weak<Tokenizer>,
    info: ModelInfo,
    warning: Option<String>,
}

/// Loaded models by (spec, device); the lock is held while loading, so two sessions asking for the
/// same model at once load it once.
static MODELS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// The model `spec` on `device`: shared with whatever else in the process holds it, else loaded.
pub fn load_shared(spec: &str, device: DeviceChoice) -> crate::Result<LoadedModel> {
    let mut models = MODELS.lock().unwrap_or_else(|e| e.into_inner());
    models.retain(|e| e.model.strong_count() > 0);
    if let Some(e) = models.iter().find(|e| e.spec == spec && e.device == device) {
        if let (Some(model), Some(tokenizer)) = (e.model.upgrade(), e.tokenizer.upgrade()) {
            tracing::info!("sharing the loaded model {spec} with another session");
            return Ok(LoadedModel { model, tokenizer, info: e.info.clone(), warning: e.warning.clone() });
        }
    }
    let loaded = crate::load(spec, device)?;
    models.retain(|e| !(e.spec == spec && e.device == device));
    models.push(Entry {
        spec: spec.to_string(),
        device,
        model: Arc::downgrade(&loaded.model),
        tokenizer: Arc::downgrade(&loaded.tokenizer),
        info: loaded.info.clone(),
        warning: loaded.warning.clone(),
    });
    Ok(loaded)
}
