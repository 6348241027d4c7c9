//! `x · Wᵀ` for the K-quant formats (Q4_K, Q5_K, Q6_K), reading the weights' 256-value
//! super-blocks where they lie in the mapped file: no copy of the weights is kept.
//!
//! The activations are quantized as ggml's Q8_K (one `f32` scale per 256 values), so the integer
//! dot products are llama.cpp's. A super-block's scales (and Q4_K's and Q5_K's minimums) are
//! decoded once per weight row; each pair of 32-value blocks is unpacked in registers and
//! multiplied against up to [`COLS`] activation rows. Two forms, chosen at run time:
//! - AVX-512 VNNI: Q4_K/Q5_K through `maddubs` and `vpdpwssd`, Q6_K through `vpdpbusd`. Decode
//!   steps and every verification window (up to 31 rows) run it, so a window rounds as decode steps
//!   do; longer prompts go to `kquant_wide.rs`.
//! - AVX2 (as ggml's AVX2 dot products): `maddubs`, then `madd` by each block's scale. Decode
//!   steps and windows run it; longer prompts go to `kquant_wide.rs`'s AVX2 form, which sums
//!   alike.

use crate::qgemm::{quantize_k, Format, Quantized, BLOCK, COLS, LANES, SUPER};

/// Weight rows per tile: 2 rows × [`COLS`] activation rows of `i32` sums and their `f32` totals.
const ROWS: usize = 2;

/// `y = x · wᵀ` (`x` `[m, k]`, `w` `n` rows of `k / 256` super-blocks in a K-quant `format`,
/// `y` `[m, n]`). The caller checked that the CPU has the kernels (`k_quants_available`) and that
/// `k` is a multiple of 256.
pub(crate) fn matmul_t(x: &[f32], m: usize, w: &[u8], format: Format, n: usize, k: usize) -> Vec<f32> {
    matmul_t_on(crate::qgemm::k_quants_vnni(), x, m, w, format, n, k)
}

/// [`matmul_t`] in the AVX-512 VNNI form (`vnni`, which the CPU must have) or the AVX2 one.
fn matmul_t_on(vnni: bool, x: &[f32], m: usize, w: &[u8], format: Format, n: usize, k: usize) -> Vec<f32> {
    let a = quantize_k(x);
    let blocks = k / BLOCK;
    let (x_sums, x_sums16) = activation_sums(&a, format == Format::Q6K && !vnni);
    let mut y = vec![0f32; m * n];
    let out = y.as_mut_ptr() as usize;
    let row_bytes = k / SUPER * format.block_bytes();
    let work = |range: std::ops::Range<usize>| {
        for tile in range {
            let first = tile * ROWS;
            let rows = ROWS.min(n - first);
            // Rows past `n` in the last tile repeat its last row: their sums are dropped.
            let ptrs: [*const u8; ROWS] = std::array::from_fn(|r| w[(first + r.min(rows - 1)) * row_bytes..].as_ptr());
            let mut j = 0;
            while j < m {
                let cols = COLS.min(m - j);
                let mut sums = [[0f32; COLS]; ROWS];
                let tile = Tile { w: ptrs, format, k, blocks, a: &a, x_sums: &x_sums, x_sums16: &x_sums16, j };
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the caller checked AVX2 (and AVX-512 VNNI for `vnni`); every pointer
                // starts a row of `k / 256` super-blocks in `format`, and `a` holds `m` rows of `k` values.
                unsafe {
                    match cols {
                        4 => run::<4>(vnni, &tile, &mut sums),
                        3 => run::<3>(vnni, &tile, &mut sums),
                        2 => run::<2>(vnni, &tile, &mut sums),
                        _ => run::<1>(vnni, &tile, &mut sums),
                    }
                };
                for (r, row_sums) in sums.iter().enumerate().take(rows) {
                    for (c, &s) in row_sums.iter().enumerate().take(cols) {
                        // SAFETY: inside `y`; the tiles of one call write disjoint columns.
                        unsafe { *(out as *mut f32).add((j + c) * n + first + r) = s };
                    }
                }
                j += cols;
            }
        }
    };
    candle_core::utils::barrier_pool().execute_chunked(n.div_ceil(ROWS), work);
    y
}

