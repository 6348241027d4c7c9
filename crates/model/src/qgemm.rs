//! `x · Wᵀ` on the CPU for weights in the 32-value block formats (Q8_0, Q5_0, Q4_0): the
//! activations are quantized to Q8_0 once per call, then an integer GEMM runs over tiles of
//! weight rows × activation rows, with AVX2 or AVX-512 VNNI kernels chosen at run time.
//!
//! candle multiplies these formats one activation row at a time (its tiled kernels need inputs
//! that are a multiple of 256, which Gemma 3's width of 640 is not), and only with the SIMD
//! features the binary was compiled for. Here every kernel reads Q8_0 blocks: Q8_0 weights where
//! they lie in the file (a decode step streams them once, with no copy), other formats unpacked to
//! Q8_0 once per tile of [`ROWS`] weight rows and used against every activation row, [`ROWS`] ×
//! [`COLS`] dot products at a time. The arithmetic is ggml's up to the order of the float sums:
//! per block, an exact `i32` dot of the quantized values times the product of the two `f16`
//! scales. Every row count runs the same kernel, so a verification window rounds as decode steps do;
//! prompts of 32 rows and more on CPUs without VNNI go to `qgemm_wide.rs` instead.
//!
//! The K-quants (AVX-512 VNNI only) have their own kernels, in `kquant.rs` and `kquant_wide.rs`;
//! this module gives them their format, the Q8_K quantizer and the CPU check.

use half::f16;

/// Values per block, in every format here.
pub(crate) const BLOCK: usize = 32;

/// A weight format this module multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Q8_0,
    Q5_0,
    Q4_0,
    Q4K,
    Q5K,
    Q6K,
}

/// Values per K-quant super-block.
pub(crate) const SUPER: usize = 256;

impl Format {
    /// Bytes of one block (32 values, or a 256-value super-block for the K-quants), as in GGUF.
    pub fn block_bytes(self) -> usize {
        match self {
            Format::Q8_0 => 34,
            Format::Q5_0 => 22,
            Format::Q4_0 => 18,
            Format::Q4K => 144,
            Format::Q5K => 176,
            Format::Q6K => 210,
        }
    }

    /// Whether this is a K-quant (256-value super-blocks, `kquant.rs`).
    pub(crate) fn is_k_quant(self) -> bool {
        matches!(self, Format::Q4K | Format::Q5K | Format::Q6K)
    }
}

/// Weight rows per tile.
pub(crate) const ROWS: usize = 4;
/// Activation rows per tile: AVX-512 has the registers for 4 × 4 sums, AVX2 for 4 × 3.
pub(crate) const COLS: usize = 4;
const COLS_AVX2: usize = 3;

/// The integer dot product a tile runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    Avx2,
    Vnni,
}

impl Kernel {
    /// The fastest kernel this CPU has (`HEARTH_NO_AVX512` in the environment forces AVX2).
    fn best() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            use std::sync::OnceLock;
            static BEST: OnceLock<Kernel> = OnceLock::new();
            *BEST.get_or_init(|| {
                let vnni = has!("avx512f") && has!("avx512vl") && has!("avx512vnni");
                if vnni && std::env::var_os("HEARTH_NO_AVX512").is_none() {
                    Kernel::Vnni
                } else {
                    Kernel::Avx2
                }
            })
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Kernel::Avx2
        }
    }

    fn cols(self) -> usize {
        match self {
            Kernel::Avx2 => COLS_AVX2,
            Kernel::Vnni => COLS,
        }
    }
}

