//! Fine-tuning methods: which weights train and how each linear layer computes. One trait
//! (`FineTuning`, kind.rs) and one registry (`METHODS`); one file per method:
//!
//! - `base.rs`: nothing trains (the baseline row);
//! - `full.rs`: every weight is a `Var`; plain matmuls;
//! - `lora.rs`: a frozen dense base, rank-r adapters on the target linears;
//! - `qlora.rs`: LoRA over an NF4 base (`nf4.rs`);
//! - `dora.rs`, `qdora.rs`: weight-decomposed LoRA over a dense or NF4 base;
//! - `lora_plus.rs`: LoRA with a higher learning rate for B.
//!
//! LoRA initialisations (`lora_init`) are a seam of their own (`lora_init.rs`; registry.rs lists them).
//!
//! Around them: `build.rs` (weight source → decoder + what trains), `adapter.rs` (PEFT's layout
//! on disk), `merge.rs` (adapters merged into the weights, for inference).

mod adapter;
mod base;
mod build;
mod dora;
mod full;
mod kind;
mod lora;
mod lora_config;
mod lora_init;
mod lora_plus;
mod merge;
mod nf4;
mod pissa;
mod qdora;
mod qlora;
mod registry;

pub use adapter::{load_adapter, save_adapter, AdapterInfo};
pub use build::{build, Built, WeightBytes};
pub use dora::{weight_norm, DoraLinear};
pub use kind::{AdaptCtx, BaseFormat, FineTuning, Method, MethodConfig, Published};
pub use lora::LoraLinear;
pub use lora_config::{LoraConfig, LINEAR_MODULES};
pub use lora_init::{Init, InitInput, Initial, LoraInit};
pub use merge::{cast, dequantized_bases, frozen_copy, merge_adapters, merged_dense};
pub use nf4::{check_block_size, nf4_on, quantize_weight};
pub use registry::{method_knobs, LORA_INITS, METHODS};

/// A trainable parameter, by name (`model.layers.0.self_attn.q_proj.weight` for a full
/// fine-tuning weight, `model.layers.0.self_attn.q_proj.lora_A.weight` for an adapter).
#[derive(Debug, Clone)]
pub struct Trainable {
    pub name: String,
    pub var: candle_core::Var,
    /// The method's learning-rate multiplier for this parameter (LoRA+: B's ratio; else 1).
    pub lr_scale: f64,
}
