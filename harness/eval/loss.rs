//! Teacher-forced evaluation on the held-out split: loss, perplexity, token accuracy and
//! teacher-forced exact match over the answer tokens.

use crate::data::{Batch, Example};
use crate::model::Decoder;
use crate::train::target_rows;
use anyhow::Result;
use candle_core::{DType, Tensor, D};

use super::result::EvalResult;

/// Logit values evaluated at once (16 MB in f32): the target rows go through the LM head in
/// pieces of at most this many logits, so a large vocabulary with loss on every position
/// (Gemma's 262144 × 4 sequences × 128 positions: 537 MB, and the log-softmax's copies of it)
/// never holds its logits whole. A piece and its temporaries stay under what training held:
/// at 64 MB pieces, evaluating 4 × 128 tokens peaked 230 MB (SmolLM2-135M LoRA, 1.75 GB) above
/// the training estimate; at 16 MB, 1.55 GB against the estimate's 1.51 (Gemma-3-270M LoRA 1.91
/// against 1.90).
const LOGIT_VALUES: usize = 1 << 22;

pub fn evaluate(model: &Decoder, examples: &[Example], batch_size: usize) -> Result<EvalResult> {
    let (mut loss_sum, mut right, mut tokens, mut exact) = (0.0f64, 0usize, 0usize, 0usize);
    for chunk in examples.chunks(batch_size.max(1)) {
        let batch = Batch::new(chunk, model.device())?;
        let (batch_loss_sum, pred) = loss_and_predictions(model, &batch, LOGIT_VALUES)?;
        loss_sum += batch_loss_sum;
        let gold: Vec<u32> = batch.targets.to_vec1()?;
        let mut offset = 0;
        for e in chunk {
            let n = e.loss_mask.iter().filter(|&&m| m).count();
            let ok = (offset..offset + n).filter(|&i| pred[i] == gold[i]).count();
            right += ok;
            exact += usize::from(ok == n);
            offset += n;
        }
        tokens += batch.n_targets;
    }
    Ok(EvalResult::from_sums(loss_sum, right, tokens, exact, examples.len()))
}

/// The summed cross-entropy over the batch's targets and the argmax prediction at each, the
/// target rows taken through the LM head `logit_values` logits at a time.
fn loss_and_predictions(model: &Decoder, batch: &Batch, logit_values: usize) -> Result<(f64, Vec<u32>)> {
    let rows = target_rows(model, batch)?;
    let n = rows.dim(0)?;
    let per = (logit_values / model.cfg.vocab_size.max(1)).max(1);
    let (mut sum, mut pred) = (0.0, Vec::with_capacity(n));
    for start in (0..n).step_by(per) {
        let len = per.min(n - start);
        let logits = model.logits(&rows.narrow(0, start, len)?)?;
        let targets = batch.targets.narrow(0, start, len)?;
        sum += len as f64 * mean_loss(&logits, &targets)?;
        pred.extend(logits.argmax(D::Minus1)?.to_vec1::<u32>()?);
    }
    Ok((sum, pred))
}

fn mean_loss(logits: &Tensor, targets: &Tensor) -> Result<f64> {
    Ok(crate::model::ops::cross_entropy(logits, targets)?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Task, TaskKind};
    use crate::method::{self, MethodConfig};
    use crate::model::{preset, random_weights};
    use candle_core::Device;

    #[test]
    fn the_loss_over_pieces_of_rows_is_the_loss_over_all() {
        let cfg = preset("tiny").unwrap();
        let dev = Device::Cpu;
        let mc = MethodConfig::defaults(crate::suite::Method::named("full"), 0);
        let d = method::build(&cfg, &mut random_weights(&cfg, 3, DType::F32, &dev).unwrap(), &mc, DType::F32, &dev)
            .unwrap()
            .decoder;
        let task = Task::new(TaskKind::ReverseLm, 12, cfg.vocab_size).unwrap();
        let batch = Batch::new(&task.train_stream(1).take(3).collect::<Vec<_>>(), &dev).unwrap();
        let (whole, p1) = loss_and_predictions(&d, &batch, usize::MAX).unwrap();
        // One row at a time, and pieces that do not divide the rows evenly.
        for values in [cfg.vocab_size, 5 * cfg.vocab_size] {
            let (pieces, p2) = loss_and_predictions(&d, &batch, values).unwrap();
            assert!((whole - pieces).abs() < 1e-4 * whole.abs(), "{whole} vs {pieces}");
            assert_eq!(p1, p2);
        }
    }
}
