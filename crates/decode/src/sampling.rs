//! Turning logits into tokens: greedy argmax, or temperature / top-k / top-p sampling with a seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Clone, Debug, PartialEq)]
pub enum Sampling {
    Greedy,
    Sample { temperature: f32, top_k: Option<usize>, top_p: Option<f32>, seed: u64 },
}

impl Sampling {
    pub fn is_greedy(&self) -> bool {
        match self {
            Sampling::Greedy => true,
            Sampling::Sample { temperature, .. } => *temperature <= 0.0,
        }
    }
}

pub struct Sampler {
    sampling: Sampling,
    rng: StdRng,
}

impl Sampler {
    pub fn new(sampling: Sampling) -> Self {
        let seed = match &sampling {
            Sampling::Sample { seed, .. } => *seed,
            Sampling::Greedy => 0,
        };
        Sampler { sampling, rng: StdRng::seed_from_u64(seed) }
    }

    pub fn is_greedy(&self) -> bool {
        self.sampling.is_greedy()
    }

    /// The distribution tokens are drawn from after temperature, top-k and top-p.
    pub fn probs(&self, logits: &[f32]) -> Vec<f32> {
        let Sampling::Sample { temperature, top_k, top_p, .. } = self.sampling else {
            let mut p = vec![0.0; logits.len()];
            p[argmax(logits) as usize] = 1.0;
            return p;
        };
        let t = temperature.max(1e-5);
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut p: Vec<f32> = logits.iter().map(|&l| ((l - max) / t).exp()).collect();
        let mut order: Vec<usize> = (0..p.len()).collect();
        let keep_k = top_k.filter(|&k| k > 0 && k < p.len());
        if keep_k.is_some() || top_p.is_some_and(|x| x < 1.0) {
            order.sort_unstable_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
            let mut keep = keep_k.unwrap_or(p.len());
            if let Some(top_p) = top_p.filter(|&x| x < 1.0) {
                let total: f32 = order[..keep].iter().map(|&i| p[i]).sum();
                let mut acc = 0.0;
                for (n, &i) in order[..keep].iter().enumerate() {
                    acc += p[i] / total;
                    if acc >= top_p {
                        keep = n + 1;
                        break;
                    }
                }
            }
            for &i in &order[keep..] {
                p[i] = 0.0;
            }
        }
        normalize(&mut p);
        p
    }

    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.is_greedy() {
            return argmax(logits);
        }
        let p = self.probs(logits);
        self.draw(&p)
    }

    /// Draws from a normalised distribution.
    pub fn draw(&mut self, p: &[f32]) -> u32 {
        let mut r: f32 = self.rng.random();
        for (i, &x) in p.iter().enumerate() {
            r -= x;
            if r < 0.0 {
                return i as u32;
            }
        }
        p.iter().rposition(|&x| x > 0.0).unwrap_or(0) as u32
    }

    pub fn uniform(&mut self) -> f32 {
        self.rng.random()
    }
}

pub fn argmax(v: &[f32]) -> u32 {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &x) in v.iter().enumerate() {
        if x > best.1 {
            best = (i, x);
        }
    }
    best.0 as u32
}

pub fn normalize(p: &mut [f32]) {
    let s: f32 = p.iter().sum();
    if s > 0.0 {
        p.iter_mut().for_each(|x| *x /= s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_and_top_p_cut_the_tail() {
        let logits = [3.0, 2.0, 1.0, 0.0];
        let s = Sampler::new(Sampling::Sample { temperature: 1.0, top_k: Some(2), top_p: None, seed: 1 });
        let p = s.probs(&logits);
        assert!(p[2] == 0.0 && p[3] == 0.0 && (p[0] + p[1] - 1.0).abs() < 1e-6);
        let s = Sampler::new(Sampling::Sample { temperature: 1.0, top_k: None, top_p: Some(0.5), seed: 1 });
        let p = s.probs(&logits);
        assert_eq!(p.iter().filter(|&&x| x > 0.0).count(), 1);
    }

    #[test]
    fn same_seed_same_draws() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let cfg = Sampling::Sample { temperature: 0.8, top_k: None, top_p: Some(0.95), seed: 42 };
        let (mut a, mut b) = (Sampler::new(cfg.clone()), Sampler::new(cfg));
        let xs: Vec<u32> = (0..20).map(|_| a.sample(&logits)).collect();
        let ys: Vec<u32> = (0..20).map(|_| b.sample(&logits)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().any(|&x| x != xs[0]), "sampling at temperature 0.8 should vary");
    }
}
