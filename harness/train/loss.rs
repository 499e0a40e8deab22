//! The training loss of a batch: cross-entropy over the positions that carry loss only.

use crate::data::Batch;
use crate::model::Decoder;
use candle_core::{Result, Tensor};

/// Mean cross-entropy over the batch's target positions. Only those rows of the hidden states
/// go through the LM head, so prompt positions never cost a vocabulary-wide matmul.
pub fn batch_loss(model: &Decoder, batch: &Batch) -> Result<Tensor> {
    model.loss(&target_rows(model, batch)?, &batch.targets)
}

/// Logits (n_targets, vocab) at the batch's target positions.
pub fn target_logits(model: &Decoder, batch: &Batch) -> Result<Tensor> {
    model.logits(&target_rows(model, batch)?)
}

/// Final hidden states (n_targets, hidden) at the batch's target positions.
pub fn target_rows(model: &Decoder, batch: &Batch) -> Result<Tensor> {
    let hidden = model.hidden_states(&batch.inputs)?;
    let (b, t, h) = hidden.dims3()?;
    hidden.reshape((b * t, h))?.index_select(&batch.rows, 0)
}
