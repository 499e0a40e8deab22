//! Fine-tuning methods: which weights train and how each linear layer computes.
//!
//! - `full`: every weight is a `Var`; plain matmuls.
//! - `lora`: the base is frozen (embedding and norms plain tensors, every linear a frozen-linear
//!   op that keeps no weight gradient); rank-r adapters on the target linears train.
//! - `qlora`: as `lora`, but the decoder's linears are quantized to NF4 as they are loaded.
//! - `base`: as `lora` with no adapter: nothing trains (the baseline row).

mod adapter;
mod build;
mod dropout;
mod linear;
mod lora;
mod merge;
mod nf4;

pub use adapter::{load_adapter, save_adapter, AdapterInfo};
pub use build::{build, Built, MethodConfig, WeightBytes};
pub use dropout::Dropout;
pub use linear::{matmul_t, Linear, LoraLinear};
pub use lora::{LoraConfig, LINEAR_MODULES};
pub use merge::{frozen_copy, merge_adapters};
pub use nf4::quantize_weight;

/// A trainable parameter, by name (`model.layers.0.self_attn.q_proj.weight` for a full
/// fine-tuning weight, `model.layers.0.self_attn.q_proj.lora_A.weight` for an adapter).
#[derive(Debug, Clone)]
pub struct Trainable {
    pub name: String,
    pub var: candle_core::Var,
}
