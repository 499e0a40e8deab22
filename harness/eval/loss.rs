//! Teacher-forced evaluation on the held-out split: loss, perplexity, token accuracy and
//! teacher-forced exact match over the answer tokens.

use crate::data::{Batch, Example};
use crate::model::Decoder;
use crate::train::target_logits;
use anyhow::Result;
use candle_core::{DType, D};

use super::result::EvalResult;

pub fn evaluate(model: &Decoder, examples: &[Example], batch_size: usize) -> Result<EvalResult> {
    let (mut loss_sum, mut right, mut tokens, mut exact) = (0.0f64, 0usize, 0usize, 0usize);
    for chunk in examples.chunks(batch_size.max(1)) {
        let batch = Batch::new(chunk, model.device())?;
        let logits = target_logits(model, &batch)?;
        let loss = batch_loss_from_logits(&logits, &batch)?;
        loss_sum += loss * batch.n_targets as f64;
        let pred: Vec<u32> = logits.argmax(D::Minus1)?.to_vec1()?;
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
    let loss = loss_sum / tokens.max(1) as f64;
    Ok(EvalResult {
        loss,
        perplexity: Some(loss.exp()),
        score: None,
        token_accuracy: right as f64 / tokens.max(1) as f64,
        exact_match: exact as f64 / examples.len().max(1) as f64,
        examples: examples.len(),
        target_tokens: tokens,
    })
}

fn batch_loss_from_logits(logits: &candle_core::Tensor, batch: &Batch) -> Result<f64> {
    Ok(crate::model::ops::cross_entropy(logits, &batch.targets)?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?)
}
