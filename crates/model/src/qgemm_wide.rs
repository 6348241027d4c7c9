//! Prompts against 32-value block weights (Q8_0, Q5_0, Q4_0) on AVX2 CPUs without VNNI: a GEMM
//! whose vector lanes are [`PANEL`] weight rows, so that one `maddubs` of a group of 4 activation
//! values, broadcast, against the panel's groups of 4 does 32 multiply-adds with no horizontal sum.
//!
//! Each panel is decoded once per call: per block, each group of 4 values of every row side by
//! side (Q5_0 and Q4_0 unpacked to bytes), then the rows' scales as `f32`. The activations are
//! `qgemm.rs`'s Q8_0, read in place. Per block the `i32` dot products are exact; they become floats
//! times the product of the two scales, one `fma` for the whole panel. So a block's dot is rounded
//! once, where the decode kernel (`qgemm.rs`) rounds its 8 partial dots apart: the sums agree to
//! float rounding, not bit for bit. Decode steps and verification windows stay on `qgemm.rs`.

use crate::qgemm::{quantize, Format, Quantized, BLOCK};

/// Weight rows per panel: one per 32-bit lane.
pub(crate) const PANEL: usize = 8;
/// Activation rows run against a panel at a time.
pub(crate) const GROUP: usize = 4;
/// Groups of 4 values in a block.
const GROUPS: usize = BLOCK / 4;
/// Bytes of one block of a decoded panel: the values, then the rows' scales as `f32`.
const PANEL_BLOCK: usize = PANEL * BLOCK + PANEL * 4;

/// `y = x · wᵀ`: `x` is `[m, k]` row-major F32, `w` is `n` rows of `k / 32` blocks in `format`
/// (not a K-quant), `y` is `[m, n]`. The caller checked AVX2, FMA and F16C, and `k % 32 == 0`.
pub(crate) fn matmul_t(x: &[f32], m: usize, w: &[u8], format: Format, n: usize, k: usize) -> Vec<f32> {
    debug_assert!(!format.is_k_quant() && k.is_multiple_of(BLOCK));
    let blocks = k / BLOCK;
    let row_bytes = blocks * format.block_bytes();
    assert_eq!(x.len(), m * k, "x is not [m, k]");
    assert_eq!(w.len(), n * row_bytes, "w is not [n, k] in {format:?}");
    let a = quantize(x);
    let mut y = vec![0f32; m * n];
    let out = y.as_mut_ptr() as usize;
    let work = |range: std::ops::Range<usize>| {
        let mut panel = vec![0u8; blocks * PANEL_BLOCK];
        // Q8_0 rows are read where they lie; Q5_0 and Q4_0 rows are unpacked to Q8_0 blocks first.
        let mut unpacked = if format == Format::Q8_0 { Vec::new() } else { vec![0u8; blocks * Q8_BLOCK] };
        for p in range {
            let first = p * PANEL;
            let rows = PANEL.min(n - first);
            for r in 0..PANEL {
                // Rows past `n` repeat the last row: their sums are dropped.
                let row = &w[(first + r.min(rows - 1)) * row_bytes..][..row_bytes];
                let q8 = if format == Format::Q8_0 {
                    row
                } else {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: the caller checked AVX2, FMA and F16C.
                    unsafe {
                        crate::qgemm::unpack_row(format, row, &mut unpacked)
                    };
                    &unpacked[..]
                };
                interleave(q8, r, &mut panel);
            }
            for_each_group(m, n, first, rows, out, |j, cols, sums| {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above; `panel` holds `blocks` decoded blocks and `a` holds `m` rows.
                unsafe {
                    match cols {
                        4 => avx2::run::<4>(&panel, &a, j, k, sums),
                        3 => avx2::run::<3>(&panel, &a, j, k, sums),
                        2 => avx2::run::<2>(&panel, &a, j, k, sums),
                        _ => avx2::run::<1>(&panel, &a, j, k, sums),
                    }
                };
            });
        }
    };
    candle_core::utils::barrier_pool().execute_chunked(n.div_ceil(PANEL), work);
    y
}

