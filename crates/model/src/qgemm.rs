//! `x · Wᵀ` on the CPU for weights in the 32-value block formats (Q8_0, Q5_0, Q4_0): the
//! activations are quantized to Q8_0 once per call, then an integer GEMM runs over tiles of
//! weight rows × activation rows, with AVX2 or AVX-512 VNNI kernels chosen at run time.
//!
//! candle multiplies these formats one activation row at a time (its tiled kernels need inputs
//! that are a multiple of 256, which Gemma 3's width of 640 is not), and only with the SIMD
//! features the binary was compiled for. Here a tile of weight rows is unpacked to `i8` once and
//! used against every activation row, [`ROWS`] × [`COLS`] dot products at a time, so each loaded
//! weight block serves several activation rows and each activation block several weight rows.
//! The arithmetic is ggml's: per block, an exact `i32` dot of the quantized values times the
//! product of the two `f16` scales, summed in `f32`.

use half::f16;

/// Values per block, in every format here.
pub const BLOCK: usize = 32;

/// A weight format this module multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Q8_0,
    Q5_0,
    Q4_0,
}

impl Format {
    /// Bytes of one block of 32 values, as stored in GGUF.
    pub fn block_bytes(self) -> usize {
        match self {
            Format::Q8_0 => 34,
            Format::Q5_0 => 22,
            Format::Q4_0 => 18,
        }
    }
}

/// Weight rows per tile.
const ROWS: usize = 4;
/// Activation rows per tile: AVX-512 has the registers for 4 × 4 sums, AVX2 for 4 × 3.
const COLS: usize = 4;
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

/// Whether this CPU has the kernels (x86-64 with AVX2 and FMA).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Rows quantized per 32 values as ggml's Q8_0 does it: scale `max |x| / 127` (rounded to `f16`),
/// values rounded to the nearest integer.
struct Quantized {
    qs: Vec<i8>,
    d: Vec<f32>,
}

fn quantize(x: &[f32]) -> Quantized {
    let mut qs = vec![0i8; x.len()];
    let mut d = vec![0f32; x.len() / BLOCK];
    for ((xs, q), d) in x.chunks_exact(BLOCK).zip(qs.chunks_exact_mut(BLOCK)).zip(d.iter_mut()) {
        let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = amax / 127.0;
        let inv = if scale != 0.0 { 1.0 / scale } else { 0.0 };
        *d = f16::from_f32(scale).to_f32();
        for (q, &v) in q.iter_mut().zip(xs) {
            *q = (v * inv).round() as i8;
        }
    }
    Quantized { qs, d }
}

/// `y = x · wᵀ`: `x` is `[m, k]` row-major F32, `w` is `n` rows of `k / 32` blocks in `format`,
/// `y` is `[m, n]`. None when the CPU lacks the kernels or `k` is not a multiple of 32.
pub fn matmul_t(x: &[f32], m: usize, w: &[u8], format: Format, n: usize, k: usize) -> Option<Vec<f32>> {
    matmul_t_with(Kernel::best(), x, m, w, format, n, k)
}

fn matmul_t_with(kernel: Kernel, x: &[f32], m: usize, w: &[u8], format: Format, n: usize, k: usize) -> Option<Vec<f32>> {
    if !available() || k == 0 || !k.is_multiple_of(BLOCK) {
        return None;
    }
    let blocks = k / BLOCK;
    assert_eq!(x.len(), m * k, "x is not [m, k]");
    assert_eq!(w.len(), n * blocks * format.block_bytes(), "w is not [n, k] in {format:?}");
    let a = quantize(x);
    let mut y = vec![0f32; m * n];
    let tiles = n.div_ceil(ROWS);
    let out = y.as_mut_ptr() as usize;
    let work = |range: std::ops::Range<usize>| {
        let mut wq = vec![0i8; ROWS * k];
        let mut wd = vec![0f32; ROWS * blocks];
        for tile in range {
            let first = tile * ROWS;
            let rows = ROWS.min(n - first);
            for r in 0..rows {
                let row = &w[(first + r) * blocks * format.block_bytes()..][..blocks * format.block_bytes()];
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `matmul_t` runs only where `available()` found AVX2 and FMA.
                unsafe {
                    x86::unpack_row(format, row, &mut wq[r * k..(r + 1) * k], &mut wd[r * blocks..(r + 1) * blocks])
                };
            }
            // Rows past `n` in the last tile keep an earlier tile's values: their sums are dropped.
            let tile = Tile { wq: &wq, wd: &wd, k, blocks, kernel };
            tile.run(&a, m, n, first, rows, out as *mut f32);
        }
    };
    candle_core::utils::barrier_pool().execute_chunked(tiles, work);
    Some(y)
}

/// One tile of unpacked weight rows: `ROWS × k` values and `ROWS × blocks` scales.
struct Tile<'a> {
    wq: &'a [i8],
    wd: &'a [f32],
    k: usize,
    blocks: usize,
    kernel: Kernel,
}