/// Whether candle has a faster kernel for these weights: its repacked AVX-512/AVX-VNNI GEMM for
/// Q8_0 takes inputs that are a multiple of 256 and outputs a multiple of 16.
pub fn candle_is_faster(format: Format, n: usize, k: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        format == Format::Q8_0
            && k.is_multiple_of(256)
            && n.is_multiple_of(16)
            && ((has!("avx512f") && has!("avx512vnni")) || has!("avxvnni"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (format, n, k);
        false
    }
}

/// Whether this CPU has the kernels (x86-64 with AVX2, FMA and F16C).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        has!("avx2") && has!("fma") && has!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether prompts against 32-value block weights with `k` inputs go to `qgemm_wide.rs`: on AVX2
/// CPUs without VNNI (this module's VNNI tiles are that CPU's GEMM).
pub(crate) fn wide_avx2(k: usize) -> bool {
    available() && Kernel::best() == Kernel::Avx2 && k > 0 && k.is_multiple_of(BLOCK)
}

/// Rows quantized per 32 values as ggml's Q8_0 does it: scale `max |x| / 127` (rounded to `f16`),
/// values rounded to the nearest integer. `corr` holds, per block and per group of 4 values,
/// `-128 ×` their sum: the VNNI kernel multiplies `w + 128` (unsigned) by `x` and adds it back.
pub(crate) struct Quantized {
    pub(crate) qs: Vec<i8>,
    pub(crate) d: Vec<f32>,
    pub(crate) corr: Vec<i32>,
}

/// Groups of 4 values in a block: the `i32` lanes of a 256-bit dot product.
pub(crate) const LANES: usize = BLOCK / 4;

pub(crate) fn quantize(x: &[f32]) -> Quantized {
    #[cfg(target_arch = "x86_64")]
    {
        if available() {
            // SAFETY: `available()` found AVX2, FMA and F16C.
            return unsafe { quantize_avx2(x) };
        }
    }
    quantize_portable(x)
}

/// [`quantize_portable`] in AVX2: the same values, scales and corrections.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_avx2(x: &[f32]) -> Quantized {
    use std::arch::x86_64::*;
    let blocks = x.len() / BLOCK;
    let mut qs = vec![0i8; x.len()];
    let mut d = vec![0f32; blocks];
    let mut corr = vec![0i32; x.len() / 4];
    let abs_mask = _mm256_set1_ps(f32::from_bits(0x7fff_ffff));
    let sign_mask = _mm256_set1_ps(-0.0);
    // The largest float below 0.5: `trunc(v + copysign(it, v))` rounds halves away from zero as
    // `f32::round` does, and nothing else up.
    let half = _mm256_set1_ps(0.49999997);
    for b in 0..blocks {
        let p = x.as_ptr().add(b * BLOCK);
        let v = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)), _mm256_loadu_ps(p.add(16)), _mm256_loadu_ps(p.add(24))];
        let m = _mm256_max_ps(
            _mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
            _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)),
        );
        let m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        let amax = _mm_cvtss_f32(_mm_max_ss(m2, _mm_movehdup_ps(m2)));
        let scale = amax / 127.0;
        let inv = if scale != 0.0 { 1.0 / scale } else { 0.0 };
        *d.get_unchecked_mut(b) = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(scale), _MM_FROUND_TO_NEAREST_INT)));
        let inv = _mm256_set1_ps(inv);
        let q = v.map(|v| {
            let scaled = _mm256_mul_ps(v, inv);
            _mm256_cvttps_epi32(_mm256_add_ps(scaled, _mm256_or_ps(_mm256_and_ps(scaled, sign_mask), half)))
        });
        store_block(q, &mut qs[b * BLOCK..], &mut corr[b * LANES..]);
    }
    Quantized { qs, d, corr }
}

/// A block's 32 quantized values (4 × 8 `i32`) stored as `i8`, and its `-128 ×` sums of 4.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn store_block(q: [std::arch::x86_64::__m256i; 4], qs: &mut [i8], corr: &mut [i32]) {
    use std::arch::x86_64::*;
    let packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    let values = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(qs.as_mut_ptr() as *mut __m256i, values);
    let sums = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), values), _mm256_set1_epi16(1));
    _mm256_storeu_si256(corr.as_mut_ptr() as *mut __m256i, _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sums, 7)));
}

/// Rows quantized as ggml's Q8_K does it for the K-quants' dot products: one `f32` scale per 256
/// values, `-127 / v` for the value `v` of largest magnitude (the first, on a tie), values rounded
/// half to even and capped at 127. The scale is repeated for each 32-value block.
pub(crate) fn quantize_k(x: &[f32]) -> Quantized {
    #[cfg(target_arch = "x86_64")]
    {
        if available() {
            // SAFETY: `available()` found AVX2, FMA and F16C.
            return unsafe { quantize_k_avx2(x) };
        }
    }
    quantize_k_portable(x)
}

