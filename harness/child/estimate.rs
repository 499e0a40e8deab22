//! The cell's memory estimate at the shapes it will really train on: once the task is prepared
//! its training batches are known (the same seeded stream the loop draws), so a text task is no
//! longer estimated at batch × seq_len with loss everywhere (an upper bound) but at its largest
//! padded micro-batch and that batch's loss positions.

use crate::data::PreparedTask;
use crate::estimate::{estimate, EstimateInput, Shapes};
use crate::model::DecoderConfig;
use crate::record::RecordEstimate;
use crate::suite::Plan;

/// The estimate at the micro-batch whose estimated peak is the largest; None for a method that
/// trains nothing (the estimator models a training step).
pub fn estimate_at_training_shapes(plan: &Plan, cfg: &DecoderConfig, task: &PreparedTask) -> Option<RecordEstimate> {
    if plan.train.steps == 0 {
        return None;
    }
    let (batches, n) = Shapes::of_training(plan, task);
    let mut best: Option<(crate::estimate::Estimate, Shapes)> = None;
    for at in batches {
        let e = estimate(cfg, &EstimateInput::of_plan(plan, at.clone())).ok()?;
        if best.as_ref().is_none_or(|(b, _)| e.peak_tensor_bytes > b.peak_tensor_bytes) {
            best = Some((e, at));
        }
    }
    let (e, at) = best?;
    Some(RecordEstimate {
        implementation: implementation(plan),
        peak_tensor_bytes: e.peak_tensor_bytes,
        total_bytes: e.total_bytes,
        components: e.components,
        shapes: Some(format!(
            "the largest of the {n} micro-batches the cell trains on: {} sequences × {} positions (padded), {} with loss",
            at.batch, at.seq_len, at.loss_tokens
        )),
    })
}

/// The estimate before the cell runs, at the most a batch can hold (runner: shards, launch,
/// and the record of a cell that fails before it reports its own).
pub fn estimate_upper_bound(plan: &Plan, cfg: &DecoderConfig) -> Option<RecordEstimate> {
    if plan.train.steps == 0 {
        return None;
    }
    let at = Shapes::upper_bound(plan, cfg.vocab_size);
    let how = at.how.clone();
    let e = estimate(cfg, &EstimateInput::of_plan(plan, at)).ok()?;
    Some(RecordEstimate {
        implementation: implementation(plan),
        peak_tensor_bytes: e.peak_tensor_bytes,
        total_bytes: e.total_bytes,
        components: e.components,
        shapes: Some(how),
    })
}

fn implementation(plan: &Plan) -> String {
    if plan.train.fused_ops { "ftbench" } else { "ftbench-composed" }.into()
}
