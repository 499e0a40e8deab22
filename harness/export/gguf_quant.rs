//! The GGUF file types ftbench writes and, per tensor, the GGML type each stores, chosen as
//! llama.cpp's `llama-quantize` chooses them (src/llama-quant.cpp, `llama_tensor_get_type`):
//!
//! - `f32`, `f16`: every 2-D weight in that type, norms (1-D) in F32 (convert_hf_to_gguf.py).
//! - `Q8_0`: every 2-D weight Q8_0 (the embedding and the output matrix too), norms F32.
//! - `Q4_K_M`: Q4_K, except the output matrix — or the token embedding when the LM head is
//!   tied to it — in Q6_K, and `attn_v` and `ffn_down` in Q6_K on the layers llama.cpp's
//!   `use_more_bits` picks (the first and last eighth, and every third in between).
//!   K-quants pack 256 values per block: a row whose length is not a multiple of 256 falls back
//!   as llama.cpp falls back (Q4_K → Q5_0, Q6_K → Q8_0; F16 where 32 does not divide it either).
//!   SmolLM2-135M's rows of 576 values are such rows: most of its Q4_K_M is Q5_0, its embedding
//!   (the tied output) Q8_0.
//!
//! The blocks are candle's quantizers': Q8_0, Q5_0 and Q6_K follow llama.cpp's reference
//! formulas; candle's Q4_K uses the older `make_qkx1_quants` where llama.cpp's
//! `quantize_row_q4_K_ref` uses the weighted `make_qkx2_quants` — the same format, slightly
//! different (not better) blocks. No importance matrix is used, as `llama-quantize` without
//! `--imatrix`.

use candle_core::quantized::GgmlDType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgufQuant {
    F32,
    F16,
    Q8_0,
    Q4KM,
}

impl GgufQuant {
    pub const ALL: [GgufQuant; 4] = [GgufQuant::F32, GgufQuant::F16, GgufQuant::Q8_0, GgufQuant::Q4KM];

    pub fn name(self) -> &'static str {
        match self {
            GgufQuant::F32 => "f32",
            GgufQuant::F16 => "f16",
            GgufQuant::Q8_0 => "Q8_0",
            GgufQuant::Q4KM => "Q4_K_M",
        }
    }

    /// `f32`, `f16`, `Q8_0`, `Q4_K_M` (case-insensitive).
    pub fn parse(s: &str) -> Result<GgufQuant, String> {
        Self::ALL
            .into_iter()
            .find(|q| q.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown GGUF type `{s}`; expected one of: {}", Self::names().join(", ")))
    }

    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|q| q.name()).collect()
    }

    /// llama.cpp's `general.file_type` (enum llama_ftype).
    pub fn file_type(self) -> u32 {
        match self {
            GgufQuant::F32 => 0,
            GgufQuant::F16 => 1,
            GgufQuant::Q8_0 => 7,
            GgufQuant::Q4KM => 15,
        }
    }

    /// The type of the tensor `name` (a GGUF name, `blk.3.attn_v.weight`) of `dims` (as
    /// Hugging Face stores it: (out, in)) in a model of `layers` blocks whose LM head is tied to
    /// the embedding when `tied`.
    pub fn tensor_type(self, name: &str, dims: &[usize], layers: usize, tied: bool) -> GgmlDType {
        if dims.len() < 2 {
            return GgmlDType::F32;
        }
        let row = dims[dims.len() - 1];
        let wanted = match self {
            GgufQuant::F32 => return GgmlDType::F32,
            GgufQuant::F16 => return GgmlDType::F16,
            GgufQuant::Q8_0 => return GgmlDType::Q8_0,
            GgufQuant::Q4KM => q4_k_m(name, layers, tied),
        };
        if row % wanted.block_size() == 0 {
            return wanted;
        }
        // llama.cpp's `tensor_type_fallback`, then F16 where even 32-value blocks do not fit.
        let fallback = match wanted {
            GgmlDType::Q4K => GgmlDType::Q5_0,
            GgmlDType::Q6K => GgmlDType::Q8_0,
            other => other,
        };
        if row % fallback.block_size() == 0 {
            fallback
        } else {
            GgmlDType::F16
        }
    }
}

/// Q4_K_M's choice before the row-length fallback.
fn q4_k_m(name: &str, layers: usize, tied: bool) -> GgmlDType {
    if name == "output.weight" || (tied && name == "token_embd.weight") {
        return GgmlDType::Q6K;
    }
    let layer = name
        .strip_prefix("blk.")
        .and_then(|r| r.split_once('.'))
        .and_then(|(i, _)| i.parse::<usize>().ok());
    match layer {
        Some(i) if (name.ends_with(".attn_v.weight") || name.ends_with(".ffn_down.weight")) && use_more_bits(i, layers) => GgmlDType::Q6K,
        _ => GgmlDType::Q4K,
    }
}

/// llama.cpp's `use_more_bits(i_layer, n_layers)`.
fn use_more_bits(i: usize, n: usize) -> bool {
    i < n / 8 || i >= 7 * n / 8 || (i >= n / 8 && (i - n / 8) % 3 == 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_k_m_gives_more_bits_to_the_layers_llama_cpp_picks() {
        // 30 layers: n/8 = 3, 7n/8 = 26.
        let picked: Vec<usize> = (0..30).filter(|&i| use_more_bits(i, 30)).collect();
        assert_eq!(picked, vec![0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]);
        let q = GgufQuant::Q4KM;
        assert_eq!(q.tensor_type("blk.0.attn_v.weight", &[192, 1536], 30, true), GgmlDType::Q6K);
        assert_eq!(q.tensor_type("blk.3.attn_v.weight", &[192, 1536], 30, true), GgmlDType::Q4K);
        assert_eq!(q.tensor_type("blk.3.attn_q.weight", &[576, 512], 30, true), GgmlDType::Q4K);
        // Rows of 576 values are not whole k-quant blocks: llama.cpp's fallbacks.
        assert_eq!(q.tensor_type("blk.3.attn_q.weight", &[576, 576], 30, true), GgmlDType::Q5_0);
        assert_eq!(q.tensor_type("token_embd.weight", &[49152, 576], 30, true), GgmlDType::Q8_0);
        assert_eq!(q.tensor_type("token_embd.weight", &[49152, 512], 30, false), GgmlDType::Q4K);
        assert_eq!(q.tensor_type("output.weight", &[49152, 512], 30, false), GgmlDType::Q6K);
        assert_eq!(q.tensor_type("blk.0.attn_norm.weight", &[576], 30, true), GgmlDType::F32);
        assert_eq!(
            GgufQuant::Q8_0.tensor_type("token_embd.weight", &[49152, 576], 30, true),
            GgmlDType::Q8_0
        );
        assert_eq!(GgufQuant::parse("q4_k_m"), Ok(GgufQuant::Q4KM));
        assert!(GgufQuant::parse("Q3_K").unwrap_err().contains("Q4_K_M"));
    }
}
