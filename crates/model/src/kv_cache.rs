//! A key/value cache that grows with the context in use and whose length rolls back in O(1).

use candle_core::{DType, Device, Tensor};

use crate::{ModelError, Result};

/// Positions allocated at first; the cache doubles from there, up to its capacity.
const FIRST_ALLOCATION: usize = 256;

/// Keys and values for every layer, stored as `[1, kv_heads, allocated, head_dim]` in the dtype the
/// model asked for (F16 by default on the CPU, as llama.cpp does).
/// Positions `0..len` are valid; writes past `len` overwrite stale entries. Memory follows the
/// context actually used, not the capacity: a full-size cache that is only written at its start
/// still costs a 2 MB huge page per layer and head (192 MB on the 0.5B shape).
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
    capacity: usize,
    allocated: usize,
}

impl KvCache {
    pub fn new(layers: usize, kv_heads: usize, head_dim: usize, capacity: usize, dtype: DType, device: &Device) -> Result<Self> {
        let allocated = capacity.min(FIRST_ALLOCATION);
        let shape = (1, kv_heads, allocated, head_dim);
        let layers = (0..layers)
            .map(|_| Ok((Tensor::zeros(shape, dtype, device)?, Tensor::zeros(shape, dtype, device)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache { layers, len: 0, capacity, allocated })
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most positions the cache takes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Positions allocated now: the stride between heads in the layer tensors.
    pub(crate) fn allocated(&self) -> usize {
        self.allocated
    }

    /// Forget every position from `len` on. O(1): nothing is copied or freed.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Checks that `new` more positions fit the capacity, and grows the allocation to hold them
    /// (at least doubling, so a long context is copied O(1) times per position).
    pub(crate) fn ensure_room(&mut self, new: usize) -> Result<()> {
        let needed = self.len + new;
        if needed > self.capacity {
            return Err(ModelError::ContextFull { needed, capacity: self.capacity });
        }
        if needed > self.allocated {
            let allocated = needed.max(2 * self.allocated).min(self.capacity);
            for (k, v) in &mut self.layers {
                *k = grown(k, self.len, allocated)?;
                *v = grown(v, self.len, allocated)?;
            }
            self.allocated = allocated;
        }
        Ok(())
    }

    /// Writes `k`/`v` (`[1, kv_heads, n, head_dim]`) at the current end for `layer` and returns views
    /// over all valid positions including the new ones. Call [`KvCache::advance`] once per forward pass.
    /// `k` and `v` are rounded to the cache's dtype when it is narrower (an F16 cache for F32 compute).
    pub(crate) fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = k.dim(2)?;
        let (kc, vc) = &self.layers[layer];
        kc.slice_set(&k.to_dtype(kc.dtype())?.contiguous()?, 2, self.len)?;
        vc.slice_set(&v.to_dtype(vc.dtype())?.contiguous()?, 2, self.len)?;
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

/// `t` (`[1, kv_heads, allocated, head_dim]`) in a new tensor of `allocated` positions, its first
/// `len` copied.
fn grown(t: &Tensor, len: usize, allocated: usize) -> Result<Tensor> {
    let (one, kv_heads, _, head_dim) = t.dims4()?;
    let bigger = Tensor::zeros((one, kv_heads, allocated, head_dim), t.dtype(), t.device())?;
    if len > 0 {
        bigger.slice_set(&t.narrow(2, 0, len)?.contiguous()?, 2, 0)?;
    }
    Ok(bigger)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_the_context_and_keeps_what_it_holds() {
        let (heads, dim) = (2, 4);
        // F16 caches round what they store: these values are whole numbers F16 holds exactly.
        for dtype in [DType::F32, DType::F16] {
            let mut cache = KvCache::new(1, heads, dim, 600, dtype, &Device::Cpu).unwrap();
            assert_eq!(cache.allocated(), FIRST_ALLOCATION);
            let mut written = Vec::new();
            // 100 positions at a time: past the first allocation, then past its double.
            for step in 0..6 {
                cache.ensure_room(100).unwrap();
                let values: Vec<f32> = (0..heads * 100 * dim).map(|i| ((step * 1000 + i) % 2048) as f32).collect();
                let k = Tensor::from_vec(values.clone(), (1, heads, 100, dim), &Device::Cpu).unwrap();
                let (keys, _) = cache.append(0, &k, &k.neg().unwrap()).unwrap();
                assert_eq!(keys.dtype(), dtype);
                cache.advance(100);
                written.push(k);
                let want = Tensor::cat(&written, 2).unwrap();
                let got = keys.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                assert_eq!(got, want.flatten_all().unwrap().to_vec1::<f32>().unwrap(), "{dtype:?}");
            }
            assert_eq!((cache.len(), cache.allocated()), (600, 600));
            assert!(matches!(cache.ensure_room(1), Err(ModelError::ContextFull { needed: 601, capacity: 600 })));
        }
    }
}
