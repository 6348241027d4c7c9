//! Constrained decoding: a [`Constraint`] says which tokens may come next (a tool call's grammar),
//! and [`pick`] chooses the best (or a sampled) token among them.

use crate::sampling::{argmax, Sampler};
use crate::DecodeError;
use hearth_model::Tokenizer;

/// A restriction on what a generation may produce, seen token by token. It may be free for a while
/// (prose before a tool call) and restrict only once its text opens the constrained part.
pub trait Constraint: Send {
    /// Whether the next token is restricted. While it is not, any token may come (and speculation runs).
    fn active(&self) -> bool;
    /// Whether a token spelling `bytes` may come next while [`Constraint::active`]. Empty: never.
    fn allows(&self, bytes: &[u8]) -> bool;
    /// Records the token that came, restricted or not.
    fn advance(&mut self, bytes: &[u8]);
    /// Whether the constrained text is complete: the generation ends with this token.
    fn finished(&self) -> bool;
}

/// How many of the best tokens are tried before every token is.
const SHORTLIST: usize = 256;

/// The next token under `constraint`: the allowed token with the highest logit (greedy), or one drawn
/// from the allowed tokens' renormalised distribution.
pub fn pick(row: &[f32], constraint: &dyn Constraint, tokenizer: &Tokenizer, sampler: &mut Sampler) -> Result<u32, DecodeError> {
    let allowed = |id: usize| constraint.allows(tokenizer.token_bytes(id as u32));
    if sampler.is_greedy() {
        let best = argmax(row) as usize;
        if allowed(best) {
            return Ok(best as u32);
        }
        let mut order: Vec<usize> = (0..row.len()).collect();
        let n = SHORTLIST.min(order.len());
        if n < order.len() {
            order.select_nth_unstable_by(n, |&a, &b| row[b].total_cmp(&row[a]));
        }
        let mut short = order[..n].to_vec();
        short.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        if let Some(&id) = short.iter().find(|&&id| allowed(id)) {
            return Ok(id as u32);
        }
        return (0..row.len())
            .filter(|&id| allowed(id))
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .map(|id| id as u32)
            .ok_or(DecodeError::NoAllowedToken);
    }
    let masked: Vec<f32> = row.iter().enumerate().map(|(id, &x)| if allowed(id) { x } else { f32::NEG_INFINITY }).collect();
    if masked.iter().all(|x| *x == f32::NEG_INFINITY) {
        return Err(DecodeError::NoAllowedToken);
    }
    Ok(sampler.draw(&sampler.probs(&masked)))
}
