//! Synthetic tasks over raw token ids, so any model (even a random-init preset with no
//! tokenizer) can be trained and evaluated on something learnable.
//!
//! `reverse`: `BOS s₁…sₙ SEP sₙ…s₁ EOS`, symbols drawn from 16 token ids; loss and accuracy on
//! the reversed half only (the answer), as in instruction tuning with a masked prompt.
//! `reverse-lm`: the same sequences with loss on every token, as plain causal-LM training
//! (what memory and speed comparisons against other tools use: they compute every position).
//!
//! Held-out split: an example belongs to the eval split iff a hash of its symbols is 0 mod 8,
//! so no eval example can ever be drawn for training, at any seed or length.

use rand::{rngs::StdRng, Rng, SeedableRng};
use sha2::{Digest, Sha256};

const BOS: u32 = 1;
const SEP: u32 = 2;
const EOS: u32 = 3;
const FIRST_SYMBOL: u32 = 4;
const ALPHABET: u32 = 16;
/// Seed of the eval set: the same held-out examples for every cell of every suite.
const EVAL_SEED: u64 = 0x5eed_e7a1;

/// The tasks `task:` can name, with what they train.
pub const SYNTHETIC: &[(&str, &str)] = &[
    ("reverse", "reverse a sequence of 16 symbols; loss on the answer tokens only"),
    ("reverse-lm", "the same sequences; loss on every token (plain causal LM)"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Reverse,
    ReverseLm,
}

impl TaskKind {
    pub fn parse(s: &str) -> Result<TaskKind, String> {
        match s {
            "reverse" => Ok(TaskKind::Reverse),
            "reverse-lm" => Ok(TaskKind::ReverseLm),
            _ => Err(format!(
                "unknown task `{s}`; expected one of: {}",
                SYNTHETIC.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

/// One sequence: `tokens` has seq_len + 1 ids; position i predicts tokens[i + 1], and
/// `loss_mask[i]` says whether that prediction counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub tokens: Vec<u32>,
    pub loss_mask: Vec<bool>,
}

/// A task instance for one sequence length.
#[derive(Debug, Clone)]
pub struct Task {
    pub kind: TaskKind,
    pub seq_len: usize,
}

impl Task {
    /// Checks the task fits the model and the length; the error says what was expected.
    pub fn new(kind: TaskKind, seq_len: usize, vocab_size: usize) -> Result<Task, String> {
        if vocab_size < (FIRST_SYMBOL + ALPHABET) as usize {
            return Err(format!(
                "the task needs a vocabulary of at least {} tokens, the model has {vocab_size}",
                FIRST_SYMBOL + ALPHABET
            ));
        }
        if seq_len < 8 {
            return Err(format!("seq_len must be at least 8 for this task, found {seq_len}"));
        }
        Ok(Task { kind, seq_len })
    }

    /// Positions per sequence that carry loss.
    pub fn loss_positions(&self) -> usize {
        match self.kind {
            TaskKind::ReverseLm => self.seq_len,
            TaskKind::Reverse => self.symbols_len() + 1,
        }
    }

    fn symbols_len(&self) -> usize {
        // BOS n SEP n EOS [EOS padding] = seq_len + 1 tokens
        (self.seq_len - 2) / 2
    }

    fn make(&self, symbols: &[u32]) -> Example {
        let n = symbols.len();
        let mut tokens = Vec::with_capacity(self.seq_len + 1);
        tokens.push(BOS);
        tokens.extend_from_slice(symbols);
        tokens.push(SEP);
        tokens.extend(symbols.iter().rev());
        tokens.resize(self.seq_len + 1, EOS);
        // Position i predicts tokens[i+1]; the answer starts at tokens[n+2], predicted at n+1.
        let loss_mask = (0..self.seq_len)
            .map(|i| match self.kind {
                TaskKind::ReverseLm => true,
                TaskKind::Reverse => i > n && i <= 2 * n + 1,
            })
            .collect();
        Example { tokens, loss_mask }
    }

    fn draw(&self, rng: &mut StdRng, want_eval: bool) -> Example {
        loop {
            let symbols: Vec<u32> = (0..self.symbols_len())
                .map(|_| FIRST_SYMBOL + rng.random_range(0..ALPHABET))
                .collect();
            if is_eval(&symbols) == want_eval {
                return self.make(&symbols);
            }
        }
    }

    /// An endless stream of training examples for a seed.
    pub fn train_stream(&self, seed: u64) -> impl Iterator<Item = Example> + '_ {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x7261_696e);
        std::iter::repeat_with(move || self.draw(&mut rng, false))
    }

    /// The held-out set: the first `n` eval-split examples, the same for every seed.
    pub fn eval_set(&self, n: usize) -> Vec<Example> {
        let mut rng = StdRng::seed_from_u64(EVAL_SEED);
        (0..n).map(|_| self.draw(&mut rng, true)).collect()
    }
}

fn is_eval(symbols: &[u32]) -> bool {
    let mut h = Sha256::new();
    for s in symbols {
        h.update(s.to_le_bytes());
    }
    h.finalize()[0] % 8 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_layout_and_mask() {
        let t = Task::new(TaskKind::Reverse, 9, 256).unwrap();
        let e = t.make(&[5, 6, 7]);
        assert_eq!(e.tokens, vec![BOS, 5, 6, 7, SEP, 7, 6, 5, EOS, EOS]);
        // predictions of 7,6,5,EOS (positions 4..=7) count
        assert_eq!(e.loss_mask, vec![false, false, false, false, true, true, true, true, false]);
        assert_eq!(t.loss_positions(), e.loss_mask.iter().filter(|&&m| m).count());
    }

    #[test]
    fn train_never_yields_eval_examples() {
        let t = Task::new(TaskKind::Reverse, 10, 256).unwrap();
        let eval = t.eval_set(50);
        assert!(eval.iter().all(|e| is_eval(&e.tokens[1..5])));
        let train: Vec<Example> = t.train_stream(3).take(400).collect();
        assert!(train.iter().all(|e| !eval.contains(e)));
        assert_eq!(t.eval_set(50), eval, "eval set is deterministic");
    }
}