impl Tile<'_> {
    /// Writes columns `first..first + rows` of `y` (`[m, n]`); the tiles of one call write
    /// disjoint columns, so the pool's workers never write the same element.
    fn run(&self, a: &Quantized, m: usize, n: usize, first: usize, rows: usize, y: *mut f32) {
        let mut j = 0;
        while j < m {
            let cols = self.kernel.cols().min(m - j);
            let mut sums = [[0f32; COLS]; ROWS];
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `matmul_t` runs only where `available()` found AVX2 and FMA.
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
mod x86 {
    use super::{Format, Kernel, Quantized, Tile, BLOCK, COLS, ROWS};
    use half::f16;
    use std::arch::x86_64::*;

    /// The i32 sums of `|w| · x` over groups of 4 bytes: `maddubs` then `madd` on AVX2 (pairs
    /// reach at most 2 · 128 · 127, so they never saturate), one `vpdpbusd` with AVX-512 VNNI.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx2(w_abs: __m256i, x: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs, x), _mm256_set1_epi16(1))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
    unsafe fn dot_vnni(w_abs: __m256i, x: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), w_abs, x)
    }

    /// `sums[r][c]` = weight row `r` of the tile · activation row `j + c`, for `c < cols`
    /// (at most the kernel's `cols()`).
    pub(super) unsafe fn tile(t: &Tile, a: &Quantized, j: usize, cols: usize, sums: &mut [[f32; COLS]; ROWS]) {
        if t.kernel == Kernel::Vnni {
            match cols {
                4 => block_sums_vnni::<4>(t, a, j, sums),
                3 => block_sums_vnni::<3>(t, a, j, sums),
                2 => block_sums_vnni::<2>(t, a, j, sums),
                _ => block_sums_vnni::<1>(t, a, j, sums),
            }
        } else {
            match cols {
                3 => block_sums_avx2::<3>(t, a, j, sums),
                2 => block_sums_avx2::<2>(t, a, j, sums),
                _ => block_sums_avx2::<1>(t, a, j, sums),
            }
        }
    }

    macro_rules! block_sums {
        ($name:ident, $features:literal, $dot:ident) => {
            #[target_feature(enable = $features)]
            unsafe fn $name<const C: usize>(t: &Tile, a: &Quantized, j: usize, sums: &mut [[f32; COLS]; ROWS]) {
                let mut acc = [[_mm256_setzero_ps(); C]; ROWS];
                let wq = t.wq.as_ptr();
                let aq = a.qs.as_ptr();
                for b in 0..t.blocks {
                    let mut ad = [0f32; C];
                    for (c, d) in ad.iter_mut().enumerate() {
                        *d = *a.d.get_unchecked((j + c) * t.blocks + b);
                    }
                    for (r, acc_r) in acc.iter_mut().enumerate() {
                        let w = _mm256_loadu_si256(wq.add(r * t.k + b * BLOCK) as *const __m256i);
                        let w_abs = _mm256_sign_epi8(w, w);
                        let wd = *t.wd.get_unchecked(r * t.blocks + b);
                        for (c, acc_rc) in acc_r.iter_mut().enumerate() {
                            let x = _mm256_loadu_si256(aq.add((j + c) * t.k + b * BLOCK) as *const __m256i);
                            // |w| · (x with w's sign) = w · x, as unsigned × signed bytes.
                            let dot = _mm256_cvtepi32_ps($dot(w_abs, _mm256_sign_epi8(x, w)));
                            *acc_rc = _mm256_fmadd_ps(_mm256_set1_ps(wd * ad[c]), dot, *acc_rc);
                        }
                    }
                }
                for (r, acc_r) in acc.iter().enumerate() {
                    for (c, v) in acc_r.iter().enumerate() {
                        sums[r][c] = hsum(*v);
                    }
                }
            }
        };
    }
    block_sums!(block_sums_avx2, "avx2,fma", dot_avx2);
    block_sums!(block_sums_vnni, "avx2,fma,avx512f,avx512vl,avx512vnni", dot_vnni);

    /// One weight row's blocks as `i8` values and `f32` scales.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn unpack_row(format: Format, row: &[u8], out: &mut [i8], d: &mut [f32]) {
        let size = format.block_bytes();
        debug_assert_eq!((row.len() / size, out.len() / BLOCK), (d.len(), d.len()));
        for (b, (block, d)) in row.chunks_exact(size).zip(d.iter_mut()).enumerate() {
            *d = f16::from_le_bytes([block[0], block[1]]).to_f32();
            let p = block.as_ptr();
            let values = match format {
                Format::Q8_0 => _mm256_loadu_si256(p.add(2) as *const __m256i),
                Format::Q4_0 => _mm256_sub_epi8(nibbles(p.add(2)), _mm256_set1_epi8(8)),
                Format::Q5_0 => {
                    // Where the fifth bit is clear the value is the nibble - 16: set the high nibble.
                    let high = _mm256_andnot_si256(bits(p.add(2)), _mm256_set1_epi8(0xF0u8 as i8));
                    _mm256_or_si256(nibbles(p.add(6)), high)
                }
            };
            _mm256_storeu_si256(out.as_mut_ptr().add(b * BLOCK) as *mut __m256i, values);
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

    /// ggml's `hsum_float_8`: the same order of adds.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(x: __m256) -> f32 {
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
        }
        out
    }

    fn range(format: Format) -> (i32, i32) {
        match format {
            Format::Q8_0 => (-128, 127),
            Format::Q5_0 => (-16, 15),
            Format::Q4_0 => (-8, 7),
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
            for (m, n, k) in [(1, 1, 32), (7, 5, 64), (3, 9, 640), (12, 16, 96)] {
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
                let mut ys = vec![matmul_t_with(Kernel::Avx2, &x, m, &w, format, n, k).expect("AVX2 is available")];
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
