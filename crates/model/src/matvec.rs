//! `x · Wᵀ` on the CPU over row-major F32 or F16 weights, for the few-row products of
//! speculative verification.
//!
//! candle's CPU matmul packs the weight matrix on every call; for a verification window (2 to 8
//! rows) that packing costs more than the product. Here each weight row is read once, straight
//! from the model's storage (F16 rows are widened in a small buffer), and dotted with every row of
//! `x`, four rows at a time so a loaded weight chunk is used four times. It runs on the calling
//! thread: handing these small products to rayon's pool cost more in thread switches than it saved
//! on the 2-core machine (BENCHMARKS.md).

use half::f16;

/// A weight matrix `[rows, cols]`, row-major.
#[derive(Clone, Copy)]
pub enum Weights<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
}

/// Weight rows per block of the output (the F16 widening buffer is reused within a block).
const ROWS_PER_BLOCK: usize = 32;

/// `y = x · wᵀ`: `x` is `[n, cols]`, `w` is `[rows, cols]`, `y` is `[n, rows]`, all row-major.
pub fn matmul_t(x: &[f32], n: usize, w: Weights, rows: usize, cols: usize) -> Vec<f32> {
    assert_eq!(x.len(), n * cols, "x is not [n, cols]");
    match w {
        Weights::F32(w) => assert_eq!(w.len(), rows * cols, "w is not [rows, cols]"),
        Weights::F16(w) => assert_eq!(w.len(), rows * cols, "w is not [rows, cols]"),
    }
    // Results per weight row first (`[rows, n]`), in blocks of rows.
    let mut by_row = vec![0f32; rows * n];
    let block = |(index, out): (usize, &mut [f32])| {
        let first = index * ROWS_PER_BLOCK;
        let mut widened = Vec::new();
        for (r, y) in out.chunks_exact_mut(n).enumerate() {
            let row = first + r;
            let w_row: &[f32] = match w {
                Weights::F32(w) => &w[row * cols..(row + 1) * cols],
                Weights::F16(w) => {
                    widened.resize(cols, 0.0);
                    half::slice::HalfFloatSliceExt::convert_to_f32_slice(&w[row * cols..(row + 1) * cols], &mut widened);
                    &widened
                }
            };
            dot_rows(w_row, x, cols, y);
        }
    };
    by_row.chunks_mut(ROWS_PER_BLOCK * n).enumerate().for_each(block);
    if n == 1 {
        return by_row;
    }
    let mut y = vec![0f32; n * rows];
    for (row, ys) in by_row.chunks_exact(n).enumerate() {
        for (t, &v) in ys.iter().enumerate() {
            y[t * rows + row] = v;
        }
    }
    y
}

/// `y[t] = w · x[t]` for every row `t` of `x`.
fn dot_rows(w: &[f32], x: &[f32], cols: usize, y: &mut [f32]) {
    let quads = y.len() / 4 * 4;
    for (xs, ys) in x.chunks_exact(4 * cols).zip(y[..quads].chunks_exact_mut(4)) {
        let (x0, rest) = xs.split_at(cols);
        let (x1, rest) = rest.split_at(cols);
        let (x2, x3) = rest.split_at(cols);
        ys.copy_from_slice(&dot4(w, [x0, x1, x2, x3]));
    }
    for (xr, yr) in x[quads * cols..].chunks_exact(cols).zip(&mut y[quads..]) {
        *yr = dot(w, xr);
    }
}

/// Lanes of the one-row dot product: four AVX-512 or eight AVX registers of independent sums, so
/// the adds do not wait on each other.
const LANES: usize = 64;
/// Lanes per row in [`dot4`]: 4 x 32 sums still fit in registers.
const LANES4: usize = 32;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(p, q)| p * q).sum();
    for (pa, pb) in ac.zip(bc) {
        let (pa, pb): (&[f32; LANES], &[f32; LANES]) = (pa.try_into().unwrap(), pb.try_into().unwrap());
        for l in 0..LANES {
            acc[l] += pa[l] * pb[l];
        }
    }
    hsum(acc) + tail
}

/// Four dot products sharing `w`: each chunk of `w` is loaded once.
fn dot4(w: &[f32], x: [&[f32]; 4]) -> [f32; 4] {
    let mut acc = [[0f32; LANES4]; 4];
    let full = w.len() / LANES4 * LANES4;
    for c in (0..full).step_by(LANES4) {
        let wc: &[f32; LANES4] = w[c..c + LANES4].try_into().unwrap();
        for (acc, x) in acc.iter_mut().zip(&x) {
            let xc: &[f32; LANES4] = x[c..c + LANES4].try_into().unwrap();
            for l in 0..LANES4 {
                acc[l] += wc[l] * xc[l];
            }
        }
    }
    let mut out = [0f32; 4];
    for ((o, acc), x) in out.iter_mut().zip(acc).zip(&x) {
        let tail: f32 = w[full..].iter().zip(&x[full..]).map(|(p, q)| p * q).sum();
        *o = hsum(acc) + tail;
    }
    out
}

/// Sum of the lanes as a tree of halves: every step is one vector add, not a chain of scalar ones.
#[inline(always)]
fn hsum<const N: usize>(mut v: [f32; N]) -> f32 {
    let mut n = N;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            v[i] += v[i + n];
        }
    }
    v[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same product in f64, the plain way.
    fn reference(x: &[f32], n: usize, w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut y = vec![0f32; n * rows];
        for t in 0..n {
            for r in 0..rows {
                y[t * rows + r] = (0..cols).map(|c| x[t * cols + c] as f64 * w[r * cols + c] as f64).sum::<f64>() as f32;
            }
        }
        y
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        // A small deterministic generator; values in [-1, 1).
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn matches_the_plain_product_for_every_shape() {
        // Row counts around the 4-row blocks, column counts around the 32/64-lane chunks, row counts
        // around the 32-row blocks.
        for &(n, rows, cols) in &[
            (1, 1, 1),
            (1, 33, 17),
            (2, 64, 256),
            (3, 5, 15),
            (4, 40, 48),
            (5, 70, 33),
            (8, 96, 256),
            (13, 31, 100),
            (1, 40, 200),
            (6, 20, 130),
            (4, 9, 64),
        ] {
            let (x, w) = (values(n * cols, 7), values(rows * cols, 11));
            let want = reference(&x, n, &w, rows, cols);
            let got = matmul_t(&x, n, Weights::F32(&w), rows, cols);
            for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                assert!((g - r).abs() <= 1e-5 * (cols as f32).sqrt(), "n={n} rows={rows} cols={cols} at {i}: {g} vs {r}");
            }
            let w16: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
            let want16 = reference(&x, n, &w16.iter().map(|v| v.to_f32()).collect::<Vec<_>>(), rows, cols);
            let got16 = matmul_t(&x, n, Weights::F16(&w16), rows, cols);
            for (g, r) in got16.iter().zip(&want16) {
                assert!((g - r).abs() <= 1e-5 * (cols as f32).sqrt(), "f16 n={n} rows={rows} cols={cols}: {g} vs {r}");
            }
        }
    }
}
