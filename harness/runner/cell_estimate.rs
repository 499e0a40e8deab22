//! The estimator's view of a cell as it will run: its stored memory estimate, and the input
//! that shard balancing reads the FLOPs from.

use crate::record::RecordEstimate;

/// The memory estimate for a cell as it will run: ftbench's graph, f32 on the CPU. `None` when
/// the model's config cannot be read here (the cell itself then reports why), and for `base`
/// (the estimator models training). Real tasks' sequences are counted at `seq_len` tokens with
/// loss on every one: the most a batch can hold, since their lengths are known only once the
/// tokenizer has run.
pub fn estimate_cell(cell: &crate::suite::Cell) -> Option<RecordEstimate> {
    let cfg = crate::estimate::model_config(&cell.model).ok()?;
    let e = crate::estimate::estimate(&cfg, &estimate_input(cell, &cfg)?).ok()?;
    Some(RecordEstimate {
        implementation: "ftbench".into(),
        peak_tensor_bytes: e.peak_tensor_bytes,
        total_bytes: e.total_bytes,
        components: e.components,
    })
}

/// The estimator's input for a cell as it will run (None for a method that trains nothing).
pub fn estimate_input(cell: &crate::suite::Cell, cfg: &crate::model::LlamaConfig) -> Option<crate::estimate::EstimateInput> {
    use crate::estimate::{EstimateInput, Implementation, Precision};
    if !cell.method.trains() {
        return None;
    }
    let k = &cell.knobs;
    let loss_positions = if crate::data::is_synthetic(&k.task) {
        let kind = crate::data::TaskKind::parse(&k.task).ok()?;
        crate::data::Task::new(kind, k.seq_len as usize, cfg.vocab_size)
            .ok()?
            .loss_positions()
    } else {
        k.seq_len as usize
    };
    let x = EstimateInput {
        method: cell.method,
        batch: k.batch_size as u64,
        seq_len: k.seq_len as u64,
        loss_tokens: k.batch_size as u64 * loss_positions as u64,
        precision: crate::model::precision(&k.precision).map_or(Precision::Fp32, Precision::from),
        optimizer: crate::train::optimizer_kind(&k.optimizer).ok()?.estimate,
        recompute: k.recompute,
        lora_rank: k.lora_rank as u64,
        lora_targets: k.lora_targets.clone(),
        nf4_block_size: k.nf4_block_size as u64,
        nf4_double_quant: k.nf4_double_quant,
        implementation: if k.fused_ops {
            Implementation::Ftbench
        } else {
            Implementation::FtbenchComposed
        },
        gpu: false,
    };
    Some(x)
}
