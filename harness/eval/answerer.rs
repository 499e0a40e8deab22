//! What scoring asks of a model: log-likelihoods of continuations, greedy generation and
//! teacher-forced metrics. ftbench's decoder answers each request as it comes; another engine's
//! answers, computed in its own process from the same requests, are replayed in the same order
//! (engine/replay.rs). Either way the scoring code (score.rs) is the same.

use super::choice::{choice_loglik, ChoiceLl};
use super::greedy::{generate_until, Generation};
use super::loss::evaluate;
use super::result::EvalResult;
use crate::data::Example;
use crate::load::Tokenizer;
use crate::model::Decoder;
use anyhow::Result;

pub trait Answerer {
    /// Each continuation's log-likelihood after `ctx`, with its greedy hits.
    fn loglik(&self, ctx: &[u32], conts: &[Vec<u32>]) -> Result<Vec<ChoiceLl>>;
    /// Greedy continuation of `ctx` until a stop sequence (decoded with `tok`), an `eos` token
    /// or `max_new` tokens.
    fn generate(&self, tok: Option<&Tokenizer>, ctx: &[u32], max_new: usize, stop: &[String], eos: &[u32]) -> Result<Generation>;
    /// Teacher-forced loss, token accuracy and exact match over `examples` (in batches of
    /// `batch_size` where the model batches).
    fn forced(&self, examples: &[Example], batch_size: usize) -> Result<EvalResult>;
}

impl Answerer for Decoder {
    fn loglik(&self, ctx: &[u32], conts: &[Vec<u32>]) -> Result<Vec<ChoiceLl>> {
        choice_loglik(self, ctx, conts)
    }
    fn generate(&self, tok: Option<&Tokenizer>, ctx: &[u32], max_new: usize, stop: &[String], eos: &[u32]) -> Result<Generation> {
        generate_until(self, tok, ctx, max_new, stop, eos)
    }
    fn forced(&self, examples: &[Example], batch_size: usize) -> Result<EvalResult> {
        evaluate(self, examples, batch_size)
    }
}