/// Per activation row: per 32-value block the sum of its values times the row's scale (what
/// Q4_K's and Q5_K's minimums multiply), and with `sixteens` per 16 values their `i16` sum (what
/// the AVX2 form takes Q6_K's 32 off with).
pub(crate) fn activation_sums(a: &Quantized, sixteens: bool) -> (Vec<f32>, Vec<i16>) {
    let sums = a.corr.chunks_exact(LANES).zip(&a.d).map(|(c, d)| c.iter().sum::<i32>() as f32 / -128.0 * d).collect();
    let sums16 = if sixteens { a.corr.chunks_exact(4).map(|c| (c.iter().sum::<i32>() / -128) as i16).collect() } else { Vec::new() };
    (sums, sums16)
}

/// One tile against `C` activation rows, in the form and format asked for.
#[cfg(target_arch = "x86_64")]
unsafe fn run<const C: usize>(vnni: bool, t: &Tile, sums: &mut [[f32; COLS]; ROWS]) {
    match (vnni, t.format) {
        (true, Format::Q4K) => x86::run_with_mins::<C, 4>(t, sums),
        (true, Format::Q5K) => x86::run_with_mins::<C, 5>(t, sums),
        (true, _) => x86::run_q6k::<C>(t, sums),
        (false, Format::Q4K) => avx2::run_with_mins::<C, 4>(t, sums),
        (false, Format::Q5K) => avx2::run_with_mins::<C, 5>(t, sums),
        (false, _) => avx2::run_q6k::<C>(t, sums),
    }
}

