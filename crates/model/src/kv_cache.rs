//! A pre-allocated key/value cache whose length can be rolled back in O(1).

use candle_core::{DType, Device, Tensor};

use crate::{ModelError, Result};

/// Keys and values for every layer, stored as `[1, kv_heads, capacity, head_dim]`.
/// Positions `0..len` are valid; writes past `len` overwrite stale entries.
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
    capacity: usize,
}

impl KvCache {
    pub fn new(layers: usize, kv_heads: usize, head_dim: usize, capacity: usize, dtype: DType, device: &Device) -> Result<Self> {
        let shape = (1, kv_heads, capacity, head_dim);
        let layers = (0..layers)
            .map(|_| Ok((Tensor::zeros(shape, dtype, device)?, Tensor::zeros(shape, dtype, device)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache { layers, len: 0, capacity })
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forget every position from `len` on. O(1): nothing is copied or freed.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub(crate) fn ensure_room(&self, new: usize) -> Result<()> {
        if self.len + new > self.capacity {
            return Err(ModelError::ContextFull { needed: self.len + new, capacity: self.capacity });
        }
        Ok(())
    }

    /// Writes `k`/`v` (`[1, kv_heads, n, head_dim]`) at the current end for `layer` and returns views
    /// over all valid positions including the new ones. Call [`KvCache::advance`] once per forward pass.
    pub(crate) fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = k.dim(2)?;
        let (kc, vc) = &self.layers[layer];
        kc.slice_set(&k.contiguous()?, 2, self.len)?;
        vc.slice_set(&v.contiguous()?, 2, self.len)?;
        Ok((kc.narrow(2, 0, self.len + n)?, vc.narrow(2, 0, self.len + n)?))
    }

    /// The whole key and value tensors of `layer`, valid up to `len` plus the positions appended
    /// in this pass.
    pub(crate) fn layer(&self, layer: usize) -> (&Tensor, &Tensor) {
        let (k, v) = &self.layers[layer];
        (k, v)
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }
}
