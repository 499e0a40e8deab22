//! Models: Hugging Face-compatible configs, presets with seeded random weights, the weight-source
//! trait loaders implement, a differentiable Llama-family decoder (fused kernels or composed ops,
//! activation recompute), numeric precision (compute / master / frozen dtypes), and greedy generation with a KV cache. Knows nothing of files (see
//! `load`), methods or suites: a decoder is built from `nn::Linear`s a method hands it.

mod checkpoint;
pub mod config;
mod decoder;
mod device;
pub mod generate;
pub mod init;
pub mod ops;
mod precision;
pub mod presets;
mod rope_cache;

pub use config::{DecoderConfig, LinearShape, RopeScaling, LINEAR_NAMES, ROPE_TYPES};
pub use decoder::{Decoder, Layer};
pub use device::DeviceSpec;
pub use generate::{forward_cached, forward_cached_all, greedy, greedy_uncached, KvCache};
pub use init::{random_weights, seeded_values, weight_shapes, RandomInit, WeightSource, Weights};
pub use precision::{dtype_name, precision, Precision, PRECISIONS};
pub use presets::{preset, PRESETS};