fn quantize_k_portable(x: &[f32]) -> Quantized {
    let mut qs = vec![0i8; x.len()];
    let mut d = vec![0f32; x.len() / BLOCK];
    for ((xs, q), d) in x.chunks_exact(SUPER).zip(qs.chunks_exact_mut(SUPER)).zip(d.chunks_exact_mut(SUPER / BLOCK)) {
        let (amax, max) = xs.iter().fold((0f32, 0f32), |(amax, max), &v| if v.abs() > amax { (v.abs(), v) } else { (amax, max) });
        if amax == 0.0 {
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in q.iter_mut().zip(xs) {
            *q = ((iscale * v).round_ties_even() as i32).min(127) as i8;
        }
        d.fill(1.0 / iscale);
    }
    let corr = qs.chunks_exact(4).map(|group| -128 * group.iter().map(|&v| v as i32).sum::<i32>()).collect();
    Quantized { qs, d, corr }
}

/// [`quantize_k_portable`] in AVX2: the same values, scales and corrections.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_k_avx2(x: &[f32]) -> Quantized {
    use std::arch::x86_64::*;
    let mut qs = vec![0i8; x.len()];
    let mut d = vec![0f32; x.len() / BLOCK];
    let mut corr = vec![0i32; x.len() / 4];
    let abs_mask = _mm256_set1_ps(f32::from_bits(0x7fff_ffff));
    for s in 0..x.len() / SUPER {
        let p = x.as_ptr().add(s * SUPER);
        let mut m = _mm256_setzero_ps();
        for i in (0..SUPER).step_by(8) {
            m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(p.add(i)), abs_mask));
        }
        let m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        let amax = _mm_cvtss_f32(_mm_max_ss(m2, _mm_movehdup_ps(m2)));
        if amax == 0.0 {
            continue;
        }
        // The first value of that magnitude gives the sign.
        let first = (0..SUPER).find(|&i| (*p.add(i)).abs() == amax).unwrap_or(0);
        let iscale = -127.0 / *p.add(first);
        let scale = _mm256_set1_ps(iscale);
        let cap = _mm256_set1_epi32(127);
        for b in 0..SUPER / BLOCK {
            let at = p.add(b * BLOCK);
            // `cvtps` rounds half to even under the default rounding mode, as ggml's `nearest_int`.
            let q: [__m256i; 4] =
                std::array::from_fn(|i| _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(at.add(8 * i)), scale)), cap));
            let block = s * (SUPER / BLOCK) + b;
            store_block(q, &mut qs[block * BLOCK..], &mut corr[block * LANES..]);
            *d.get_unchecked_mut(block) = 1.0 / iscale;
        }
    }
    Quantized { qs, d, corr }
}

#[inline(always)]
fn quantize_portable(x: &[f32]) -> Quantized {
    let mut qs = vec![0i8; x.len()];
    let mut d = vec![0f32; x.len() / BLOCK];
    let mut corr = vec![0i32; x.len() / 4];
    for (((xs, q), d), corr) in x.chunks_exact(BLOCK).zip(qs.chunks_exact_mut(BLOCK)).zip(d.iter_mut()).zip(corr.chunks_exact_mut(LANES)) {
        let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = amax / 127.0;
        let inv = if scale != 0.0 { 1.0 / scale } else { 0.0 };
        *d = f16::from_f32(scale).to_f32();
        for (q, &v) in q.iter_mut().zip(xs) {
            *q = (v * inv).round() as i8;
        }
        for (c, group) in corr.iter_mut().zip(q.chunks_exact(4)) {
            *c = -128 * group.iter().map(|&v| v as i32).sum::<i32>();
        }
    }
    Quantized { qs, d, corr }
}

/// Bytes of a Q8_0 block: the layout every kernel reads (an `f16` scale, then 32 `i8` values).
const Q8_BLOCK: usize = 34;

/// Whether K-quant weights go through `kquant.rs`, read in place: where the CPU has its
/// kernels, unless `HEARTH_KQUANT_REPACK` is set. That variable keeps candle's kernels, which hold
/// repacked copies of the weights (about 3× the file's memory on a 1.5B Q4_K model) but process
/// prompts about 1.2× faster on CPUs with AMX (BENCHMARKS.md).
pub fn k_quants_in_place() -> bool {
    use std::sync::OnceLock;
    static IN_PLACE: OnceLock<bool> = OnceLock::new();
    *IN_PLACE.get_or_init(|| k_quants_available() && std::env::var_os("HEARTH_KQUANT_REPACK").is_none())
}

/// Whether this CPU runs the K-quant formats here: AVX2, FMA and F16C ([`available`]).
pub fn k_quants_available() -> bool {
    available()
}

/// Whether the K-quant kernels take their AVX-512 forms (VNNI and BW, and `HEARTH_NO_AVX512`
/// unset): `vpdpbusd` tiles, and the wide prompt GEMM of `kquant_wide.rs`.
pub(crate) fn k_quants_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        available() && Kernel::best() == Kernel::Vnni && std::arch::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `y = x · wᵀ`: `x` is `[m, k]` row-major F32, `w` is `n` rows of `k / 32` blocks in `format`,
/// `y` is `[m, n]`. None for the K-quants, when the CPU lacks the kernels, or when `k` is not a
/// multiple of 32.
pub fn matmul_t(x: &[f32], m: usize, w: &[u8], format: Format, n: usize, k: usize) -> Option<Vec<f32>> {
    matmul_t_with(Kernel::best(), x, m, w, format, n, k)
}

