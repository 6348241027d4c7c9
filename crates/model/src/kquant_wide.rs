//! Prompts against K-quant weights (past the engine's verification windows): a GEMM
//! whose vector lanes are 16 activation rows, so that one `vpdpbusd` of a broadcast group of 4
//! weights against 16 rows' groups of 4 does 64 multiply-adds with no horizontal sum.
//!
//! The activations (Q8_K, as in `kquant.rs`) are interleaved once per call: per panel of 16 rows,
//! each group of 4 values of every row side by side. Each tile of [`MR`] weight rows is unpacked
//! once to one byte per value, with its scales and minimums, and runs against every panel. Per
//! sub-block (32 values; Q6_K's 16) the `i32` dot products are scaled exactly in integers; per
//! super-block the sums become floats, times each row's activation scale: Q4_K and Q5_K give
//! `d · Σ sc · dot - dmin · Σ m · Σx`, Q6_K `d · Σ sc · (dot - 32 · Σx)`.
//! Decode steps and verification windows stay on `kquant.rs` (one kernel for those row counts).
//!
//! Without AVX-512 VNNI, the AVX2 form turns the lanes around: they are 8 weight rows. A panel of
//! [`PANEL`] rows is decoded once (each group of 4 values of the 8 rows side by side, a byte per
//! value, the scales per lane), and one `maddubs` of a broadcast group of 4 activation values
//! against it does 32 multiply-adds; a block's products add up in `i16`, then one `madd` by the
//! rows' scales. Its sums agree with `kquant.rs`'s to float rounding (each super-block's `i32`
//! becomes a float once, where `kquant.rs` converts 8 partial sums).

use crate::kquant::activation_sums;
use crate::qgemm::{quantize_k, Format, Quantized, BLOCK, SUPER};
use crate::qgemm_wide::{for_each_group, GROUP, PANEL};

/// Weight rows per tile.
const MR: usize = 8;
/// Activation rows per panel: one per 32-bit lane.
const NR: usize = 16;

/// Values per sub-block: the span of one scale.
fn sub_values(format: Format) -> usize {
    if format == Format::Q6K {
        16
    } else {
        BLOCK
    }
}

/// `y = x · wᵀ` for K-quant `w` (`n` rows of `k / 256` super-blocks), `x` `[m, k]`, in the AVX-512
/// form where the CPU has VNNI and BW, else the AVX2 one (the caller checked AVX2).
pub(crate) fn matmul_t(x: &[f32], m: usize, w: &[u8], format: Format, n: usize, k: usize) -> Vec<f32> {
    if crate::qgemm::k_quants_vnni() {
        matmul_t_vnni(x, m, w, format, n, k)
    } else {
        matmul_t_avx2(x, m, w, format, n, k)
    }
}

