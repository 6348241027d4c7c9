//! Completion quality measures: exact match and edit similarity as Python's `difflib` computes it.

use std::collections::HashMap;

/// `difflib.SequenceMatcher(None, a, b).ratio()` on characters: 2 * matched / (len(a) + len(b)).
pub fn edit_similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let total = a.len() + b.len();
    if total == 0 {
        return 1.0;
    }
    2.0 * matched(&a, &b) as f64 / total as f64
}

/// Characters in the matching blocks that difflib finds (longest match first, then recursively either side).
fn matched(a: &[char], b: &[char]) -> usize {
    // difflib's b2j, with its "autojunk" rule: in a `b` of 200+ items, items more frequent than 1% + 1 are dropped.
    let mut b2j: HashMap<char, Vec<usize>> = HashMap::new();
    for (j, &c) in b.iter().enumerate() {
        b2j.entry(c).or_default().push(j);
    }
    if b.len() >= 200 {
        let limit = b.len() / 100 + 1;
        b2j.retain(|_, js| js.len() <= limit);
    }
    let mut total = 0;
    let mut queue = vec![(0, a.len(), 0, b.len())];
    while let Some((alo, ahi, blo, bhi)) = queue.pop() {
        let (i, j, k) = longest_match(a, b, &b2j, alo, ahi, blo, bhi);
        if k > 0 {
            total += k;
            if alo < i && blo < j {
                queue.push((alo, i, blo, j));
            }
            if i + k < ahi && j + k < bhi {
                queue.push((i + k, ahi, j + k, bhi));
            }
        }
    }
    total
}

/// difflib's `find_longest_match` without a junk predicate.
fn longest_match(
    a: &[char],
    b: &[char],
    b2j: &HashMap<char, Vec<usize>>,
    alo: usize,
    ahi: usize,
    blo: usize,
    bhi: usize,
) -> (usize, usize, usize) {
    let (mut besti, mut bestj, mut bestsize) = (alo, blo, 0);
    let mut j2len: HashMap<usize, usize> = HashMap::new();
    for (i, item) in a.iter().enumerate().take(ahi).skip(alo) {
        let mut next: HashMap<usize, usize> = HashMap::new();
        if let Some(js) = b2j.get(item) {
            for &j in js {
                if j < blo {
                    continue;
                }
                if j >= bhi {
                    break;
                }
                let k = j.checked_sub(1).and_then(|p| j2len.get(&p)).copied().unwrap_or(0) + 1;
                next.insert(j, k);
                if k > bestsize {
                    (besti, bestj, bestsize) = (i + 1 - k, j + 1 - k, k);
                }
            }
        }
        j2len = next;
    }
    while besti > alo && bestj > blo && a[besti - 1] == b[bestj - 1] {
        besti -= 1;
        bestj -= 1;
        bestsize += 1;
    }
    while besti + bestsize < ahi && bestj + bestsize < bhi && a[besti + bestsize] == b[bestj + bestsize] {
        bestsize += 1;
    }
    (besti, bestj, bestsize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from CPython's `difflib.SequenceMatcher(None, a, b).ratio()`.
    #[test]
    fn matches_difflib() {
        assert_eq!(edit_similarity("", ""), 1.0);
        assert_eq!(edit_similarity("abc", ""), 0.0);
        assert!((edit_similarity("abcd", "bcde") - 0.75).abs() < 1e-12);
        assert!((edit_similarity("return x + 1", "return y + 1") - 11.0 * 2.0 / 24.0).abs() < 1e-12);
        assert!((edit_similarity("self.assertEqual(a, b)", "self.assertTrue(a)") - 0.75).abs() < 1e-12);
        // 200+ characters: difflib's autojunk drops frequent characters of `b`.
        let a = "    def __init__(self, name, value=None, *, strict=True):\n".repeat(3) + &"x".repeat(10);
        let b = "    def __init__(self, key, default=None, *, strict=False): # ".repeat(4);
        assert!((edit_similarity(&a, &b) - 0.10648148148148148).abs() < 1e-12);
    }
}