fn matmul_t_with(kernel: Kernel, x: &[f32], m: usize, w: &[u8], format: Format, n: usize, k: usize) -> Option<Vec<f32>> {
    if format.is_k_quant() || !available() || k == 0 || !k.is_multiple_of(BLOCK) {
        return None;
    }
    let blocks = k / BLOCK;
    assert_eq!(x.len(), m * k, "x is not [m, k]");
    assert_eq!(w.len(), n * blocks * format.block_bytes(), "w is not [n, k] in {format:?}");
    let a = quantize(x);
    let mut y = vec![0f32; m * n];
    let tiles = n.div_ceil(ROWS);
    let out = y.as_mut_ptr() as usize;
    let row_bytes = blocks * format.block_bytes();
    // Against more than one group of activation rows, the VNNI kernel reads each tile repacked for it.
    let packed = kernel == Kernel::Vnni && m > COLS;
    let work = |range: std::ops::Range<usize>| {
        // Q8_0 rows are read where they lie; other formats are unpacked to Q8_0 blocks once a tile.
        let mut unpacked = if format == Format::Q8_0 { Vec::new() } else { vec![0u8; ROWS * blocks * Q8_BLOCK] };
        let mut repacked = if packed { vec![0u8; ROWS * blocks.div_ceil(2) * PAIR_BYTES] } else { Vec::new() };
        for tile in range {
            let first = tile * ROWS;
            let rows = ROWS.min(n - first);
            // Rows past `n` in the last tile repeat its last row: their sums are dropped.
            let source = |r: usize| &w[(first + r.min(rows - 1)) * row_bytes..][..row_bytes];
            let mut ptrs = [std::ptr::null::<u8>(); ROWS];
            if format == Format::Q8_0 {
                for (r, p) in ptrs.iter_mut().enumerate() {
                    *p = source(r).as_ptr();
                }
            } else {
                for (r, (chunk, p)) in unpacked.chunks_exact_mut(blocks * Q8_BLOCK).zip(ptrs.iter_mut()).enumerate() {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `matmul_t` runs only where `available()` found AVX2, FMA and F16C.
                    unsafe {
                        x86::unpack_row(format, source(r), chunk)
                    };
                    *p = chunk.as_ptr();
                }
            }
            if packed {
                for (p, chunk) in ptrs.iter_mut().zip(repacked.chunks_exact_mut(blocks.div_ceil(2) * PAIR_BYTES)) {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: the VNNI kernel was chosen where the CPU has it; `p` starts a row of
                    // `blocks` Q8_0 blocks.
                    unsafe {
                        x86::repack_row(*p, blocks, chunk)
                    };
                    *p = chunk.as_ptr();
                }
            }
            let tile = Tile { w: ptrs, k, blocks, kernel, packed };
            tile.run(&a, m, n, first, rows, out as *mut f32);
        }
    };
    candle_core::utils::barrier_pool().execute_chunked(tiles, work);
    Some(y)
}

/// Bytes of a repacked pair of blocks: 64 values as `w + 128`, then 16 `f32` scales (8 of each).
const PAIR_BYTES: usize = 128;

/// One tile of weight rows, each `blocks` Q8_0 blocks, or repacked in pairs (`packed`).
struct Tile {
    w: [*const u8; ROWS],
    packed: bool,
    k: usize,
    blocks: usize,
    kernel: Kernel,
}

impl Tile {
    /// Writes columns `first..first + rows` of `y` (`[m, n]`); the tiles of one call write
    /// disjoint columns, so the pool's workers never write the same element.
    fn run(&self, a: &Quantized, m: usize, n: usize, first: usize, rows: usize, y: *mut f32) {
        let mut j = 0;
        while j < m {
            let cols = self.kernel.cols().min(m - j);
            let mut sums = [[0f32; COLS]; ROWS];
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `matmul_t` runs only where `available()` found AVX2, FMA and F16C; every
            // pointer of the tile starts a row of `blocks` Q8_0 blocks.
            unsafe {
                x86::tile(self, a, j, cols, &mut sums)
            };
            for (r, row_sums) in sums.iter().enumerate().take(rows) {
                for (c, &s) in row_sums.iter().enumerate().take(cols) {
                    debug_assert!(first + r < n && j + c < m);
                    // SAFETY: inside `y`, and no other tile writes this column (see above).
                    unsafe { *y.add((j + c) * n + first + r) = s };
                }
            }
            j += cols;
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{f16_at, hsum, unpack_row};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Format, Kernel, Quantized, Tile, BLOCK, COLS, LANES, PAIR_BYTES, Q8_BLOCK, ROWS};
    use std::arch::x86_64::*;

    /// How far ahead of the block being read its row's bytes are fetched (a hint: past the weights
    /// it reads nothing). A decode step streams the weights once, and a tile's rows are short (952
    /// bytes at `k = 896`): with the hardware prefetchers alone the AVX2 kernel read 3 GB/s on one
    /// Zen 3 core, 5.5 GB/s with this (13 against 6.5 on two).
    const PREFETCH_BYTES: usize = 8192;

    /// A block's `f16` scale as `f32`, in every lane.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scale(block: *const u8) -> __m256 {
        let bits = u16::from_le_bytes([*block, *block.add(1)]);
        _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
    }

