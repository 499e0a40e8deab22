//! Another engine's answers to the evaluation requests (engines/PROTOCOL.md "answers"), replayed
//! to the scoring code in the order it asks: ftbench computes every metric itself from them.
//! A request that does not match what the engine was asked, or answers left over or missing,
//! are errors: scores never come from answers to other questions.

use crate::data::Example;
use crate::eval::{stop_at, Answerer, ChoiceLl, Ended, EvalResult, Generation};
use crate::load::Tokenizer;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::VecDeque;

#[derive(Debug, Clone, Deserialize)]
pub struct ForcedAnswer {
    pub nll: f64,
    pub tokens: usize,
    pub hits: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChoiceAnswer {
    pub logprob: f64,
    pub tokens: usize,
    pub greedy_hits: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GenerateAnswer {
    pub ids: Vec<u32>,
    pub eos: bool,
    pub prefill_s: f64,
    pub decode_s: f64,
}

/// The answers file.
#[derive(Debug, Clone, Deserialize)]
pub struct Answers {
    #[serde(default)]
    pub forced: Vec<ForcedAnswer>,
    #[serde(default)]
    pub choice: Vec<Vec<ChoiceAnswer>>,
    #[serde(default)]
    pub generate: Vec<GenerateAnswer>,
}

/// Answers handed out in request order.
pub struct Replayed {
    forced: RefCell<Option<Vec<ForcedAnswer>>>,
    choice: RefCell<VecDeque<Vec<ChoiceAnswer>>>,
    generate: RefCell<VecDeque<GenerateAnswer>>,
}

impl Replayed {
    pub fn new(a: Answers) -> Self {
        Replayed {
            forced: RefCell::new((!a.forced.is_empty()).then_some(a.forced)),
            choice: RefCell::new(a.choice.into()),
            generate: RefCell::new(a.generate.into()),
        }
    }

    /// Fails if an answer was never asked for.
    pub fn finish(&self) -> Result<()> {
        let (f, c, g) = (
            self.forced.borrow().as_ref().map_or(0, Vec::len),
            self.choice.borrow().len(),
            self.generate.borrow().len(),
        );
        if f + c + g > 0 {
            bail!("the engine answered requests that were not made: {f} teacher-forced, {c} multiple-choice, {g} generation left over");
        }
        Ok(())
    }
}

impl Answerer for Replayed {
    fn loglik(&self, _ctx: &[u32], conts: &[Vec<u32>]) -> Result<Vec<ChoiceLl>> {
        let a = self
            .choice
            .borrow_mut()
            .pop_front()
            .context("the engine gave fewer multiple-choice answers than requests")?;
        if a.len() != conts.len() || a.iter().zip(conts).any(|(a, c)| a.tokens != c.len()) {
            bail!(
                "the engine's multiple-choice answer does not match its request ({} choices asked, {} answered)",
                conts.len(),
                a.len()
            );
        }
        Ok(a.iter()
            .map(|c| ChoiceLl {
                logprob: c.logprob,
                tokens: c.tokens,
                greedy_hits: c.greedy_hits,
            })
            .collect())
    }

    fn generate(&self, tok: Option<&Tokenizer>, _ctx: &[u32], max_new: usize, stop: &[String], _eos: &[u32]) -> Result<Generation> {
        let a = self
            .generate
            .borrow_mut()
            .pop_front()
            .context("the engine gave fewer generations than requests")?;
        if a.ids.len() > max_new {
            bail!("the engine generated {} tokens, more than max_new_tokens {max_new}", a.ids.len());
        }
        // The same cut as live decoding (eval/greedy.rs): the text after each new token, ended
        // at the first stop sequence seen.
        let (mut text, mut n, mut ended) = (String::new(), a.ids.len(), if a.eos { Ended::Eos } else { Ended::MaxNewTokens });
        if let Some(tok) = tok {
            for k in 1..=a.ids.len() {
                text = tok.decode(&a.ids[..k])?;
                if let Some(cut) = stop_at(&text, stop) {
                    text.truncate(cut);
                    (n, ended) = (k, Ended::Stop);
                    break;
                }
            }
        }
        Ok(Generation {
            text,
            new_tokens: n + usize::from(ended == Ended::Eos),
            ended,
            prefill_s: a.prefill_s,
            decode_s: a.decode_s,
        })
    }

    fn forced(&self, examples: &[Example], _batch_size: usize) -> Result<EvalResult> {
        let a = self
            .forced
            .borrow_mut()
            .take()
            .context("the engine gave no teacher-forced answers")?;
        if a.len() != examples.len() {
            bail!("the engine answered {} teacher-forced examples of {}", a.len(), examples.len());
        }
        let (mut nll, mut right, mut tokens, mut exact) = (0.0, 0, 0, 0);
        for (ans, e) in a.iter().zip(examples) {
            let n = e.loss_mask.iter().filter(|&&m| m).count();
            if ans.tokens != n || ans.hits > n {
                bail!(
                    "the engine's teacher-forced answer covers {} positions ({} right) where the example has {n}",
                    ans.tokens,
                    ans.hits
                );
            }
            nll += ans.nll;
            right += ans.hits;
            tokens += n;
            exact += usize::from(ans.hits == n);
        }
        Ok(EvalResult::from_sums(nll, right, tokens, exact, examples.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Task, TaskKind};
    use crate::method::{self, MethodConfig};
    use crate::model::{preset, random_weights};
    use candle_core::{DType, Device};

    #[test]
    fn replayed_answers_score_as_the_live_model_does() {
        let cfg = preset("tiny").unwrap();
        let dev = Device::Cpu;
        let mc = MethodConfig::defaults(crate::suite::Method::named("full"), 0);
        let d = method::build(&cfg, &mut random_weights(&cfg, 3, DType::F32, &dev).unwrap(), &mc, DType::F32, &dev)
            .unwrap()
            .decoder;
        let examples: Vec<Example> = Task::new(TaskKind::ReverseLm, 12, cfg.vocab_size)
            .unwrap()
            .train_stream(1)
            .take(5)
            .collect();
        // What another engine would answer: each example's summed NLL and hits, one at a time.
        let forced = examples
            .iter()
            .map(|e| {
                let r = d.forced(std::slice::from_ref(e), 1).unwrap();
                let n = r.target_tokens;
                ForcedAnswer {
                    nll: r.loss * n as f64,
                    tokens: n,
                    hits: (r.token_accuracy * n as f64).round() as usize,
                }
            })
            .collect();
        let (ctx, conts) = (vec![1u32, 2, 3], vec![vec![4u32, 5], vec![6]]);
        let live = d.loglik(&ctx, &conts).unwrap();
        let choice = vec![live
            .iter()
            .map(|c| ChoiceAnswer {
                logprob: c.logprob,
                tokens: c.tokens,
                greedy_hits: c.greedy_hits,
            })
            .collect()];
        let replay = Replayed::new(Answers {
            forced,
            choice,
            generate: vec![],
        });
        let (a, b) = (d.forced(&examples, 2).unwrap(), replay.forced(&examples, 2).unwrap());
        assert!((a.loss - b.loss).abs() < 1e-5 * a.loss, "{a:?} {b:?}");
        assert_eq!(
            (a.token_accuracy, a.exact_match, a.target_tokens),
            (b.token_accuracy, b.exact_match, b.target_tokens)
        );
        assert_eq!(replay.loglik(&ctx, &conts).unwrap(), live);
        replay.finish().unwrap();
        // A request the engine did not answer is an error, not a score.
        assert!(replay.loglik(&ctx, &conts).is_err());
    }
}
