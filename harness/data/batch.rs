//! Stacking examples into the tensors one training or eval step needs.

use super::task::Example;
use candle_core::{Device, Result, Tensor};

/// A batch: inputs and, for the positions that carry loss only, their row in the flattened
/// (batch·seq) hidden states and their target token.
#[derive(Debug, Clone)]
pub struct Batch {
    /// (batch, seq) u32.
    pub inputs: Tensor,
    /// (n_targets) u32: rows of the flattened hidden states that carry loss.
    pub rows: Tensor,
    /// (n_targets) u32: the token each of those rows must predict.
    pub targets: Tensor,
    pub n_targets: usize,
    /// Tokens processed (batch · seq), for throughput.
    pub n_tokens: usize,
}

impl Batch {
    pub fn new(examples: &[Example], device: &Device) -> Result<Batch> {
        let b = examples.len();
        let t = examples[0].loss_mask.len();
        let mut inputs = Vec::with_capacity(b * t);
        let (mut rows, mut targets) = (Vec::new(), Vec::new());
        for (i, e) in examples.iter().enumerate() {
            inputs.extend_from_slice(&e.tokens[..t]);
            for (p, &m) in e.loss_mask.iter().enumerate() {
                if m {
                    rows.push((i * t + p) as u32);
                    targets.push(e.tokens[p + 1]);
                }
            }
        }
        let n_targets = rows.len();
        Ok(Batch {
            inputs: Tensor::from_vec(inputs, (b, t), device)?,
            rows: Tensor::from_vec(rows, n_targets, device)?,
            targets: Tensor::from_vec(targets, n_targets, device)?,
            n_targets,
            n_tokens: b * t,
        })
    }
}