/// The AVX-512 form.
fn matmul_t_vnni(x: &[f32], m: usize, w: &[u8], format: Format, n: usize, k: usize) -> Vec<f32> {
    debug_assert!(matches!(format, Format::Q4K | Format::Q5K | Format::Q6K));
    let a = quantize_k(x);
    let sub = sub_values(format);
    let (supers, blocks, groups) = (k / SUPER, k / sub, k / 4);
    let panels = m.div_ceil(NR);
    // Per panel: group g of every row (4 bytes each) side by side; rows past `m` are zeros.
    let mut xi = vec![0i8; panels * groups * NR * 4];
    // Per panel and super-block, each row's scale; per panel and block, each row's Σ of values.
    let mut xd = vec![0f32; panels * supers * NR];
    let mut xsum = vec![0i32; panels * blocks * NR];
    for row in 0..m {
        let (p, lane) = (row / NR, row % NR);
        let qs = &a.qs[row * k..][..k];
        for (g, four) in qs.chunks_exact(4).enumerate() {
            xi[((p * groups + g) * NR + lane) * 4..][..4].copy_from_slice(four);
        }
        for s in 0..supers {
            xd[(p * supers + s) * NR + lane] = a.d[row * (k / BLOCK) + s * (SUPER / BLOCK)];
        }
        for (b, block) in qs.chunks_exact(sub).enumerate() {
            xsum[(p * blocks + b) * NR + lane] = block.iter().map(|&v| v as i32).sum();
        }
    }
    let mut y = vec![0f32; m * n];
    let out = y.as_mut_ptr() as usize;
    let row_bytes = supers * format.block_bytes();
    let panels_in = Panels { xi: &xi, xd: &xd, xsum: &xsum, groups, supers, blocks };
    let work = |range: std::ops::Range<usize>| {
        let mut tile = Unpacked::new(k, sub);
        for t in range {
            let first = t * MR;
            let rows = MR.min(n - first);
            for r in 0..MR {
                // Rows past `n` repeat the last row: their sums are dropped.
                let row = &w[(first + r.min(rows - 1)) * row_bytes..][..row_bytes];
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the caller checked AVX-512 VNNI and BW; `row` holds `k / 256` super-blocks.
                unsafe {
                    x86::unpack(format, row, &mut tile, r)
                };
            }
            for p in 0..panels {
                let mut acc = [[0f32; NR]; MR];
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above; `p` is a panel of `panels_in`.
                unsafe {
                    x86::panel(&tile, &panels_in, p, &mut acc)
                };
                for (r, lanes) in acc.iter().enumerate().take(rows) {
                    for (lane, &v) in lanes.iter().enumerate().take(m.saturating_sub(p * NR)) {
                        // SAFETY: inside `y`; the tiles of one call write disjoint columns.
                        unsafe { *(out as *mut f32).add((p * NR + lane) * n + first + r) = v };
                    }
                }
            }
        }
    };
    candle_core::utils::barrier_pool().execute_chunked(n.div_ceil(MR), work);
    y
}

/// The interleaved activations.
struct Panels<'a> {
    xi: &'a [i8],
    xd: &'a [f32],
    xsum: &'a [i32],
    groups: usize,
    supers: usize,
    blocks: usize,
}

/// A tile of [`MR`] weight rows unpacked: one byte per value, each sub-block's scale and minimum
/// (none for Q6_K), each super-block's `d` and `dmin`.
struct Unpacked {
    q: Vec<u8>,
    scales: Vec<i32>,
    mins: Vec<i32>,
    d: Vec<f32>,
    dmin: Vec<f32>,
    k: usize,
    sub: usize,
}