    /// `sums[r][c]` = weight row `r` of the tile · activation row `j + c`, for `c < cols`
    /// (at most the kernel's `cols()`).
    pub(super) unsafe fn tile(t: &Tile, a: &Quantized, j: usize, cols: usize, sums: &mut [[f32; COLS]; ROWS]) {
        if t.kernel == Kernel::Vnni && t.packed {
            match cols {
                4 => block_sums_vnni::<4, true>(t, a, j, sums),
                3 => block_sums_vnni::<3, true>(t, a, j, sums),
                2 => block_sums_vnni::<2, true>(t, a, j, sums),
                _ => block_sums_vnni::<1, true>(t, a, j, sums),
            }
        } else if t.kernel == Kernel::Vnni {
            match cols {
                4 => block_sums_vnni::<4, false>(t, a, j, sums),
                3 => block_sums_vnni::<3, false>(t, a, j, sums),
                2 => block_sums_vnni::<2, false>(t, a, j, sums),
                _ => block_sums_vnni::<1, false>(t, a, j, sums),
            }
        } else {
            match cols {
                3 => block_sums_avx2::<3>(t, a, j, sums),
                2 => block_sums_avx2::<2>(t, a, j, sums),
                _ => block_sums_avx2::<1>(t, a, j, sums),
            }
        }
    }

