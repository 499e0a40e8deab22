//! Stacking examples into the tensors one training or eval step needs.

use super::synthetic::Example;
use candle_core::{Device, Result, Tensor};

/// Token id written into padding positions. Padding sits at the end of a sequence, and
/// attention is causal, so no real position ever sees it; its positions carry no loss.
pub const PAD: u32 = 0;

/// A batch: inputs and, for the positions that carry loss only, their row in the flattened
/// (batch·seq) hidden states and their target token. Examples of different lengths are padded
/// at the end to the longest.
#[derive(Debug, Clone)]
pub struct Batch {
    /// (batch, seq) u32.
    pub inputs: Tensor,
    /// (n_targets) u32: rows of the flattened hidden states that carry loss.
    pub rows: Tensor,
    /// (n_targets) u32: the token each of those rows must predict.
    pub targets: Tensor,
    pub n_targets: usize,
    /// Real (not padding) input positions, for throughput.
    pub n_tokens: usize,
    /// Input positions computed, padding included (batch · longest).
    pub n_positions: usize,
}

impl Batch {
    pub fn new(examples: &[Example], device: &Device) -> Result<Batch> {
        let b = examples.len();
        let t = examples.iter().map(|e| e.loss_mask.len()).max().unwrap_or(0);
        if b == 0 || t == 0 {
            candle_core::bail!("a batch needs at least one example of at least one position");
        }
        let mut inputs = Vec::with_capacity(b * t);
        let (mut rows, mut targets) = (Vec::new(), Vec::new());
        let mut n_tokens = 0;
        for (i, e) in examples.iter().enumerate() {
            let n = e.loss_mask.len();
            if e.tokens.len() != n + 1 {
                candle_core::bail!(
                    "example {i}: {} tokens for {n} loss-mask positions (expected one token more than positions)",
                    e.tokens.len()
                );
            }
            n_tokens += n;
            inputs.extend_from_slice(&e.tokens[..n]);
            inputs.resize((i + 1) * t, PAD);
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
            n_tokens,
            n_positions: b * t,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_shorter_examples_at_the_end_without_loss() {
        let long = Example {
            tokens: vec![5, 6, 7, 8],
            loss_mask: vec![false, true, true],
        };
        let short = Example {
            tokens: vec![9, 10],
            loss_mask: vec![true],
        };
        let b = Batch::new(&[long, short], &Device::Cpu).unwrap();
        assert_eq!(b.inputs.to_vec2::<u32>().unwrap(), vec![vec![5, 6, 7], vec![9, PAD, PAD]]);
        assert_eq!(b.rows.to_vec1::<u32>().unwrap(), vec![1, 2, 3]);
        assert_eq!(b.targets.to_vec1::<u32>().unwrap(), vec![7, 8, 10]);
        assert_eq!((b.n_tokens, b.n_positions), (4, 6));
    }
}
