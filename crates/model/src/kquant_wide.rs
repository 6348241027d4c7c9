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

use crate::qgemm::{quantize_k, Format, BLOCK, SUPER};

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

/// `y = x · wᵀ` for K-quant `w` (`n` rows of `k / 256` super-blocks), `x` `[m, k]`, on a CPU with
/// AVX-512 VNNI and BW (checked by the caller).
pub(crate) fn matmul_t(x: &[f32], m: usize, w: &[u8], format: Format, n: usize, k: usize) -> Vec<f32> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qgemm::k_quants_vnni;
    use candle_core::quantized::GgmlDType;

    #[test]
    fn prompts_match_the_decode_kernel_within_float_rounding() {
        if !k_quants_vnni() {
            eprintln!("no AVX-512 VNNI here: K-quants go through candle, nothing to check");
            return;
        }
        for (dtype, format) in [(GgmlDType::Q4K, Format::Q4K), (GgmlDType::Q5K, Format::Q5K), (GgmlDType::Q6K, Format::Q6K)] {
            // Ragged panels and tiles: rows past a panel of 16 and weight rows past a tile of 8.
            for (m, n, k) in [(32, 8, 256), (37, 13, 512), (70, 9, 1536)] {
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
