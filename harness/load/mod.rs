//! Loaders: model specs (`preset:` / `hf:` / `gguf:`) opened into a config, a weight source and
//! a tokenizer. Hugging Face directories (config.json, safetensors shards, tokenizer.json),
//! llama.cpp GGUF files (metadata, dequantized tensors, the BPE tokenizer rebuilt), and the
//! writer of HF directories. Below the methods, above the decoder: loaders know the model's
//! config and weight-source types, never the decoder.

pub mod gemma_tokenizer;
pub mod gguf;
mod gguf_source;
pub mod hf;
pub mod hf_config;
mod missing;
mod safetensors_source;
mod spec;
pub mod tokenizer;

pub use gguf::GgufModel;
pub use gguf_source::{gguf_name, llama_cpp_permute, llama_cpp_unpermute, llama_cpp_unpermute_quantized, GgufSource};
pub use hf::{save_hf_dir, HfDir};
pub use missing::{DEFAULT_REAL_MODEL, GEMMA3_REAL_MODEL};
pub use safetensors_source::SafetensorsSource;
pub use spec::{ModelSpec, OpenModel};
pub use tokenizer::{byte_level_bpe, Tokenizer, GGUF_PRE_TOKENIZERS};
