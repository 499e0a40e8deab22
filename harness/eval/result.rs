//! What an evaluation produces, as records store it: held-out metrics, a real task's score with
//! its per-item outcomes, and sample predictions.

use crate::data::DataInfo;
use serde::{Deserialize, Serialize};

/// Held-out metrics (teacher-forced; exact match under teacher forcing equals greedy decoding's,
/// since a sequence is all right only if every next-token argmax is right).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvalResult {
    /// Mean cross-entropy per target token (nats).
    pub loss: f64,
    /// Fraction of target tokens whose argmax is right.
    pub token_accuracy: f64,
    /// Fraction of sequences with every target token right.
    pub exact_match: f64,
    pub examples: usize,
    pub target_tokens: usize,
    /// exp(loss): perplexity of the answer tokens (records before it existed: absent).
    #[serde(default)]
    pub perplexity: Option<f64>,
    /// The task's own score (multiple choice or generative exact match) on real tasks.
    #[serde(default)]
    pub score: Option<TaskScore>,
}

impl EvalResult {
    /// Teacher-forced metrics from their sums: summed cross-entropy over `tokens` target tokens,
    /// `right` of them the argmax, `exact` of `examples` sequences right in every token.
    pub fn from_sums(loss_sum: f64, right: usize, tokens: usize, exact: usize, examples: usize) -> EvalResult {
        let loss = loss_sum / tokens.max(1) as f64;
        EvalResult {
            loss,
            perplexity: Some(loss.exp()),
            score: None,
            token_accuracy: right as f64 / tokens.max(1) as f64,
            exact_match: exact as f64 / examples.max(1) as f64,
            examples,
            target_tokens: tokens,
        }
    }
}

/// One item's prediction, for people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Prediction {
    pub id: String,
    /// The end of the prompt (at most 240 characters).
    pub prompt_tail: String,
    pub gold: String,
    /// The chosen choice, or the generated answer (after extraction).
    pub predicted: String,
    pub correct: bool,
    /// Multiple choice: each choice's summed log-likelihood.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logprobs: Vec<f64>,
}

/// A task's score on its held-out items.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskScore {
    pub task: String,
    /// `multiple_choice` or `generative`.
    pub kind: String,
    /// The primary metric's name: `acc` (multiple choice) or `exact_match` (generative).
    pub metric: String,
    /// Items scored.
    pub n: usize,
    /// The primary metric (fraction).
    pub value: f64,
    /// Its standard error over the evaluation sample, √(p(1−p)/(n−1)).
    pub stderr: Option<f64>,
    /// Multiple choice: accuracy with log-likelihood per byte of the choice.
    pub acc_norm: Option<f64>,
    pub acc_norm_stderr: Option<f64>,
    /// One character per item in `data.held_out_ids` order: `1` right, `0` wrong (primary metric).
    pub correct: String,
    /// The same for acc_norm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_norm: Option<String>,
    /// Generative: outputs that were empty after the stop sequence cut.
    #[serde(default)]
    pub empty_outputs: usize,
    /// Generative: outputs that ran to max_new_tokens without a stop.
    #[serde(default)]
    pub hit_max_new_tokens: usize,
    pub samples: Vec<Prediction>,
    pub data: DataInfo,
    /// Wall seconds of this scoring.
    pub secs: f64,
}

impl TaskScore {
    /// Per-item outcomes of the primary metric.
    pub fn outcomes(&self) -> Vec<bool> {
        self.correct.chars().map(|c| c == '1').collect()
    }
}
