//! Attention of new positions over the key/value cache on the CPU (prompts, decode steps and
//! verification windows), each position computed alone over exactly the keys it sees, so that a
//! window rounds as one-token steps do and a causal prompt computes no masked scores. The cache
//! holds F32 or F16 rows (llama.cpp's default, half the memory); F16 rows are widened as they are
//! read, or once ahead for a prompt chunk.
//!
//! candle's path runs half a dozen tensor ops per position and layer (views, a packed matmul, the
//! scale, a softmax, a second matmul, a concatenation), which cost more than the arithmetic on a
//! small model. Here one call covers a layer: the query heads that share a key/value head are
//! scored together, so each cached key and value row is read once per position.

/// The shapes of one layer's attention.
#[derive(Clone, Copy, Debug)]
pub struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// Cached key or value rows, as stored.
#[derive(Clone, Copy, Debug)]
pub enum Rows<'a> {
    F32(&'a [f32]),
    F16(&'a [half::f16]),
}

impl<'a> Rows<'a> {
    fn len(self) -> usize {
        match self {
            Rows::F32(r) => r.len(),
            Rows::F16(r) => r.len(),
        }
    }

    fn slice(self, range: std::ops::Range<usize>) -> Rows<'a> {
        match self {
            Rows::F32(r) => Rows::F32(&r[range]),
            Rows::F16(r) => Rows::F16(&r[range]),
        }
    }

    /// Row `j` of `hd` values as F32: in place, or widened into `buf`.
    #[inline(always)]
    fn row<'b>(self, j: usize, hd: usize, buf: &'b mut [f32]) -> &'b [f32]
    where
        'a: 'b,
    {
        match self {
            Rows::F32(r) => &r[j * hd..][..hd],
            Rows::F16(r) => {
                widen(&r[j * hd..][..hd], &mut buf[..hd]);
                &buf[..hd]
            }
        }
    }
}

/// Queries from which a pass widens its F16 rows once, ahead (a prompt chunk). Decode steps and
/// verification windows widen each row as they read it, in cache: for 8 queries over 2,000
/// positions widening ahead measured 3× slower, for 512 queries per row measured 15% slower.
const WIDEN_ONCE: usize = 32;

/// `dst = src` as F32 (exact), with F16C where the CPU has it.
#[inline]
fn widen(src: &[half::f16], dst: &mut [f32]) {
    debug_assert_eq!(src.len(), dst.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: F16C and AVX were just detected.
            return unsafe { widen_f16c(src, dst) };
        }
    }
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_f32();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn widen_f16c(src: &[half::f16], dst: &mut [f32]) {
    use std::arch::x86_64::*;
    let whole = src.len() / 8 * 8;
    for i in (0..whole).step_by(8) {
        let h = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
        _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
    }
    for (d, s) in dst[whole..].iter_mut().zip(&src[whole..]) {
        *d = s.to_f32();
    }
}

/// One layer's attention over its cache: keys and values `[kv_heads, capacity, head_dim]`,
/// row-major, and an optional sliding window.
#[derive(Clone, Copy)]
pub struct Layer<'a> {
    pub shape: Heads,
    pub keys: Rows<'a>,
    pub values: Rows<'a>,
    pub capacity: usize,
    pub window: Option<usize>,
    pub scale: f32,
}

