//! `gguf:Q8_0`, `gguf:Q4_K_M`: the merged checkpoint written as a GGUF file for llama.cpp /
//! Ollama, quantized as `llama-quantize` quantizes (export/gguf_quant.rs), then read back from
//! that file and served as llama.cpp serves it: candle's quantized matmuls on the stored blocks
//! (gguf_read.rs). The size is the file's.

use super::{read_served_gguf, ServeCtx, Served, ServingForm};
use crate::export::{decoder_weights, write_gguf, GgufHeader, GgufQuant};
use crate::method::Method;
use crate::model::Decoder;
use anyhow::{Context, Result};

pub struct GgufForm {
    name: &'static str,
    quant: GgufQuant,
}

#[allow(non_upper_case_globals)]
pub static Q8_0: GgufForm = GgufForm {
    name: "gguf:Q8_0",
    quant: GgufQuant::Q8_0,
};

#[allow(non_upper_case_globals)]
pub static Q4_K_M: GgufForm = GgufForm {
    name: "gguf:Q4_K_M",
    quant: GgufQuant::Q4KM,
};

impl ServingForm for GgufForm {
    fn name(&self) -> &'static str {
        self.name
    }
    fn doc(&self) -> &'static str {
        match self.quant {
            GgufQuant::Q8_0 => "the merged checkpoint as a GGUF file in Q8_0 (8-bit blocks of 32), served by quantized matmuls as llama.cpp serves it",
            _ => "the merged checkpoint as a GGUF file in Q4_K_M (llama-quantize's mix of Q4_K and Q6_K, with its fallbacks), served by quantized matmuls as llama.cpp serves it",
        }
    }
    fn not_for(&self, _method: Method) -> Option<&'static str> {
        None
    }
    fn serve(&self, trained: &Decoder, ctx: &ServeCtx) -> Result<Served> {
        let merged = ctx.merged(trained)?;
        let weights = decoder_weights(&merged, candle_core::DType::F32)?;
        drop(merged);
        let path = ctx.scratch.join(format!("model-{}.gguf", self.quant.name()));
        let header = GgufHeader {
            name: ctx.name,
            tokenizer: ctx.tokenizer,
            eos: ctx.eos,
        };
        let bytes = write_gguf(&path, &trained.cfg, &weights, self.quant, &header)?;
        drop(weights);
        let model = read_served_gguf(&path, trained.device()).with_context(|| format!("reading back {}", path.display()))?;
        Ok(Served {
            model: model.computing_in(trained.dtype())?,
            bytes,
            bytes_of: "file",
        })
    }
}