    /// AVX2: `|w| · (x with w's sign)` through `maddubs` then `madd` (pairs reach at most
    /// 2 · 128 · 127, so they never saturate).
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn block_sums_avx2<const C: usize>(t: &Tile, a: &Quantized, j: usize, sums: &mut [[f32; COLS]; ROWS]) {
        let mut acc = [[_mm256_setzero_ps(); C]; ROWS];
        let aq = a.qs.as_ptr();
        for b in 0..t.blocks {
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let block = t.w[r].add(b * Q8_BLOCK);
                if j == 0 {
                    // The first pass over the tile streams it; later ones find it in cache.
                    _mm_prefetch::<_MM_HINT_T0>(block.wrapping_add(PREFETCH_BYTES) as *const i8);
                }
                let w = _mm256_loadu_si256(block.add(2) as *const __m256i);
                let w_abs = _mm256_sign_epi8(w, w);
                let wd = scale(block);
                for (c, acc_rc) in acc_r.iter_mut().enumerate() {
                    let x = _mm256_loadu_si256(aq.add((j + c) * t.k + b * BLOCK) as *const __m256i);
                    let pairs = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x, w));
                    let dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
                    let d = _mm256_mul_ps(wd, _mm256_broadcast_ss(a.d.get_unchecked((j + c) * t.blocks + b)));
                    *acc_rc = _mm256_fmadd_ps(d, dot, *acc_rc);
                }
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            for (c, v) in acc_r.iter().enumerate() {
                sums[r][c] = hsum(*v);
            }
        }
    }

    /// AVX-512 VNNI, two blocks per 512-bit register: one `vpdpbusd` of `w + 128` (unsigned) by
    /// `x`, started from `-128 · Σx` per lane, is the exact `w · x` of each group of 4. A block
    /// left over (an odd count) goes through the lower half alone.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    #[allow(clippy::needless_range_loop)] // `acc[r][c]` reads as the tile it is
    unsafe fn block_sums_vnni<const C: usize, const PACKED: bool>(t: &Tile, a: &Quantized, j: usize, sums: &mut [[f32; COLS]; ROWS]) {
        let mut acc = [[_mm512_setzero_ps(); C]; ROWS];
        let aq = a.qs.as_ptr();
        let flip = _mm512_set1_epi8(0x80u8 as i8);
        // Lanes 0-7 take the first float of a pair, lanes 8-15 the second.
        let halves = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
        let pairs = t.blocks / 2;
        for p in 0..pairs + t.blocks % 2 {
            let b = 2 * p;
            let whole = p < pairs;
            let mut w = [_mm512_setzero_si512(); ROWS];
            let mut wd = [_mm512_setzero_ps(); ROWS];
            for r in 0..ROWS {
                if PACKED {
                    let pair = t.w[r].add(p * PAIR_BYTES);
                    w[r] = _mm512_loadu_si512(pair as *const _);
                    wd[r] = _mm512_loadu_ps(pair.add(64) as *const f32);
                    continue;
                }
                let block = t.w[r].add(b * Q8_BLOCK);
                let lo = _mm256_loadu_si256(block.add(2) as *const __m256i);
                let (hi, hi_scale) = if whole {
                    let next = block.add(Q8_BLOCK);
                    (_mm256_loadu_si256(next.add(2) as *const __m256i), u16::from_le_bytes([*next, *next.add(1)]))
                } else {
                    (_mm256_setzero_si256(), 0)
                };
                w[r] = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), flip);
                let scales =
                    _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, 0, 0, hi_scale as i16, u16::from_le_bytes([*block, *block.add(1)]) as i16));
                wd[r] = _mm512_permutexvar_ps(halves, _mm512_castps128_ps512(scales));
            }
            for c in 0..C {
                let at = (j + c) * t.blocks + b;
                let (x, corr, ad) = if whole {
                    (
                        _mm512_loadu_si512(aq.add((j + c) * t.k + b * BLOCK) as *const _),
                        _mm512_loadu_si512(a.corr.as_ptr().add(at * LANES) as *const _),
                        _mm_castpd_ps(_mm_load_sd(a.d.as_ptr().add(at) as *const f64)),
                    )
                } else {
                    (
                        _mm512_zextsi256_si512(_mm256_loadu_si256(aq.add((j + c) * t.k + b * BLOCK) as *const __m256i)),
                        _mm512_zextsi256_si512(_mm256_loadu_si256(a.corr.as_ptr().add(at * LANES) as *const __m256i)),
                        _mm_load_ss(a.d.as_ptr().add(at)),
                    )
                };
                let ad = _mm512_permutexvar_ps(halves, _mm512_castps128_ps512(ad));
                for r in 0..ROWS {
                    let dot = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(corr, w[r], x));
                    acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(wd[r], ad), dot, acc[r][c]);
                }
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            for (c, v) in acc_r.iter().enumerate() {
                let high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(*v), 1));
                sums[r][c] = hsum(_mm256_add_ps(_mm512_castps512_ps256(*v), high));
            }
        }
    }

    /// A row of `blocks` Q8_0 blocks as the VNNI kernel reads it: per pair of blocks, the 64 values
    /// plus 128 as `u8`, then each block's scale as `f32` in 8 lanes. A block left over (an odd
    /// count) is paired with zero values and a zero scale.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
    pub(super) unsafe fn repack_row(row: *const u8, blocks: usize, out: &mut [u8]) {
        debug_assert_eq!(out.len(), blocks.div_ceil(2) * PAIR_BYTES);
        let flip = _mm256_set1_epi8(0x80u8 as i8);
        for (p, pair) in out.chunks_exact_mut(PAIR_BYTES).enumerate() {
            for half in 0..2 {
                let b = 2 * p + half;
                let (values, scale) = if b < blocks {
                    let block = row.add(b * Q8_BLOCK);
                    let values = _mm256_xor_si256(_mm256_loadu_si256(block.add(2) as *const __m256i), flip);
                    (values, _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(u16::from_le_bytes([*block, *block.add(1)]) as i32))))
                } else {
                    (flip, 0.0)
                };
                _mm256_storeu_si256(pair.as_mut_ptr().add(32 * half) as *mut __m256i, values);
                _mm256_storeu_ps(pair.as_mut_ptr().add(64 + 32 * half) as *mut f32, _mm256_set1_ps(scale));
            }
        }
    }

    /// One weight row's blocks as Q8_0 blocks (the same `f16` scales, values as `i8`).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn unpack_row(format: Format, row: &[u8], out: &mut [u8]) {
        let size = format.block_bytes();
        debug_assert_eq!(row.len() / size, out.len() / Q8_BLOCK);
        for (block, dst) in row.chunks_exact(size).zip(out.chunks_exact_mut(Q8_BLOCK)) {
            let p = block.as_ptr();
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(PREFETCH_BYTES) as *const i8);
            let values = match format {
                Format::Q8_0 => _mm256_loadu_si256(p.add(2) as *const __m256i),
                Format::Q4_0 => _mm256_sub_epi8(nibbles(p.add(2)), _mm256_set1_epi8(8)),
                Format::Q5_0 => {
                    // Where the fifth bit is clear the value is the nibble - 16: set the high nibble.
                    let high = _mm256_andnot_si256(bits(p.add(2)), _mm256_set1_epi8(0xF0u8 as i8));
                    _mm256_or_si256(nibbles(p.add(6)), high)
                }
                Format::Q4K | Format::Q5K | Format::Q6K => unreachable!("K-quants never reach this module's kernels"),
            };
            dst[..2].copy_from_slice(&block[..2]);
            _mm256_storeu_si256(dst.as_mut_ptr().add(2) as *mut __m256i, values);
        }
    }

    /// 16 bytes of nibble pairs as 32 bytes: the low nibbles, then the high ones.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn nibbles(p: *const u8) -> __m256i {
        let packed = _mm_loadu_si128(p as *const __m128i);
        let both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
        _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
    }

    /// 32 bits as 32 bytes: 0xFF where the bit is set, 0 where it is clear.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn bits(p: *const u8) -> __m256i {
        let word = i32::from_le_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]);
        // Byte i gets byte i / 8 of the word, then is tested against bit i % 8.
        let spread =
            _mm256_shuffle_epi8(_mm256_set1_epi32(word), _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
        let select = _mm256_set1_epi64x(0x8040201008040201u64 as i64);
        _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select)
    }

    /// A little-endian `f16` at `p`, as `f32`.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    pub(crate) unsafe fn f16_at(p: *const u8) -> f32 {
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(u16::from_le_bytes([*p, *p.add(1)]) as i32)))
    }

    /// ggml's `hsum_float_8`: the same order of adds.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn hsum(x: __m256) -> f32 {
        let mut r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
        r = _mm_add_ps(r, _mm_movehl_ps(r, r));
        r = _mm_add_ss(r, _mm_movehdup_ps(r));
        _mm_cvtss_f32(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block in `format` from 32 small integers and a scale, as a GGUF file stores it.
    fn pack(format: Format, values: &[i8], d: f32) -> Vec<u8> {
        let mut out = f16::from_f32(d).to_le_bytes().to_vec();
        match format {
            Format::Q8_0 => out.extend(values.iter().map(|&v| v as u8)),
            Format::Q5_0 => {
                let u: Vec<u8> = values.iter().map(|&v| (v + 16) as u8).collect();
                let qh = (0..32).fold(0u32, |h, j| h | (((u[j] >> 4) as u32 & 1) << j));
                out.extend(qh.to_le_bytes());
                out.extend((0..16).map(|j| (u[j] & 0x0f) | ((u[j + 16] & 0x0f) << 4)));
            }
            Format::Q4_0 => out.extend((0..16).map(|j| ((values[j] + 8) as u8) | (((values[j + 16] + 8) as u8) << 4))),
            Format::Q4K | Format::Q5K | Format::Q6K => unreachable!("K-quants are made by candle in their own test"),
        }
        out
    }

    fn range(format: Format) -> (i32, i32) {
        match format {
            Format::Q8_0 => (-128, 127),
            Format::Q5_0 => (-16, 15),
            Format::Q4_0 => (-8, 7),
            Format::Q4K | Format::Q5K | Format::Q6K => unreachable!("K-quants are made by candle in their own test"),
        }
    }

    /// A deterministic stream of pseudo-random numbers in `0..1`.
    fn noise(seed: u64) -> impl FnMut() -> f32 {
        let mut s = seed;
        move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    #[test]
    fn matches_the_blockwise_definition_for_every_format_and_ragged_shapes() {
        if !available() {
            eprintln!("no AVX2 here: the kernels are not used, nothing to check");
            return;
        }
        for format in [Format::Q8_0, Format::Q5_0, Format::Q4_0] {
            // Past 31 rows and with ragged panels, the prompt GEMM (`qgemm_wide.rs`) as well.
            for (m, n, k) in [(1, 1, 32), (7, 5, 64), (3, 9, 640), (12, 16, 96), (37, 13, 96), (34, 9, 640)] {
                let mut rand = noise(m as u64 * 31 + n as u64 * 7 + k as u64);
                let (lo, hi) = range(format);
                let mut w = Vec::new();
                let mut dense = vec![0f32; n * k];
                for row in 0..n {
                    for b in 0..k / BLOCK {
                        let values: Vec<i8> = (0..BLOCK).map(|_| (lo + (rand() * (hi - lo + 1) as f32) as i32).min(hi) as i8).collect();
                        let d = f16::from_f32(0.01 + rand() * 0.05).to_f32();
                        w.extend(pack(format, &values, d));
                        for (i, &v) in values.iter().enumerate() {
                            dense[row * k + b * BLOCK + i] = v as f32 * d;
                        }
                    }
                }
                let x: Vec<f32> = (0..m * k).map(|_| rand() * 4.0 - 2.0).collect();
                let mut ys = vec![
                    matmul_t_with(Kernel::Avx2, &x, m, &w, format, n, k).expect("AVX2 is available"),
                    crate::qgemm_wide::matmul_t(&x, m, &w, format, n, k),
                ];
                if Kernel::best() == Kernel::Vnni {
                    ys.push(matmul_t_with(Kernel::Vnni, &x, m, &w, format, n, k).unwrap());
                }
                // The reference: the same Q8_0 activations, dequantized, against the dense weights.
                let a = quantize(&x);
                for (i, r) in (0..m).flat_map(|i| (0..n).map(move |r| (i, r))) {
                    let want: f64 =
                        (0..k).map(|c| a.qs[i * k + c] as f64 * a.d[i * k / BLOCK + c / BLOCK] as f64 * dense[r * k + c] as f64).sum();
                    for (kernel, y) in ys.iter().enumerate() {
                        let got = y[i * n + r] as f64;
                        assert!(
                            (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "{format:?} kernel {kernel} {m}x{n}x{k} at ({i}, {r}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn quantizes_activations_as_ggml_q8_0() {
        let mut x = vec![0f32; 64];
        x[0] = -2.54;
        x[1] = 1.28;
        x[2] = 0.005;
        let a = quantize(&x);
        assert_eq!(a.d[0], f16::from_f32(2.54 / 127.0).to_f32());
        assert_eq!(&a.qs[..3], &[-127, 64, 0]);
        // An all-zero block has scale 0 and values 0, not NaN.
        assert_eq!((a.d[1], a.qs[32..].iter().all(|&q| q == 0)), (0.0, true));
    }
}

#[cfg(test)]
mod against_candle {
    use super::*;
    use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
    use candle_core::{Device, Module, Tensor};

    #[test]
    fn agrees_with_candles_own_kernels() {
        if !available() {
            return;
        }
        let (m, n, k) = (9, 48, 640);
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.2).collect();
        let x: Vec<f32> = (0..m * k).map(|i| ((i * 104729 % 997) as f32 / 997.0 - 0.5) * 3.0).collect();
        let wt = Tensor::from_vec(w, (n, k), &Device::Cpu).unwrap();
        let xt = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap();
        for (dtype, format) in [(GgmlDType::Q8_0, Format::Q8_0), (GgmlDType::Q5_0, Format::Q5_0), (GgmlDType::Q4_0, Format::Q4_0)] {
            let q = QTensor::quantize(&wt, dtype).unwrap();
            let ours = matmul_t(&x, m, &q.data().unwrap(), format, n, k).unwrap();
            let theirs: Vec<f32> = QMatMul::from_qtensor(q).unwrap().forward(&xt).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            eprintln!("{format:?}: worst {worst}");
            assert!(worst < 1e-4, "{format:?}: {worst}");
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod quantize_kernels {
    use super::*;

    #[test]
    fn the_avx2_quantizer_equals_the_portable_one() {
        if !available() {
            return;
        }
        // Halves, ties at every scale, zeros, extremes and ordinary noise.
        let mut x: Vec<f32> = (0..32).map(|i| i as f32 * 0.5 - 8.0).collect();
        x.extend([0f32; 32]);
        x.extend((0..32).map(|i| if i == 5 { -3.0e4 } else { i as f32 }));
        let mut s = 7u64;
        x.extend((0..32 * 40).map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 9.0
        }));
        let (fast, portable) = (unsafe { quantize_avx2(&x) }, quantize_portable(&x));
        assert_eq!(fast.qs, portable.qs);
        assert_eq!(fast.d, portable.d);
        assert_eq!(fast.corr, portable.corr);
        // Q8_K, over super-blocks of 256: the same inputs, and a tie of +v and -v.
        x.truncate(x.len() / SUPER * SUPER);
        x[300] = 40.0;
        x[301] = -40.0;
        let (fast, portable) = (unsafe { quantize_k_avx2(&x) }, quantize_k_portable(&x));
        assert_eq!(fast.qs, portable.qs);
        assert_eq!(fast.d, portable.d);
        assert_eq!(fast.corr, portable.corr);
    }

    #[test]
    fn quantizes_k_quant_activations_as_ggml_q8_k() {
        let mut x = vec![0.5f32; 512];
        x[3] = 2.54;
        x[7] = -2.54;
        x[100] = 1.27;
        let a = quantize_k(&x);
        // The first of the largest magnitude maps to -127: the scale is negative.
        assert_eq!(a.d[0], 1.0 / (-127.0 / 2.54));
        assert_eq!(a.d[7], a.d[0]);
        assert_eq!((a.qs[3], a.qs[7], a.qs[100]), (-127, 127, -64));
        // 0.5 × 127 / 2.54 = 25 exactly.
        assert_eq!(a.qs[0], -25);
        // A second super-block of its own.
        assert_eq!(a.d[8], 1.0 / (-127.0 / 0.5));
    }
}
