//! Models: Hugging Face-compatible configs, presets with seeded random weights, and a
//! differentiable Llama-family decoder.

mod config;
mod decoder;
mod init;
pub mod ops;
mod spec;

pub use config::{preset, LlamaConfig, PRESETS};
pub use decoder::{Decoder, Layer};
pub use init::{random_weights, seeded_values, weight_shapes, RandomInit, WeightSource, Weights};
pub use spec::ModelSpec;