/// A tile: [`ROWS`] weight rows against activation rows `j..`.
struct Tile<'a> {
    w: [*const u8; ROWS],
    format: Format,
    k: usize,
    blocks: usize,
    a: &'a Quantized,
    x_sums: &'a [f32],
    /// Per activation row and 16 values, their sum (the AVX2 Q6_K form's `Σx`).
    x_sums16: &'a [i16],
    j: usize,
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{halves, pair_values, prefetch_ahead, scales_and_mins};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Format, Tile, BLOCK, COLS, LANES, ROWS, SUPER};
    use crate::qgemm::{f16_at, hsum};
    use std::arch::x86_64::*;

    /// How far ahead of the super-block being multiplied each weight row is fetched. A decode step
    /// streams the weights once; rows are short (864 bytes at `k = 1536` in Q4_K) and the hardware
    /// prefetchers alone left the kernels waiting on memory (1.5B Q4_K: 27% slower with none, and on
    /// Zen 3 1.3-1.5× slower at 4 super-blocks than at about 2.5 KB).
    const PREFETCH_BYTES: usize = 2560;

    /// Asks for the cache lines of the `bytes` bytes [`PREFETCH_BYTES`] past `at`, a super-block of
    /// the tile, on its first pass: the first pass streams the tile, later ones find it in cache.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn prefetch(t: &Tile, at: *const u8, bytes: usize) {
        if t.j == 0 {
            prefetch_ahead(at, bytes);
        }
    }

    /// Asks for the cache lines of the `bytes` bytes [`PREFETCH_BYTES`] past `at` (a hint: past the
    /// weights it reads nothing).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn prefetch_ahead(at: *const u8, bytes: usize) {
        let at = at.wrapping_add(PREFETCH_BYTES);
        for line in (0..bytes).step_by(64) {
            _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(line) as *const i8);
        }
    }

    /// A Q6_K super-block's scales as `f32`: `d · sc` for its 16 groups of 16 values.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    unsafe fn q6_scales(sb: *const u8) -> __m512 {
        let d = f16_at(sb.add(208));
        let sc = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(sb.add(192) as *const __m128i)));
        _mm512_mul_ps(sc, _mm512_set1_ps(d))
    }

    /// Pair `p` of a K-quant super-block at `sb`: its 64 values as [`pair`] gives them.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    pub(crate) unsafe fn pair_values(format: Format, sb: *const u8, p: usize) -> __m512i {
        match format {
            Format::Q4K => pair::<4>(sb, p),
            Format::Q5K => pair::<5>(sb, p),
            _ => pair::<6>(sb, p),
        }
    }

    /// Pair `p` (values `64p..64p + 64`) of a super-block as unsigned bytes: Q4_K's and Q5_K's
    /// values as they are, Q6_K's as `q - 32 + 128`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    unsafe fn pair<const BITS: u8>(sb: *const u8, p: usize) -> __m512i {
        let (mut lo, mut hi) = halves::<BITS>(sb, p);
        if BITS == 6 {
            let bias = _mm256_set1_epi8(96);
            (lo, hi) = (_mm256_add_epi8(lo, bias), _mm256_add_epi8(hi, bias));
        }
        _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1)
    }

    /// Blocks `2p` and `2p + 1` of a super-block, 32 unsigned values each as stored (Q6_K's
    /// `0..64`, 32 more than the value they stand for).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn halves<const BITS: u8>(sb: *const u8, p: usize) -> (__m256i, __m256i) {
        let low = _mm256_set1_epi8(0x0F);
        match BITS {
            4 | 5 => {
                let qs = sb.add(if BITS == 4 { 16 } else { 48 } + 32 * p);
                let bytes = _mm256_loadu_si256(qs as *const __m256i);
                let mut lo = _mm256_and_si256(bytes, low);
                let mut hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low);
                if BITS == 5 {
                    // Bit 2p of each byte of `qh` is the fifth bit of the low half, 2p + 1 of the high.
                    let qh = _mm256_loadu_si256(sb.add(16) as *const __m256i);
                    let one = _mm256_set1_epi8(1);
                    let bit =
                        |shift: usize| _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(shift as i32)), one), 4);
                    lo = _mm256_or_si256(lo, bit(2 * p));
                    hi = _mm256_or_si256(hi, bit(2 * p + 1));
                }
                (lo, hi)
            }
            _ => {
                // 128 values per half super-block: the low and high nibbles of 64 bytes of `ql`,
                // each with two bits of the same 32 bytes of `qh`.
                let (n, upper) = (p / 2, p % 2 == 1);
                let ql0 = _mm256_loadu_si256(sb.add(64 * n) as *const __m256i);
                let ql1 = _mm256_loadu_si256(sb.add(64 * n + 32) as *const __m256i);
                let qh = _mm256_loadu_si256(sb.add(128 + 32 * n) as *const __m256i);
                let mask = _mm256_set1_epi8(0x30);
                if upper {
                    (
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low), _mm256_and_si256(qh, mask)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low), _mm256_and_si256(_mm256_srli_epi16(qh, 2), mask)),
                    )
                } else {
                    (
                        _mm256_or_si256(_mm256_and_si256(ql0, low), _mm256_and_si256(_mm256_slli_epi16(qh, 4), mask)),
                        _mm256_or_si256(_mm256_and_si256(ql1, low), _mm256_and_si256(_mm256_slli_epi16(qh, 2), mask)),
                    )
                }
            }
        }
    }

    /// Q4_K and Q5_K, as ggml sums them: per super-block an exact `i32` sum of `sc · q · x`
    /// (`maddubs` of the unsigned values by the activations, then `vpdpwssd` by each block's
    /// 6-bit scale), times `d` and the activations' scale; less `dmin · Σ m · Σx`.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni,avx512bw")]
    #[allow(clippy::needless_range_loop)] // `acc[r][c]` reads as the tile it is
    pub(super) unsafe fn run_with_mins<const C: usize, const BITS: u8>(t: &Tile, sums: &mut [[f32; COLS]; ROWS]) {
        let mut acc = [[_mm512_setzero_ps(); C]; ROWS];
        let mut mins = [[_mm256_setzero_ps(); C]; ROWS];
        let (aq, ad) = (t.a.qs.as_ptr(), t.a.d.as_ptr());
        let bytes = t.format.block_bytes();
        for s in 0..t.k / SUPER {
            let mut sc16 = [_mm512_setzero_si512(); ROWS];
            let mut d = [0f32; ROWS];
            for r in 0..ROWS {
                let sb = t.w[r].add(s * bytes);
                prefetch(t, sb, bytes);
                let (scales, m) = scales_and_mins(sb);
                sc16[r] = _mm512_castsi128_si512(_mm_cvtepu8_epi16(scales));
                d[r] = f16_at(sb);
                let m = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(m)), _mm256_set1_ps(f16_at(sb.add(2))));
                for c in 0..C {
                    let xs = _mm256_loadu_ps(t.x_sums.as_ptr().add((t.j + c) * t.blocks + 8 * s));
                    mins[r][c] = _mm256_fmadd_ps(m, xs, mins[r][c]);
                }
            }
            let mut dots = [[_mm512_setzero_si512(); C]; ROWS];
            for p in 0..4 {
                let b = 8 * s + 2 * p;
                let x: [__m512i; C] = std::array::from_fn(|c| _mm512_loadu_si512(aq.add(((t.j + c) * t.blocks + b) * BLOCK) as *const _));
                // 16-bit lanes 0-15 take block 2p's scale, 16-31 block 2p + 1's.
                let spread = _mm512_or_si512(
                    _mm512_set1_epi16(2 * p as i16),
                    _mm512_set_epi64(
                        0x0001_0001_0001_0001,
                        0x0001_0001_0001_0001,
                        0x0001_0001_0001_0001,
                        0x0001_0001_0001_0001,
                        0,
                        0,
                        0,
                        0,
                    ),
                );
                for r in 0..ROWS {
                    let w = pair::<BITS>(t.w[r].add(s * bytes), p);
                    let scale = _mm512_permutexvar_epi16(spread, sc16[r]);
                    for c in 0..C {
                        dots[r][c] = _mm512_dpwssd_epi32(dots[r][c], _mm512_maddubs_epi16(w, x[c]), scale);
                    }
                }
            }
            for r in 0..ROWS {
                for c in 0..C {
                    // Q8_K: one activation scale for the super-block.
                    let xd = *ad.add((t.j + c) * t.blocks + 8 * s);
                    acc[r][c] = _mm512_fmadd_ps(_mm512_set1_ps(d[r] * xd), _mm512_cvtepi32_ps(dots[r][c]), acc[r][c]);
                }
            }
        }
        finish(&acc, &mins, sums);
    }

    /// `sums[r][c]`: the lanes of `acc[r][c]` added up, less those of `mins[r][c]`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f")]
    unsafe fn finish<const C: usize>(acc: &[[__m512; C]; ROWS], mins: &[[__m256; C]; ROWS], sums: &mut [[f32; COLS]; ROWS]) {
        for (r, (acc_r, mins_r)) in acc.iter().zip(mins).enumerate() {
            for (c, (a, m)) in acc_r.iter().zip(mins_r).enumerate() {
                let high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(*a), 1));
                sums[r][c] = hsum(_mm256_add_ps(_mm512_castps512_ps256(*a), high)) - hsum(*m);
            }
        }
    }

    /// ggml's unpacking of Q4_K's and Q5_K's eight 6-bit scales and minimums from 12 bytes:
    /// the scales, and the minimums, as 8 bytes each (the low half of each register).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn scales_and_mins(sb: *const u8) -> (__m128i, __m128i) {
        let mut u = [0u32; 4];
        std::ptr::copy_nonoverlapping(sb.add(4), u.as_mut_ptr() as *mut u8, 12);
        let (m6, m4, m2) = (0x3f3f_3f3fu32, 0x0f0f_0f0fu32, 0x0303_0303u32);
        u[3] = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4);
        let low_mins = u[1] & m6;
        u[1] = (u[2] & m4) | (((u[0] >> 6) & m2) << 4);
        u[2] = low_mins;
        u[0] &= m6;
        let all = _mm_loadu_si128(u.as_ptr() as *const __m128i);
        (all, _mm_srli_si128(all, 8))
    }

    /// Q6_K: `q - 32 + 128` through `vpdpbusd` started from `-128 · Σx` (the exact `w · x` of
    /// each group of 4), times each 16-value group's `d · sc` and the activations' scale.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    #[allow(clippy::needless_range_loop)] // `acc[r][c]` reads as the tile it is
    pub(super) unsafe fn run_q6k<const C: usize>(t: &Tile, sums: &mut [[f32; COLS]; ROWS]) {
        let mut acc = [[_mm512_setzero_ps(); C]; ROWS];
        let (aq, ad, corr) = (t.a.qs.as_ptr(), t.a.d.as_ptr(), t.a.corr.as_ptr());
        let bytes = t.format.block_bytes();
        for s in 0..t.k / SUPER {
            let sc: [__m512; ROWS] = std::array::from_fn(|r| q6_scales(t.w[r].add(s * bytes)));
            for r in 0..ROWS {
                prefetch(t, t.w[r].add(s * bytes), bytes);
            }
            // Q8_K: one activation scale for the super-block.
            let xd: [__m512; C] = std::array::from_fn(|c| _mm512_set1_ps(*ad.add((t.j + c) * t.blocks + 8 * s)));
            for p in 0..4 {
                let at = |c: usize| (t.j + c) * t.blocks + 8 * s + 2 * p;
                let x: [__m512i; C] = std::array::from_fn(|c| _mm512_loadu_si512(aq.add(at(c) * BLOCK) as *const _));
                let xc: [__m512i; C] = std::array::from_fn(|c| _mm512_loadu_si512(corr.add(at(c) * LANES) as *const _));
                // Each group of 16 values (4 lanes) has its own scale.
                let q = 4 * p as i32;
                let spread =
                    _mm512_set_epi32(q + 3, q + 3, q + 3, q + 3, q + 2, q + 2, q + 2, q + 2, q + 1, q + 1, q + 1, q + 1, q, q, q, q);
                for r in 0..ROWS {
                    let w = pair::<6>(t.w[r].add(s * bytes), p);
                    let wd = _mm512_permutexvar_ps(spread, sc[r]);
                    for c in 0..C {
                        let dot = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(xc[c], w, x[c]));
                        acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(wd, xd[c]), dot, acc[r][c]);
                    }
                }
            }
        }
        finish(&acc, &[[_mm256_setzero_ps(); C]; ROWS], sums);
    }
}

