//! Full fine-tuning sharded over N GPUs with ZeRO (DeepSpeed; FSDP's FULL_SHARD is stage 3):
//! per-GPU memory = model states + the single-GPU estimate's activations, logits and runtime.
//!
//! Model states in mixed precision, bytes per parameter P (L = the largest single module's
//! parameters, the one ZeRO-3 gathers whole), as DeepSpeed's estimators count them without
//! offload (`estimate_zero2_model_states_mem_needs`, `estimate_zero3_model_states_mem_needs`:
//! 18 = 16-bit gradients 2 + f32 gradients 4 + f32 master weights 4 + AdamW moments 8):
//!
//! | stage | replicated | sharded over N |
//! |---|---|---|
//! | 0 (DDP) | 2 (16-bit params) + 18 | – |
//! | 1 (optimizer states) | 2 + 2 (16-bit params, grads) | 16 (f32 grads, master, moments) |
//! | 2 (+ gradients) | 2 (16-bit params) | 18 |
//! | 3 (+ parameters) | 4·L (one gathered module) | 18 |
//!
//! Stages 2 and 3 are DeepSpeed's formulas; 0 and 1 follow the same byte accounting (DeepSpeed
//! has no estimator for them). Activations are per GPU at the given micro-batch (data
//! parallel: every GPU runs its own batch), so N GPUs process N × batch per step.

use super::memory::{estimate, Component, Estimate, EstimateInput};
use crate::model::DecoderConfig;

/// Model-state bytes per GPU for ZeRO `stage` over `gpus` GPUs, and how they were counted.
pub fn zero_model_states(params: u64, largest_module: u64, gpus: u64, stage: u8) -> Result<(u64, String), String> {
    if gpus == 0 {
        return Err("--gpus must be at least 1".into());
    }
    let shard = |bytes: u64| (bytes as u128 * params as u128 / gpus as u128) as u64;
    Ok(match stage {
        0 => (
            20 * params,
            format!("ZeRO-0 (plain data parallel) on each of {gpus} GPUs: {params} params × (2 + 18) B"),
        ),
        1 => (
            4 * params + shard(16),
            format!(
                "ZeRO-1 over {gpus} GPUs: {params} params × 4 B (16-bit params + grads) + × 16 B / {gpus} (f32 grads, master, moments)"
            ),
        ),
        2 => (
            2 * params + shard(18),
            format!("ZeRO-2 over {gpus} GPUs (DeepSpeed's count): {params} params × 2 B + × 18 B / {gpus}"),
        ),
        3 => (
            4 * largest_module + shard(18),
            format!(
                "ZeRO-3 over {gpus} GPUs (DeepSpeed's count): 4 B × {largest_module} (largest module) + {params} params × 18 B / {gpus}"
            ),
        ),
        s => return Err(format!("--zero: expected a stage 0 to 3, found {s}")),
    })
}

/// The largest single module's parameters (the embedding or the LM head for Llama shapes).
pub fn largest_module(cfg: &DecoderConfig) -> u64 {
    let h = cfg.hidden_size as u64;
    let linear = cfg.linears().iter().map(|l| (l.out * l.inp) as u64).max().unwrap_or(0);
    (cfg.vocab_size as u64 * h).max(linear)
}

/// The per-GPU estimate of full fine-tuning `x` (mixed precision) under ZeRO `stage` over `gpus`.
pub fn estimate_zero(cfg: &DecoderConfig, x: &EstimateInput, gpus: u64, stage: u8) -> Result<Estimate, String> {
    if !x.method.trains_base() {
        return Err(format!(
            "ZeRO shards full fine-tuning's model states; `{}` trains adapters whose states are small (estimate it on one GPU)",
            x.method
        ));
    }
    if !(x.precision.master == candle_core::DType::F32 && x.precision.compute == candle_core::DType::BF16) {
        return Err(
            "ZeRO's model states are counted for mixed precision (16-bit compute, f32 master weights): use --precision bf16-mixed".into(),
        );
    }
    let single = estimate(cfg, x)?;
    let (states, note) = zero_model_states(single.params_base, largest_module(cfg), gpus, stage)?;
    let replaced = [
        "weights",
        "quant_constants",
        "adapters",
        "master_weights",
        "gradients",
        "optimizer_states",
    ];
    let mut components: Vec<Component> = single
        .components
        .iter()
        .filter(|c| !replaced.contains(&c.name.as_str()))
        .cloned()
        .collect();
    components.insert(
        0,
        Component {
            name: "model_states".into(),
            bytes: states,
            note,
        },
    );
    // Gradients are part of the model states here, so the peak is states + what the step keeps.
    let transient = single.get("activations") + single.get("logits");
    let peak = states + transient;
    let overhead = single.get("runtime_overhead");
    Ok(Estimate {
        peak_tensor_bytes: peak,
        total_bytes: peak + overhead,
        components,
        params_base: single.params_base,
        params_adapters: single.params_adapters,
        params_trainable: single.params_trainable,
        flops_per_token: single.flops_per_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deepspeeds_counts_for_stages_2_and_3() {
        // DeepSpeed 0.19: zero2 gpu_mem = 2P + int(18P/N); zero3 = 4L + int(18P/N).
        let (p, l) = (6_738_415_616u64, 131_072_000u64);
        assert_eq!(zero_model_states(p, l, 4, 2).unwrap().0, 2 * p + 18 * p / 4);
        assert_eq!(zero_model_states(p, l, 8, 3).unwrap().0, 4 * l + 18 * p / 8);
        assert_eq!(zero_model_states(p, l, 1, 0).unwrap().0, 20 * p);
        assert!(zero_model_states(p, l, 0, 3).is_err() && zero_model_states(p, l, 2, 4).is_err());
    }
}
