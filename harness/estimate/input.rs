//! The estimator's input from a cell's plan — the one way an [`EstimateInput`] is made (the
//! per-cell estimate, `ftbench estimate` and the article's table all build a plan first) — and
//! the shapes it is made at: the most a batch can hold before the data is read, or the batches
//! the cell will really train on once its task is prepared.

use super::memory::{EstimateInput, Implementation};
use crate::data::{Example, PreparedTask};
use crate::suite::Plan;

/// The batch shapes an estimate is made at.
#[derive(Debug, Clone, PartialEq)]
pub struct Shapes {
    pub batch: u64,
    /// Positions per sequence (the padded length).
    pub seq_len: u64,
    /// Positions that carry loss in the batch (their logits are computed).
    pub loss_tokens: u64,
    /// How they were found, for the record.
    pub how: String,
}

impl Shapes {
    /// The most a batch of the plan can hold: `batch_size` × `seq_len`, with loss on every
    /// position a synthetic task puts it on, or on every position of a text task (its lengths
    /// are known only once its tokenizer has run): an upper bound for text tasks.
    pub fn upper_bound(plan: &Plan, vocab_size: usize) -> Shapes {
        let (b, t) = (plan.train.batch_size as u64, plan.train.seq_len as u64);
        let loss_positions = if plan.eval.task.is_text() {
            t
        } else {
            let cx = crate::data::TaskContext {
                seq_len: plan.train.seq_len,
                vocab_size,
                tokenizer: None,
                eos: &[],
                format: plan.eval.format.clone(),
                eval_examples: 0,
            };
            plan.eval.task.prepare(&cx).map_or(t, |p| p.loss_positions() as u64)
        };
        Shapes {
            batch: b,
            seq_len: t,
            loss_tokens: b * loss_positions,
            how: if plan.eval.task.is_text() {
                format!("batch_size {b} × seq_len {t}, loss on every position: an upper bound (the task's lengths were not read)")
            } else {
                format!("batch_size {b} × seq_len {t}, as the synthetic task fills every batch")
            },
        }
    }

    /// The distinct shapes of the micro-batches the cell will train on (the same stream of
    /// examples its training loop draws, seeded alike), and how many micro-batches there are. A
    /// synthetic task fills every batch alike: one shape, without drawing the stream.
    pub fn of_training(plan: &Plan, task: &PreparedTask) -> (Vec<Shapes>, usize) {
        let micro = plan.train.steps as usize * plan.train.grad_accum;
        if !plan.eval.task.is_text() {
            let (b, t) = (plan.train.batch_size as u64, plan.train.seq_len as u64);
            let shape = Shapes {
                batch: b,
                seq_len: t,
                loss_tokens: b * task.loss_positions() as u64,
                how: String::new(),
            };
            return (vec![shape], micro);
        }
        let mut stream = task.train_stream(plan.seed);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..micro {
            let batch: Vec<Example> = stream.by_ref().take(plan.train.batch_size).collect();
            let t = batch.iter().map(|e| e.loss_mask.len()).max().unwrap_or(0) as u64;
            let loss: u64 = batch.iter().map(|e| e.loss_mask.iter().filter(|m| **m).count() as u64).sum();
            seen.insert((batch.len() as u64, t, loss));
        }
        let shapes = seen
            .into_iter()
            .map(|(batch, seq_len, loss_tokens)| Shapes {
                batch,
                seq_len,
                loss_tokens,
                how: String::new(),
            })
            .collect();
        (shapes, micro)
    }
}

impl EstimateInput {
    /// The estimator's input for `plan` at `at`: ftbench's own graph (fused or composed ops, as
    /// the plan runs), on the plan's device.
    pub fn of_plan(plan: &Plan, at: Shapes) -> EstimateInput {
        let m = &plan.method;
        EstimateInput {
            method: m.method,
            batch: at.batch,
            seq_len: at.seq_len,
            loss_tokens: at.loss_tokens,
            precision: plan.precision,
            optimizer: plan.optimizer.clone(),
            recompute: plan.train.recompute,
            lora_rank: m.lora.rank as u64,
            lora_targets: m.lora.targets.clone(),
            nf4_block_size: m.nf4_block_size as u64,
            nf4_double_quant: m.nf4_double_quant,
            implementation: if plan.train.fused_ops {
                Implementation::Ftbench
            } else {
                Implementation::FtbenchComposed
            },
            gpu: plan.device.is_cuda(),
            shapes: at.how,
        }
    }
}
