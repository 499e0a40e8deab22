//! Scoring a real task's held-out items: multiple choice (acc, acc_norm) or generative exact
//! match, with each run's standard error, per-item outcomes (for paired comparisons) and a
//! sample of what the model answered.

use super::answerer::Answerer;
use super::choice::predictions;
use super::greedy::Ended;
use super::normalize::{extract, matches_any};
use super::result::{EvalResult, Prediction, TaskScore};
use super::stats::binomial_stderr;
use crate::data::{Scoring, TextTask};
use crate::load::Tokenizer;
use anyhow::{Context, Result};
use std::time::Instant;

/// Predictions kept in the record, the first items in evaluation order.
pub const SAMPLES_KEPT: usize = 12;

fn bits(v: &[bool]) -> String {
    v.iter().map(|&b| if b { '1' } else { '0' }).collect()
}

fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    s.chars().skip(count.saturating_sub(n)).collect()
}

/// Teacher-forced metrics of the gold continuations, summed while scoring multiple choice.
#[derive(Debug, Clone, Copy, Default)]
struct Gold {
    nll: f64,
    tokens: usize,
    hits: usize,
    exact: usize,
}

impl Gold {
    fn result(&self, examples: usize) -> EvalResult {
        let loss = self.nll / self.tokens.max(1) as f64;
        EvalResult {
            loss,
            token_accuracy: self.hits as f64 / self.tokens.max(1) as f64,
            exact_match: self.exact as f64 / examples.max(1) as f64,
            examples,
            target_tokens: self.tokens,
            perplexity: Some(loss.exp()),
            score: None,
        }
    }
}

/// Scores every held-out item of `task`. For multiple choice it also gives the teacher-forced
/// metrics of the gold choices (loss, perplexity, token accuracy), computed in the same pass;
/// generative tasks get theirs from [`super::evaluate`].
pub fn score_task(
    model: &dyn Answerer,
    task: &TextTask,
    tok: &Tokenizer,
    max_new_tokens: usize,
) -> Result<(TaskScore, Option<EvalResult>)> {
    let t0 = Instant::now();
    let n = task.eval.len();
    let mut correct = Vec::with_capacity(n);
    let mut correct_norm = Vec::with_capacity(n);
    let mut samples = Vec::new();
    let (mut empty, mut maxed) = (0, 0);
    let mut gold_tf = Gold::default();
    for item in &task.eval {
        let (ok, predicted, logprobs) = match &item.scoring {
            Scoring::Choice { conts, cont_bytes, gold } => {
                let ll = model.loglik(&item.ctx, conts).with_context(|| format!("item {}", item.id))?;
                let g = ll[*gold];
                gold_tf.nll -= g.logprob;
                gold_tf.tokens += g.tokens;
                gold_tf.hits += g.greedy_hits;
                gold_tf.exact += usize::from(g.greedy_hits == g.tokens);
                let lp: Vec<f64> = ll.iter().map(|c| c.logprob).collect();
                let (p, pn) = predictions(&lp, cont_bytes).with_context(|| format!("item {}: log-likelihood is NaN", item.id))?;
                correct_norm.push(pn == *gold);
                (p == *gold, item.labels[p].clone(), lp)
            }
            Scoring::Text { answers } => {
                let g = model
                    .generate(Some(tok), &item.ctx, max_new_tokens, &task.stop, &task.eos)
                    .with_context(|| format!("item {}", item.id))?;
                let answer = extract(&g.text, task.extract);
                empty += usize::from(answer.trim().is_empty());
                maxed += usize::from(g.ended == Ended::MaxNewTokens);
                (matches_any(&answer, answers), answer, vec![])
            }
        };
        correct.push(ok);
        if samples.len() < SAMPLES_KEPT {
            samples.push(Prediction {
                id: item.id.clone(),
                prompt_tail: tail(&item.context, 240),
                gold: match &item.scoring {
                    Scoring::Choice { gold, .. } => item.labels[*gold].clone(),
                    Scoring::Text { answers } => answers.join(" | "),
                },
                predicted,
                correct: ok,
                logprobs,
            });
        }
    }
    let right = correct.iter().filter(|&&c| c).count();
    let mc = task.multiple_choice;
    let right_norm = correct_norm.iter().filter(|&&c| c).count();
    let tf = mc.then(|| gold_tf.result(n));
    let score = TaskScore {
        task: task.name.clone(),
        kind: if mc { "multiple_choice" } else { "generative" }.into(),
        metric: if mc { "acc" } else { "exact_match" }.into(),
        n,
        value: right as f64 / n.max(1) as f64,
        stderr: binomial_stderr(right, n),
        acc_norm: mc.then(|| right_norm as f64 / n.max(1) as f64),
        acc_norm_stderr: if mc { binomial_stderr(right_norm, n) } else { None },
        correct: bits(&correct),
        correct_norm: mc.then(|| bits(&correct_norm)),
        empty_outputs: empty,
        hit_max_new_tokens: maxed,
        samples,
        data: task.info.clone(),
        secs: t0.elapsed().as_secs_f64(),
    };
    Ok((score, tf))
}
