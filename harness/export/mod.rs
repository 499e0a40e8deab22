//! What a trained model is exported as, for the serving stacks people use: a Hugging Face
//! directory (transformers, vLLM, TGI) or a GGUF file (llama.cpp, Ollama), from the merged dense
//! checkpoint (`method::merged_dense`). `ftbench export` (runner/export.rs) and the GGUF serving
//! forms (deploy/gguf.rs) write through here.

mod gguf_quant;
mod gguf_tokenizer;
mod gguf_write;
mod hf_write;
mod weights;

pub use gguf_quant::GgufQuant;
pub use gguf_tokenizer::tokenizer_metadata;
pub use gguf_write::{write_gguf, GgufHeader, GGUF_EXPORT_FAMILIES};
pub use hf_write::write_hf;
pub use weights::decoder_weights;