impl Layer<'_> {
    /// Attention output `[n, heads * head_dim]` for `n` queries `[heads, n, head_dim]` at positions
    /// `past..past + n`. Query `i` attends to the cached positions `first..=past + i`, where
    /// `first` is 0, or the start of its window.
    pub fn attend(&self, q: &[f32], n: usize, past: usize) -> Vec<f32> {
        if let (Rows::F16(keys), Rows::F16(values), true) = (self.keys, self.values, n >= WIDEN_ONCE) {
            // Many queries read each row: widen the rows they reach once, not once per query.
            let Heads { kv_heads, head_dim: hd, .. } = self.shape;
            let first = self.window.map_or(0, |w| (past + 1).saturating_sub(w));
            let len = past + n - first;
            let widened = |rows: &[half::f16]| {
                let mut wide = vec![0f32; kv_heads * len * hd];
                for (g, out) in wide.chunks_exact_mut(len * hd).enumerate() {
                    widen(&rows[(g * self.capacity + first) * hd..][..len * hd], out);
                }
                wide
            };
            let (keys, values) = (widened(keys), widened(values));
            let layer = Layer { keys: Rows::F32(&keys), values: Rows::F32(&values), capacity: len, ..*self };
            return layer.attend(q, n, past - first);
        }
        let Heads { heads, kv_heads, head_dim: hd } = self.shape;
        assert_eq!(q.len(), heads * n * hd, "q is not [heads, n, head_dim]");
        assert!(heads.is_multiple_of(kv_heads) && past + n <= self.capacity);
        let mut out = vec![0f32; n * heads * hd];
        let items = n * kv_heads;
        let out_at = out.as_mut_ptr() as usize;
        let work = |range: std::ops::Range<usize>| {
            let rep = heads / kv_heads;
            let mut scores = Vec::new();
            let mut row = vec![0f32; hd];
            let mut qs = Vec::with_capacity(rep * hd);
            for item in range {
                let (i, g) = (balanced(item / kv_heads, n), item % kv_heads);
                let end = past + i + 1;
                let first = self.window.map_or(0, |w| end.saturating_sub(w));
                let head = g * self.capacity * hd;
                qs.clear();
                for h in g * rep..(g + 1) * rep {
                    qs.extend_from_slice(&q[(h * n + i) * hd..][..hd]);
                }
                let group = Group {
                    qs: &qs,
                    hd,
                    keys: self.keys.slice(head + first * hd..head + end * hd),
                    values: self.values.slice(head + first * hd..head + end * hd),
                    scale: self.scale,
                };
                // SAFETY: item (i, g) alone writes row i's heads g * rep..(g + 1) * rep.
                let y = unsafe { std::slice::from_raw_parts_mut((out_at as *mut f32).add(i * heads * hd + g * rep * hd), rep * hd) };
                group.run(&mut scores, &mut row, y);
            }
        };
        candle_core::utils::barrier_pool().execute_chunked(items, work);
        out
    }
}

/// The position computed `t`-th of `n`: the first and last, then the second and next to last, and
/// so on, so that the pool's contiguous shares of a causal prompt see as many keys each.
fn balanced(t: usize, n: usize) -> usize {
    if t.is_multiple_of(2) {
        t / 2
    } else {
        n - 1 - t / 2
    }
}

/// The query heads (`qs`, `[rep, hd]`) that share one key/value head, over its visible keys and
/// values (`[len, hd]`).
struct Group<'a> {
    qs: &'a [f32],
    hd: usize,
    keys: Rows<'a>,
    values: Rows<'a>,
    scale: f32,
}

impl Group<'_> {
    /// `row` is scratch for one widened F16 row (`hd` values).
    fn run(&self, scores: &mut Vec<f32>, row: &mut [f32], y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                // SAFETY: AVX2 and FMA were just detected.
                return unsafe { self.run_avx2(scores, row, y) };
            }
        }
        self.run_portable(scores, row, y)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, scores: &mut Vec<f32>, row: &mut [f32], y: &mut [f32]) {
        self.run_portable(scores, row, y)
    }

    /// Scores, softmax (summed in f32, then divided) and the weighted sum of the values.
    #[inline(always)]
    fn run_portable(&self, scores: &mut Vec<f32>, buf: &mut [f32], y: &mut [f32]) {
        let hd = self.hd;
        let (rep, len) = (self.qs.len() / hd, self.keys.len() / hd);
        scores.clear();
        scores.resize(rep * len, 0.0);
        for j in 0..len {
            let key = self.keys.row(j, hd, buf);
            for (h, q) in self.qs.chunks_exact(hd).enumerate() {
                scores[h * len + j] = dot(q, key) * self.scale;
            }
        }
        // Each head's softmax, its sum kept after the scores; then each value row, read once, is
        // added to every head in position order.
        scores.resize(rep * len + rep, 0.0);
        let (probs, sums) = scores.split_at_mut(rep * len);
        for (row, sum) in probs.chunks_exact_mut(len).zip(sums.iter_mut()) {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
            *sum = 0.0;
            for s in row.iter_mut() {
                *s = (*s - max).exp();
                *sum += *s;
            }
        }
        y.fill(0.0);
        for j in 0..len {
            let value = self.values.row(j, hd, buf);
            for (h, out) in y.chunks_exact_mut(hd).enumerate() {
                let p = probs[h * len + j] / sums[h];
                for (o, &v) in out.iter_mut().zip(value) {
                    *o = p.mul_add(v, *o);
                }
            }
        }
    }
}

/// Lanes of the dot products: independent sums the compiler keeps in vector registers.
const LANES: usize = 16;

