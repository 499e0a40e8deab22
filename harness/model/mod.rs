//! Models: Hugging Face-compatible configs, presets with seeded random weights, a
//! differentiable Llama-family decoder, loaders for Hugging Face directories and GGUF files,
//! tokenizers, and greedy generation with a KV cache.

mod checkpoint;
mod config;
mod decoder;
pub mod generate;
pub mod gguf;
mod gguf_source;
pub mod hf;
pub mod hf_config;
pub mod inference;
mod init;
pub mod ops;
mod safetensors_source;
mod spec;
pub mod tokenizer;

pub use config::{preset, LlamaConfig, RopeScaling, PRESETS, ROPE_TYPES};
pub use decoder::{Decoder, Layer};
pub use generate::{forward_cached, forward_cached_all, greedy, greedy_uncached, KvCache};
pub use gguf::{GgufModel, GgufSource};
pub use hf::{save_hf_dir, HfDir};
pub use inference::{load_for_inference, run_generate, GenerateRequest, InferenceModel};
pub use init::{random_weights, seeded_values, weight_shapes, RandomInit, WeightSource, Weights};
pub use safetensors_source::SafetensorsSource;
pub use spec::{ModelSpec, OpenModel, DEFAULT_REAL_MODEL};
pub use tokenizer::Tokenizer;
