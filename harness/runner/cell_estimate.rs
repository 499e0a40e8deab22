//! The runner's estimate of a cell before it runs (its plan at the most a batch can hold): kept
//! in the record of a cell that fails before it reports its own estimate, and read by shard
//! balancing and `launch` for memory and FLOPs.

use crate::estimate::{estimate, Estimate, EstimateInput, Shapes};
use crate::record::RecordEstimate;
use crate::suite::Cell;

/// The memory estimate for a cell before it runs. `None` when its plan or its model's config
/// cannot be read here (the cell itself then reports why), for `base` (the estimator models
/// training), and for another engine than ftbench's (the estimator models ftbench's tensors: set
/// beside PyTorch's process it would measure the engine, not the estimate).
pub fn estimate_cell(cell: &Cell) -> Option<RecordEstimate> {
    let cfg = crate::estimate::model_config(&cell.model).ok()?;
    let plan = cell.plan().ok().filter(|p| p.engine == "ftbench")?;
    crate::child::estimate_upper_bound(&plan, &cfg)
}

/// The full estimate of a cell (FLOPs per token included) at the most a batch can hold.
pub fn cell_estimate(cell: &Cell, cfg: &crate::model::DecoderConfig) -> Option<Estimate> {
    let plan = cell.plan().ok()?;
    if plan.train.steps == 0 {
        return None;
    }
    estimate(cfg, &EstimateInput::of_plan(&plan, Shapes::upper_bound(&plan, cfg.vocab_size))).ok()
}