/// Runs `kernel(j, cols, sums)` for each group of up to [`GROUP`] activation rows `j..j + cols`
/// against a panel, then writes `sums[c][r]` (activation row `j + c` · the panel's row `r`) into
/// columns `first..first + rows` of `y` (`[m, n]`, at `out`); the panels of one call write
/// disjoint columns, so the pool's workers never write the same element.
pub(crate) fn for_each_group(
    m: usize,
    n: usize,
    first: usize,
    rows: usize,
    out: usize,
    mut kernel: impl FnMut(usize, usize, &mut [[f32; PANEL]; GROUP]),
) {
    let mut j = 0;
    while j < m {
        let cols = GROUP.min(m - j);
        let mut sums = [[0f32; PANEL]; GROUP];
        kernel(j, cols, &mut sums);
        for (c, row_sums) in sums.iter().enumerate().take(cols) {
            // SAFETY: inside `y` (`j + c < m`, `first + rows <= n`), and no other panel writes these columns.
            let dst = unsafe { std::slice::from_raw_parts_mut((out as *mut f32).add((j + c) * n + first), rows) };
            dst.copy_from_slice(&row_sums[..rows]);
        }
        j += cols;
    }
}

/// Bytes of a Q8_0 block: an `f16` scale, then 32 `i8` values.
const Q8_BLOCK: usize = 34;

/// Writes one weight row (Q8_0 blocks) into lane `r` of every block of `panel`.
fn interleave(q8: &[u8], r: usize, panel: &mut [u8]) {
    for (block, dst) in q8.chunks_exact(Q8_BLOCK).zip(panel.chunks_exact_mut(PANEL_BLOCK)) {
        for g in 0..GROUPS {
            dst[(g * PANEL + r) * 4..][..4].copy_from_slice(&block[2 + 4 * g..][..4]);
        }
        let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
        dst[PANEL * BLOCK + 4 * r..][..4].copy_from_slice(&d.to_le_bytes());
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Quantized, BLOCK, GROUP, GROUPS, PANEL, PANEL_BLOCK};
    use std::arch::x86_64::*;

    /// `sums[c]` = activation row `j + c` · each of the panel's rows, for `c < C`: per group of 4
    /// values, `|w| · (x with w's sign)` through `maddubs` (pairs reach at most 2 · 128 · 127),
    /// then `madd` into the block's `i32` dots.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn run<const C: usize>(panel: &[u8], a: &Quantized, j: usize, k: usize, sums: &mut [[f32; PANEL]; GROUP]) {
        let blocks = k / BLOCK;
        debug_assert!(panel.len() >= blocks * PANEL_BLOCK && a.qs.len() >= (j + C) * k);
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); C];
        let x = a.qs.as_ptr().add(j * k);
        let xd = a.d.as_ptr().add(j * blocks);
        for b in 0..blocks {
            let block = panel.as_ptr().add(b * PANEL_BLOCK);
            let mut dots = [_mm256_setzero_si256(); C];
            for g in 0..GROUPS {
                let w = _mm256_loadu_si256(block.add(g * 32) as *const __m256i);
                let w_abs = _mm256_sign_epi8(w, w);
                for (c, dot) in dots.iter_mut().enumerate() {
                    let four = (x.add(c * k + b * BLOCK + 4 * g) as *const i32).read_unaligned();
                    let pairs = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(_mm256_set1_epi32(four), w));
                    *dot = _mm256_add_epi32(*dot, _mm256_madd_epi16(pairs, ones));
                }
            }
            let wd = _mm256_loadu_ps(block.add(PANEL * BLOCK) as *const f32);
            for (c, (acc_c, dot)) in acc.iter_mut().zip(&dots).enumerate() {
                let d = _mm256_mul_ps(wd, _mm256_broadcast_ss(&*xd.add(c * blocks + b)));
                *acc_c = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(*dot), *acc_c);
            }
        }
        for (sum, v) in sums.iter_mut().zip(&acc) {
            _mm256_storeu_ps(sum.as_mut_ptr(), *v);
        }
    }
}