impl Unpacked {
    fn new(k: usize, sub: usize) -> Unpacked {
        let (blocks, supers) = (k / sub, k / SUPER);
        Unpacked {
            q: vec![0; MR * k],
            scales: vec![0; MR * blocks],
            mins: vec![0; MR * blocks],
            d: vec![0.0; MR * supers],
            dmin: vec![0.0; MR * supers],
            k,
            sub,
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Format, Panels, Unpacked, MR, NR, SUPER};
    use crate::kquant::{halves, pair_values, scales_and_mins};
    use crate::qgemm::f16_at;
    use std::arch::x86_64::*;

    /// Weight row `r` of the tile from its super-blocks.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni,avx512bw")]
    pub(super) unsafe fn unpack(format: Format, row: &[u8], t: &mut Unpacked, r: usize) {
        let (k, blocks, supers) = (t.k, t.k / t.sub, t.k / SUPER);
        for (s, sb) in row.chunks_exact(format.block_bytes()).enumerate() {
            let b = sb.as_ptr();
            if format == Format::Q6K {
                for p in 0..4 {
                    // The stored `q + 32`: the scale's sum takes the 32.
                    let (lo, hi) = halves::<6>(b, p);
                    let values = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
                    _mm512_storeu_si512(t.q.as_mut_ptr().add(r * k + s * SUPER + 64 * p) as *mut _, values);
                }
                let scales = _mm512_cvtepi8_epi32(_mm_loadu_si128(b.add(192) as *const __m128i));
                _mm512_storeu_si512(t.scales.as_mut_ptr().add(r * blocks + 16 * s) as *mut _, scales);
                t.d[r * supers + s] = f16_at(b.add(208));
                continue;
            }
            for p in 0..4 {
                let values = pair_values(format, b, p);
                _mm512_storeu_si512(t.q.as_mut_ptr().add(r * k + s * SUPER + 64 * p) as *mut _, values);
            }
            let (scales, mins) = scales_and_mins(b);
            let at = r * blocks + 8 * s;
            _mm256_storeu_si256(t.scales.as_mut_ptr().add(at) as *mut __m256i, _mm256_cvtepu8_epi32(scales));
            _mm256_storeu_si256(t.mins.as_mut_ptr().add(at) as *mut __m256i, _mm256_cvtepu8_epi32(mins));
            t.d[r * supers + s] = f16_at(b);
            t.dmin[r * supers + s] = f16_at(b.add(2));
        }
    }

    /// `acc[r][lane]` = weight row `r` · activation row `NR · p + lane`.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni,avx512bw")]
    #[allow(clippy::needless_range_loop)] // `dots[r]` reads as the tile it is
    pub(super) unsafe fn panel(t: &Unpacked, x: &Panels, p: usize, acc: &mut [[f32; NR]; MR]) {
        let (k, blocks, supers) = (t.k, x.blocks, x.supers);
        let (per_super, per_sub) = (SUPER / t.sub, t.sub / 4);
        let six = t.sub == 16;
        let xi = x.xi.as_ptr().add(p * x.groups * NR * 4);
        let mut total = [_mm512_setzero_ps(); MR];
        for s in 0..supers {
            let mut sums = [_mm512_setzero_si512(); MR];
            let mut mins = [_mm512_setzero_si512(); MR];
            for b in per_super * s..per_super * (s + 1) {
                let mut dots = [_mm512_setzero_si512(); MR];
                for g in b * per_sub..(b + 1) * per_sub {
                    let codes = _mm512_loadu_si512(xi.add(g * NR * 4) as *const _);
                    for r in 0..MR {
                        let four = (t.q.as_ptr().add(r * k + 4 * g) as *const i32).read_unaligned();
                        dots[r] = _mm512_dpbusd_epi32(dots[r], _mm512_set1_epi32(four), codes);
                    }
                }
                let xsum = _mm512_loadu_si512(x.xsum.as_ptr().add((p * blocks + b) * NR) as *const _);
                for r in 0..MR {
                    let scale = _mm512_set1_epi32(t.scales[r * blocks + b]);
                    if six {
                        let dot = _mm512_sub_epi32(dots[r], _mm512_slli_epi32(xsum, 5));
                        sums[r] = _mm512_add_epi32(sums[r], _mm512_mullo_epi32(dot, scale));
                    } else {
                        sums[r] = _mm512_add_epi32(sums[r], _mm512_mullo_epi32(dots[r], scale));
                        mins[r] = _mm512_add_epi32(mins[r], _mm512_mullo_epi32(xsum, _mm512_set1_epi32(t.mins[r * blocks + b])));
                    }
                }
            }
            let xd = _mm512_loadu_ps(x.xd.as_ptr().add((p * supers + s) * NR));
            for r in 0..MR {
                let row = _mm512_fnmadd_ps(
                    _mm512_set1_ps(t.dmin[r * supers + s]),
                    _mm512_cvtepi32_ps(mins[r]),
                    _mm512_mul_ps(_mm512_set1_ps(t.d[r * supers + s]), _mm512_cvtepi32_ps(sums[r])),
                );
                total[r] = _mm512_fmadd_ps(row, xd, total[r]);
            }
        }
        for r in 0..MR {
            _mm512_storeu_ps(acc[r].as_mut_ptr(), total[r]);
        }
    }
}

/// The AVX2 form: panels of [`PANEL`] weight rows decoded once (one per 32-bit lane, as in
/// `qgemm_wide.rs`), each group of up to [`GROUP`] activation rows run against the whole panel.
fn matmul_t_avx2(x: &[f32], m: usize, w: &[u8], format: Format, n: usize, k: usize) -> Vec<f32> {
    let a = quantize_k(x);
    let (x_sums, x_sums16) = activation_sums(&a, format == Format::Q6K);
    let mut y = vec![0f32; m * n];
    let out = y.as_mut_ptr() as usize;
    let row_bytes = k / SUPER * format.block_bytes();
    // Rows past `n` repeat the last row: their sums are dropped.
    let row_at = |row: usize| w[row.min(n - 1) * row_bytes..].as_ptr();
    let acts = Acts { a: &a, x_sums: &x_sums, x_sums16: &x_sums16, k };
    let work = |range: std::ops::Range<usize>| {
        let mut panel = Panel::new(format, k);
        for p in range {
            let first = p * PANEL;
            let rows = PANEL.min(n - first);
            let ptrs: [*const u8; PANEL] = std::array::from_fn(|r| row_at(first + r));
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the caller checked AVX2; every pointer starts a row of `k / 256` super-blocks
            // in `format`.
            unsafe {
                avx2::decode(&ptrs, format, k, &mut panel)
            };
            for_each_group(m, n, first, rows, out, |j, cols, sums| {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above; `a` holds `m` rows of `k` values.
                unsafe {
                    match (cols, format) {
                        (4, Format::Q4K) => avx2::run::<4, 4>(&panel, &acts, j, sums),
                        (3, Format::Q4K) => avx2::run::<3, 4>(&panel, &acts, j, sums),
                        (2, Format::Q4K) => avx2::run::<2, 4>(&panel, &acts, j, sums),
                        (_, Format::Q4K) => avx2::run::<1, 4>(&panel, &acts, j, sums),
                        (4, Format::Q5K) => avx2::run::<4, 5>(&panel, &acts, j, sums),
                        (3, Format::Q5K) => avx2::run::<3, 5>(&panel, &acts, j, sums),
                        (2, Format::Q5K) => avx2::run::<2, 5>(&panel, &acts, j, sums),
                        (_, Format::Q5K) => avx2::run::<1, 5>(&panel, &acts, j, sums),
                        (4, _) => avx2::run::<4, 6>(&panel, &acts, j, sums),
                        (3, _) => avx2::run::<3, 6>(&panel, &acts, j, sums),
                        (2, _) => avx2::run::<2, 6>(&panel, &acts, j, sums),
                        _ => avx2::run::<1, 6>(&panel, &acts, j, sums),
                    }
                };
            });
        }
    };
    candle_core::utils::barrier_pool().execute_chunked(n.div_ceil(PANEL), work);
    y
}

/// The activations as the AVX2 form reads them: Q8_K values and scales, each block's `Σx` times
/// its scale, and (Q6_K) each 16 values' `Σx`.
struct Acts<'a> {
    a: &'a Quantized,
    x_sums: &'a [f32],
    x_sums16: &'a [i16],
    k: usize,
}