/// Fused multiply-adds in [`LANES`] independent sums, then the lanes in order.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let whole = a.len() / LANES * LANES;
    for (xa, xb) in a[..whole].chunks_exact(LANES).zip(b[..whole].chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] = xa[l].mul_add(xb[l], acc[l]);
        }
    }
    let mut sum = acc.iter().sum::<f32>();
    for (x, z) in a[whole..].iter().zip(&b[whole..]) {
        sum = x.mul_add(*z, sum);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention by its definition, in f64.
    fn reference(layer: &Layer, q: &[f32], n: usize, past: usize) -> Vec<f64> {
        let Heads { heads, kv_heads, head_dim: hd } = layer.shape;
        let widen = |r: Rows| -> Vec<f64> {
            match r {
                Rows::F32(r) => r.iter().map(|&x| x as f64).collect(),
                Rows::F16(r) => r.iter().map(|&x| x.to_f64()).collect(),
            }
        };
        let (k, v, cap) = (widen(layer.keys), widen(layer.values), layer.capacity);
        let mut out = vec![0f64; n * heads * hd];
        for i in 0..n {
            for h in 0..heads {
                let g = h / (heads / kv_heads);
                let end = past + i + 1;
                let first = layer.window.map_or(0, |w| end.saturating_sub(w));
                let qv = &q[(h * n + i) * hd..][..hd];
                let scores: Vec<f64> = (first..end)
                    .map(|j| (0..hd).map(|d| qv[d] as f64 * k[(g * cap + j) * hd + d]).sum::<f64>() * layer.scale as f64)
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for (j, p) in (first..end).zip(&e) {
                    for d in 0..hd {
                        out[i * heads * hd + h * hd + d] += p / sum * v[(g * cap + j) * hd + d];
                    }
                }
            }
        }
        out
    }

    fn noise(seed: u64, len: usize) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn matches_the_definition_with_grouped_heads_and_windows() {
        let shape = Heads { heads: 4, kv_heads: 2, head_dim: 40 };
        let capacity = 64;
        let (keys, values) = (noise(1, 2 * capacity * 40), noise(2, 2 * capacity * 40));
        let (keys16, values16) = (half_of(&keys), half_of(&values));
        for stored in ["f32", "f16"] {
            let (keys, values) = match stored {
                "f32" => (Rows::F32(&keys), Rows::F32(&values)),
                _ => (Rows::F16(&keys16), Rows::F16(&values16)),
            };
            // Past `WIDEN_ONCE` queries, F16 rows are widened ahead.
            for (n, past, window) in
                [(1, 0, None), (1, 20, None), (5, 10, None), (7, 12, Some(4)), (3, 0, Some(2)), (40, 20, None), (33, 30, Some(9))]
            {
                let layer = Layer { shape, keys, values, capacity, window, scale: 0.3 };
                let q = noise(3 + n as u64, 4 * n * 40);
                let got = layer.attend(&q, n, past);
                let want = reference(&layer, &q, n, past);
                for (idx, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((*g as f64 - w).abs() < 1e-5, "{stored}: n {n} past {past} window {window:?} at {idx}: {g} vs {w}");
                }
            }
        }
    }

    fn half_of(x: &[f32]) -> Vec<half::f16> {
        x.iter().map(|&v| half::f16::from_f32(v)).collect()
    }

    #[test]
    fn balanced_order_covers_every_position_once() {
        for n in [1, 2, 7, 8] {
            let mut seen: Vec<usize> = (0..n).map(|t| balanced(t, n)).collect();
            seen.sort();
            assert_eq!(seen, (0..n).collect::<Vec<_>>());
        }
        assert_eq!((0..5).map(|t| balanced(t, 5)).collect::<Vec<_>>(), [0, 4, 1, 3, 2]);
    }

    #[test]
    fn each_position_rounds_as_it_would_alone() {
        let shape = Heads { heads: 4, kv_heads: 1, head_dim: 64 };
        let capacity = 80;
        let (keys, values) = (noise(5, capacity * 64), noise(6, capacity * 64));
        let (keys16, values16) = (half_of(&keys), half_of(&values));
        for (stored, keys, values) in [("f32", Rows::F32(&keys), Rows::F32(&values)), ("f16", Rows::F16(&keys16), Rows::F16(&values16))] {
            let layer = Layer { shape, keys, values, capacity, window: Some(16), scale: 0.125 };
            // A window read row by row, and a chunk whose F16 rows are widened ahead.
            for n in [9, 40] {
                let q = noise(7, 4 * n * 64);
                let window = layer.attend(&q, n, 30);
                for i in 0..n {
                    let qi: Vec<f32> = (0..4).flat_map(|h| q[(h * n + i) * 64..][..64].to_vec()).collect();
                    let alone = layer.attend(&qi, 1, 30 + i);
                    assert_eq!(&window[i * 256..(i + 1) * 256], &alone[..], "{stored}, {n} queries: position {i}");
                }
            }
        }
    }
}