/// The AVX2 forms: 256-bit `maddubs` of the unsigned weight values by the activations, `madd` by
/// the block's scale, an exact `i32` sum per super-block (ggml's `vec_dot_q*_K_q8_K` for AVX2).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::x86::{halves, prefetch, scales_and_mins};
    use super::{Tile, BLOCK, COLS, ROWS, SUPER};
    use crate::qgemm::{f16_at, hsum};
    use std::arch::x86_64::*;

    /// `pshufb` control that spreads 16-bit lane `lo` of each 128-bit half over the low half and
    /// lane `hi` over the high half.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn spread(lo: usize, hi: usize) -> __m256i {
        let pick = |i: usize| (((2 * i + 1) << 8) | (2 * i)) as i16;
        _mm256_setr_m128i(_mm_set1_epi16(pick(lo)), _mm_set1_epi16(pick(hi)))
    }

    /// The AVX-512 form's sums, in 256-bit registers.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[allow(clippy::needless_range_loop)] // `acc[r][c]` reads as the tile it is
    pub(super) unsafe fn run_with_mins<const C: usize, const BITS: u8>(t: &Tile, sums: &mut [[f32; COLS]; ROWS]) {
        let mut acc = [[_mm256_setzero_ps(); C]; ROWS];
        let mut mins = [[_mm256_setzero_ps(); C]; ROWS];
        let x_row: [*const i8; C] = std::array::from_fn(|c| t.a.qs.as_ptr().add((t.j + c) * t.k));
        let bytes = t.format.block_bytes();
        for s in 0..t.k / SUPER {
            // Each row's 8 scales as 16-bit lanes, in both 128-bit halves.
            let mut sc = [_mm256_setzero_si256(); ROWS];
            let mut d = [0f32; ROWS];
            for r in 0..ROWS {
                let sb = t.w[r].add(s * bytes);
                prefetch(t, sb, bytes);
                let (scales, m) = scales_and_mins(sb);
                sc[r] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scales));
                d[r] = f16_at(sb);
                let m = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(m)), _mm256_set1_ps(f16_at(sb.add(2))));
                for c in 0..C {
                    let xs = _mm256_loadu_ps(t.x_sums.as_ptr().add((t.j + c) * t.blocks + 8 * s));
                    mins[r][c] = _mm256_fmadd_ps(m, xs, mins[r][c]);
                }
            }
            let mut dots = [[_mm256_setzero_si256(); C]; ROWS];
            for p in 0..4 {
                for r in 0..ROWS {
                    let (lo, hi) = halves::<BITS>(t.w[r].add(s * bytes), p);
                    for (h, w) in [lo, hi].into_iter().enumerate() {
                        let b = 2 * p + h;
                        let scale = _mm256_shuffle_epi8(sc[r], spread(b, b));
                        for c in 0..C {
                            let x = _mm256_loadu_si256(x_row[c].add((8 * s + b) * BLOCK) as *const __m256i);
                            dots[r][c] = _mm256_add_epi32(dots[r][c], _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), scale));
                        }
                    }
                }
            }
            for r in 0..ROWS {
                for c in 0..C {
                    // Q8_K: one activation scale for the super-block.
                    let xd = *t.a.d.as_ptr().add((t.j + c) * t.blocks + 8 * s);
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d[r] * xd), _mm256_cvtepi32_ps(dots[r][c]), acc[r][c]);
                }
            }
        }
        for r in 0..ROWS {
            for c in 0..C {
                sums[r][c] = hsum(acc[r][c]) - hsum(mins[r][c]);
            }
        }
    }

    /// Q6_K: `maddubs` of the stored values (`q + 32`), `madd` by each 16-value group's scale;
    /// the 32 comes off once per super-block, as `32 · Σ sc · Σx` over the groups.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[allow(clippy::needless_range_loop)] // `acc[r][c]` reads as the tile it is
    pub(super) unsafe fn run_q6k<const C: usize>(t: &Tile, sums: &mut [[f32; COLS]; ROWS]) {
        let mut acc = [[_mm256_setzero_ps(); C]; ROWS];
        let x_row: [*const i8; C] = std::array::from_fn(|c| t.a.qs.as_ptr().add((t.j + c) * t.k));
        let ad = t.a.d.as_ptr();
        let bytes = t.format.block_bytes();
        for s in 0..t.k / SUPER {
            // Each row's 16 scales as 16-bit lanes (`all`), and groups 0-7 in both 128-bit halves
            // of one register, 8-15 of another.
            let mut sc = [[_mm256_setzero_si256(); 2]; ROWS];
            let mut d = [0f32; ROWS];
            let mut dots = [[_mm256_setzero_si256(); C]; ROWS];
            for r in 0..ROWS {
                let sb = t.w[r].add(s * bytes);
                prefetch(t, sb, bytes);
                let raw = _mm_loadu_si128(sb.add(192) as *const __m128i);
                let all = _mm256_cvtepi8_epi16(raw);
                sc[r] = [_mm256_permute2x128_si256(all, all, 0x00), _mm256_permute2x128_si256(all, all, 0x11)];
                d[r] = f16_at(sb.add(208));
                for c in 0..C {
                    let x16 = _mm256_loadu_si256(t.x_sums16.as_ptr().add((t.j + c) * (t.k / 16) + 16 * s) as *const __m256i);
                    dots[r][c] = _mm256_slli_epi32(_mm256_madd_epi16(all, x16), 5);
                    dots[r][c] = _mm256_sub_epi32(_mm256_setzero_si256(), dots[r][c]);
                }
            }
            for p in 0..4 {
                for r in 0..ROWS {
                    let (lo, hi) = halves::<6>(t.w[r].add(s * bytes), p);
                    for (h, w) in [lo, hi].into_iter().enumerate() {
                        // Block b: groups 2b (its low 16 values) and 2b + 1.
                        let b = 2 * p + h;
                        let scale = _mm256_shuffle_epi8(sc[r][b / 4], spread(2 * b % 8, (2 * b + 1) % 8));
                        for c in 0..C {
                            let x = _mm256_loadu_si256(x_row[c].add((8 * s + b) * BLOCK) as *const __m256i);
                            dots[r][c] = _mm256_add_epi32(dots[r][c], _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), scale));
                        }
                    }
                }
            }
            for r in 0..ROWS {
                for c in 0..C {
                    let xd = *ad.add((t.j + c) * t.blocks + 8 * s);
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d[r] * xd), _mm256_cvtepi32_ps(dots[r][c]), acc[r][c]);
                }
            }
        }
        for r in 0..ROWS {
            for c in 0..C {
                sums[r][c] = hsum(acc[r][c]);
            }
        }
    }
}