/// A panel of [`PANEL`] weight rows decoded for the AVX2 form. Per group of 4 values, the rows'
/// 4 bytes side by side (`q` as stored: Q6_K's is `value + 32`); per block (16 values for Q6_K,
/// else 32) each row's scale twice, as the two `i16` of its lane; per super-block each row's `d`;
/// and for Q4_K and Q5_K per block each row's `dmin · m`.
struct Panel {
    q: Vec<u8>,
    scales: Vec<i32>,
    d: Vec<f32>,
    mins: Vec<f32>,
    /// One row's values, a byte each, before they are interleaved.
    row: Vec<u8>,
}

impl Panel {
    fn new(format: Format, k: usize) -> Panel {
        let (blocks, supers, six) = (k / BLOCK, k / SUPER, format == Format::Q6K);
        Panel {
            q: vec![0; PANEL * k],
            scales: vec![0; PANEL * if six { k / 16 } else { blocks }],
            d: vec![0.0; PANEL * supers],
            mins: vec![0.0; if six { 0 } else { PANEL * blocks }],
            row: vec![0; k],
        }
    }
}

/// The AVX2 form's kernels.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Acts, Format, Panel, BLOCK, GROUP, PANEL, SUPER};
    use crate::kquant::{halves, prefetch_ahead, scales_and_mins};
    use crate::qgemm::f16_at;
    use std::arch::x86_64::*;

    /// Decodes a panel's rows (`w`, each `k / 256` super-blocks in `format`) into `u`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn decode(w: &[*const u8; PANEL], format: Format, k: usize, u: &mut Panel) {
        let (supers, bytes) = (k / SUPER, format.block_bytes());
        for (r, &row) in w.iter().enumerate() {
            for s in 0..supers {
                let sb = row.add(s * bytes);
                // The rows are too short for the hardware prefetchers, as in `kquant.rs`.
                prefetch_ahead(sb, bytes);
                let q = u.row.as_mut_ptr().add(s * SUPER);
                for p in 0..4 {
                    let (lo, hi) = match format {
                        Format::Q4K => halves::<4>(sb, p),
                        Format::Q5K => halves::<5>(sb, p),
                        _ => halves::<6>(sb, p),
                    };
                    _mm256_storeu_si256(q.add(64 * p) as *mut __m256i, lo);
                    _mm256_storeu_si256(q.add(64 * p + 32) as *mut __m256i, hi);
                }
                let twice = |scale: i32| (scale & 0xFFFF) | (scale << 16);
                if format == Format::Q6K {
                    for (b, &scale) in std::slice::from_raw_parts(sb.add(192) as *const i8, 16).iter().enumerate() {
                        u.scales[(16 * s + b) * PANEL + r] = twice(scale as i32);
                    }
                    u.d[s * PANEL + r] = f16_at(sb.add(208));
                } else {
                    let (scales, mins) = scales_and_mins(sb);
                    let (mut each, mut m) = ([0u8; 16], [0u8; 16]);
                    _mm_storeu_si128(each.as_mut_ptr() as *mut __m128i, scales);
                    _mm_storeu_si128(m.as_mut_ptr() as *mut __m128i, mins);
                    let dmin = f16_at(sb.add(2));
                    for b in 0..8 {
                        u.scales[(8 * s + b) * PANEL + r] = twice(each[b] as i32);
                        u.mins[(8 * s + b) * PANEL + r] = dmin * m[b] as f32;
                    }
                    u.d[s * PANEL + r] = f16_at(sb);
                }
            }
            for (g, four) in u.row.chunks_exact(4).enumerate() {
                u.q[(g * PANEL + r) * 4..][..4].copy_from_slice(four);
            }
        }
    }

    /// `sums[c]` = activation row `j + c` · each of the panel's rows, for `c < C`. Per group of 4
    /// values, one `maddubs` of the rows' bytes by the broadcast activations; a block's products
    /// add up in `i16` (at most 2 · 63 · 128 per group: 8 groups of Q4_K, 4 of Q5_K, 2 of Q6_K),
    /// then one `madd` by the rows' scales. Q4_K and Q5_K: per super-block `d · xd · Σ sc · q · x`,
    /// less `Σ dmin · m · Σx` over its blocks; Q6_K: `d · xd · Σ sc · ((value + 32) · x - 32 · Σx)`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn run<const C: usize, const BITS: u8>(u: &Panel, t: &Acts, j: usize, sums: &mut [[f32; PANEL]; GROUP]) {
        let k = t.k;
        let (supers, blocks) = (k / SUPER, k / BLOCK);
        // Values per scale, and groups of 4 whose products an `i16` holds.
        let (span, run) = match BITS {
            4 => (32, 8),
            5 => (32, 4),
            _ => (16, 2),
        };
        let per_super = SUPER / span;
        let mut acc = [_mm256_setzero_ps(); C];
        let mut low = [_mm256_setzero_ps(); C];
        for s in 0..supers {
            let mut dots = [_mm256_setzero_si256(); C];
            for b in per_super * s..per_super * (s + 1) {
                let scale = _mm256_loadu_si256(u.scales.as_ptr().add(b * PANEL) as *const __m256i);
                for (c, dot) in dots.iter_mut().enumerate() {
                    let x = t.a.qs.as_ptr().add((j + c) * k + b * span);
                    let q = u.q.as_ptr().add(b * span * PANEL);
                    for first in (0..span / 4).step_by(run) {
                        let mut pairs = _mm256_setzero_si256();
                        for g in first..first + run {
                            let w = _mm256_loadu_si256(q.add(32 * g) as *const __m256i);
                            let four = _mm256_set1_epi32((x.add(4 * g) as *const i32).read_unaligned());
                            pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(w, four));
                        }
                        *dot = _mm256_add_epi32(*dot, _mm256_madd_epi16(pairs, scale));
                    }
                    if BITS == 6 {
                        let sum16 = *t.x_sums16.get_unchecked((j + c) * (k / 16) + b) as u16 as i32;
                        let correction = _mm256_madd_epi16(scale, _mm256_set1_epi32(sum16));
                        *dot = _mm256_sub_epi32(*dot, _mm256_slli_epi32(correction, 5));
                    }
                }
            }
            let d = _mm256_loadu_ps(u.d.as_ptr().add(s * PANEL));
            for (c, (acc_c, dot)) in acc.iter_mut().zip(&dots).enumerate() {
                // Q8_K: one activation scale for the super-block.
                let xd = *t.a.d.get_unchecked((j + c) * blocks + 8 * s);
                *acc_c = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(xd)), _mm256_cvtepi32_ps(*dot), *acc_c);
            }
            if BITS != 6 {
                for b in 8 * s..8 * s + 8 {
                    let m = _mm256_loadu_ps(u.mins.as_ptr().add(b * PANEL));
                    for (c, low_c) in low.iter_mut().enumerate() {
                        *low_c = _mm256_fmadd_ps(m, _mm256_set1_ps(*t.x_sums.get_unchecked((j + c) * blocks + b)), *low_c);
                    }
                }
            }
        }
        for (sum, (acc_c, low_c)) in sums.iter_mut().zip(acc.iter().zip(&low)) {
            _mm256_storeu_ps(sum.as_mut_ptr(), _mm256_sub_ps(*acc_c, *low_c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qgemm::k_quants_available;
    use candle_core::quantized::GgmlDType;

    #[test]
    fn prompts_match_the_decode_kernel_within_float_rounding() {
        if !k_quants_available() {
            eprintln!("no AVX2 here: K-quants go through candle, nothing to check");
            return;
        }
        for (dtype, format) in [(GgmlDType::Q4K, Format::Q4K), (GgmlDType::Q5K, Format::Q5K), (GgmlDType::Q6K, Format::Q6K)] {
            // Ragged panels and tiles: rows past a panel of 16 and weight rows past a tile of 8.
            for (m, n, k) in [(32, 8, 256), (37, 13, 512), (70, 9, 1536), (33, 40, 512)] {
                let (x, q) = crate::kquant::random_k_quant(dtype, m, n, k);
                let data = q.data().unwrap();
                let wide = matmul_t(&x, m, &data, format, n, k);
                let narrow = crate::kquant::matmul_t(&x, m, &data, format, n, k);
                for (i, (a, b)) in wide.iter().zip(&narrow).enumerate() {
                    assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{format:?} {m}x{n}x{k} at {i}: {a} vs {b}");
                }
            }
        }
    }
}
