//! Multiple choice by log-likelihood, as lm-evaluation-harness scores it: each choice is a
//! continuation of the context; the prediction is the choice whose tokens have the highest
//! summed log-probability (`acc`), or the highest per byte of the choice's text (`acc_norm`).
//! The context runs once; its KV cache is repeated for the choices, which run in one batch.
//! Ties go to the lowest index (numpy's argmax, as lm-evaluation-harness breaks them).

use crate::data::PAD;
use crate::model::{forward_cached, forward_cached_all, Decoder, KvCache};
use anyhow::{bail, Result};
use candle_core::{DType, Tensor, D};

/// One continuation's log-likelihood after the context, token by token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChoiceLl {
    /// Summed log-probability of its tokens.
    pub logprob: f64,
    pub tokens: usize,
    /// Tokens that were the argmax of their position (all of them: greedy decoding gives it).
    pub greedy_hits: usize,
}

/// Summed log-probability of each continuation after `ctx`.
pub fn choice_logprobs(model: &Decoder, ctx: &[u32], conts: &[Vec<u32>]) -> Result<Vec<f64>> {
    Ok(choice_loglik(model, ctx, conts)?.iter().map(|c| c.logprob).collect())
}

/// Each continuation's log-likelihood after `ctx`, with its greedy hits: the held-out loss and
/// token accuracy of the gold choice come from here, with no second pass.
pub fn choice_loglik(model: &Decoder, ctx: &[u32], conts: &[Vec<u32>]) -> Result<Vec<ChoiceLl>> {
    if ctx.is_empty() || conts.is_empty() || conts.iter().any(|c| c.is_empty()) {
        bail!("multiple choice needs a non-empty context and non-empty choices");
    }
    let dev = model.device();
    let mut cache = KvCache::new(model);
    let first = forward_cached(model, &Tensor::new(ctx, dev)?.unsqueeze(0)?, &mut cache)?;
    let first = log_softmax_rows(&first)?;
    let hit = |row: &[f64], tok: u32| usize::from(argmax_first(row) == Some(tok as usize));
    let mut out: Vec<ChoiceLl> = conts
        .iter()
        .map(|c| ChoiceLl {
            logprob: first[0][c[0] as usize],
            tokens: c.len(),
            greedy_hits: hit(&first[0], c[0]),
        })
        .collect();
    let longest = conts.iter().map(Vec::len).max().unwrap_or(1);
    if longest > 1 {
        let n = conts.len();
        let mut ids = Vec::with_capacity(n * (longest - 1));
        for c in conts {
            ids.extend_from_slice(&c[..c.len() - 1]);
            ids.resize(ids.len() + longest - c.len(), PAD);
        }
        let ids = Tensor::from_vec(ids, (n, longest - 1), dev)?;
        let mut rep = cache.repeat(n)?;
        let logits = forward_cached_all(model, &ids, &mut rep)?; // (n, longest-1, vocab)
        let vocab = logits.dim(2)?;
        let rows = log_softmax_rows(&logits.reshape((n * (longest - 1), vocab))?)?;
        for (i, c) in conts.iter().enumerate() {
            for (j, &tok) in c.iter().enumerate().skip(1) {
                let row = &rows[i * (longest - 1) + j - 1];
                out[i].logprob += row[tok as usize];
                out[i].greedy_hits += hit(row, tok);
            }
        }
    }
    Ok(out)
}

fn log_softmax_rows(logits: &Tensor) -> Result<Vec<Vec<f64>>> {
    let l = logits.to_dtype(DType::F64)?;
    let max = l.max_keepdim(D::Minus1)?;
    let shifted = l.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?.to_vec2()?)
}

/// Index of the largest value; the first one on ties. None for an empty list or NaN.
pub fn argmax_first(xs: &[f64]) -> Option<usize> {
    if xs.iter().any(|x| x.is_nan()) {
        return None;
    }
    let mut best: Option<usize> = None;
    for (i, &x) in xs.iter().enumerate() {
        if best.is_none_or(|b| x > xs[b]) {
            best = Some(i);
        }
    }
    best
}

/// (acc prediction, acc_norm prediction) from log-likelihoods and each choice's length in bytes.
pub fn predictions(logprobs: &[f64], cont_bytes: &[usize]) -> Option<(usize, usize)> {
    let norm: Vec<f64> = logprobs.iter().zip(cont_bytes).map(|(lp, &b)| lp / b.max(1) as f64).collect();
    Some((argmax_first(logprobs)?, argmax_first(&norm)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_first_choice() {
        assert_eq!(argmax_first(&[-1.0, -0.5, -0.5]), Some(1));
        assert_eq!(argmax_first(&[-2.0, -2.0]), Some(0));
        assert_eq!(argmax_first(&[]), None);
        assert_eq!(argmax_first(&[0.0, f64::NAN]), None);
    }

    #[test]
    fn acc_norm_divides_by_bytes() {
        // The long choice loses on the sum and wins per byte.
        let (acc, norm) = predictions(&[-3.0, -4.0], &[3, 20]).unwrap();
        assert_eq!((acc, norm), (0, 1));
    }
}