/// Test data: `m` activation rows and `n` weight rows of width `k` in `dtype`, pseudo-random, rows
/// of different magnitudes and offsets so that scales and minimums all vary.
#[cfg(test)]
pub(crate) fn random_k_quant(
    dtype: candle_core::quantized::GgmlDType,
    m: usize,
    n: usize,
    k: usize,
) -> (Vec<f32>, candle_core::quantized::QTensor) {
    use candle_core::{Device, Tensor};
    let mut s = (m * 131 + n * 17 + k) as u64;
    let mut rand = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let w: Vec<f32> = (0..n * k).map(|i| rand() * (1.0 + (i / 64 % 5) as f32) + 0.3 * ((i / 32 % 3) as f32 - 1.0)).collect();
    let x: Vec<f32> = (0..m * k).map(|_| rand() * 4.0).collect();
    (x, candle_core::quantized::QTensor::quantize(&Tensor::from_vec(w, (n, k), &Device::Cpu).unwrap(), dtype).unwrap())
}

#[cfg(test)]
mod k_quants {
    use super::*;
    use crate::qgemm::{k_quants_available, k_quants_vnni};
    use candle_core::quantized::GgmlDType;
    use candle_core::Device;

    #[test]
    fn k_quants_match_candles_dequantized_weights() {
        if !k_quants_available() {
            eprintln!("no AVX2 here: K-quants go through candle, nothing to check");
            return;
        }
        let forms: &[bool] = if k_quants_vnni() { &[false, true] } else { &[false] };
        for &vnni in forms {
            for (dtype, format) in [(GgmlDType::Q4K, Format::Q4K), (GgmlDType::Q5K, Format::Q5K), (GgmlDType::Q6K, Format::Q6K)] {
                for (m, n, k) in [(1, 3, 256), (4, 4, 512), (5, 9, 512), (13, 6, 1536), (6, 37, 512)] {
                    let (x, q) = random_k_quant(dtype, m, n, k);
                    let dense: Vec<f32> = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
                    let y = matmul_t_on(vnni, &x, m, &q.data().unwrap(), format, n, k);
                    let a = quantize_k(&x);
                    for (i, r) in (0..m).flat_map(|i| (0..n).map(move |r| (i, r))) {
                        let want: f64 =
                            (0..k).map(|c| a.qs[i * k + c] as f64 * a.d[i * k / BLOCK + c / BLOCK] as f64 * dense[r * k + c] as f64).sum();
                        let got = y[i * n + r] as f64;
                        assert!(
                            (got - want).abs() <= 2e-4 * (1.0 + want.abs()),
                            "{format:?} vnni={vnni} {m}x{n}x{k} at ({i}, {r}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn both_forms_give_the_same_sums() {
        if !k_quants_vnni() {
            eprintln!("no AVX-512 VNNI here: one form only");
            return;
        }
        for (dtype, format) in [(GgmlDType::Q4K, Format::Q4K), (GgmlDType::Q5K, Format::Q5K), (GgmlDType::Q6K, Format::Q6K)] {
            let (x, q) = random_k_quant(dtype, 7, 10, 1024);
            let data = q.data().unwrap();
            let (a, b) = (matmul_t_on(false, &x, 7, &data, format, 10, 1024), matmul_t_on(true, &x, 7, &data, format, 10, 1024));
            for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{format:?} at {i}: {a} vs {b}");
            }
        }
    }
}
