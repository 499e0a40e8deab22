//! Built-in shape presets (`preset:NAME`): random-weight models with the shapes of published
//! checkpoints, for the estimator and for runs that need no download. Each count is checked
//! against transformers' own count of the same configuration (the test below).

use super::config::{DecoderConfig, Family, LayerAttention};

/// Built-in presets: (name, what it is).
#[rustfmt::skip]
pub const PRESETS: &[(&str, &str)] = &[
    ("tiny", "2 layers, 64 wide, GQA 4/2 heads, vocab 256, untied: tests and quick checks"),
    ("smollm2-135m", "SmolLM2-135M shape: 30 layers, 576 wide, GQA 9/3, vocab 49152, tied"),
    ("llama2-7b", "Llama-2-7B shape: 32 layers, 4096 wide, MHA 32 heads, vocab 32000"),
    ("mistral-7b", "Mistral-7B-v0.1 shape: 32 layers, 4096 wide, GQA 32/8, MLP 14336, window 4096, vocab 32000"),
    ("llama3-8b", "Llama-3-8B shape: 32 layers, 4096 wide, GQA 32/8, MLP 14336, vocab 128256"),
    ("qwen2.5-0.5b", "Qwen2.5-0.5B shape: 24 layers, 896 wide, GQA 14/2, q/k/v biases, vocab 151936, tied"),
    ("qwen2.5-7b", "Qwen2.5-7B shape: 28 layers, 3584 wide, GQA 28/4, MLP 18944, q/k/v biases, vocab 152064"),
    ("qwen3-8b", "Qwen3-8B shape: 36 layers, 4096 wide, GQA 32/8, head 128, q/k norms, vocab 151936"),
    ("gemma2-2b", "Gemma-2-2B shape: 26 layers, 2304 wide, GQA 8/4, head 256, soft caps, window 4096, vocab 256000, tied"),
    ("gemma3-270m", "Gemma-3-270M shape: 18 layers, 640 wide, GQA 4/1, head 256, window 512, vocab 262144, tied"),
    ("phi3-mini", "Phi-3-mini-4k shape: 32 layers, 3072 wide, MHA 32 heads, fused qkv/gate_up, vocab 32064"),
];

/// The configuration of a preset, or `None` for an unknown name.
pub fn preset(name: &str) -> Option<DecoderConfig> {
    llama_family(name)
        .or_else(|| qwen_family(name))
        .or_else(|| gemma_family(name))
        .or_else(|| phi_family(name))
}

/// The Llama and Mistral presets.
fn llama_family(name: &str) -> Option<DecoderConfig> {
    let base = DecoderConfig::llama();
    Some(match name {
        "tiny" => DecoderConfig {
            vocab_size: 256,
            hidden_size: 64,
            intermediate_size: 160,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            max_position_embeddings: 512,
            ..base
        },
        "smollm2-135m" => DecoderConfig {
            vocab_size: 49152,
            hidden_size: 576,
            intermediate_size: 1536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: 3,
            max_position_embeddings: 8192,
            rope_theta: 100000.0,
            tie_word_embeddings: true,
            initializer_range: 0.041666666666666664,
            ..base
        },
        "llama2-7b" => base,
        "mistral-7b" => DecoderConfig {
            intermediate_size: 14336,
            num_key_value_heads: 8,
            max_position_embeddings: 32768,
            sliding_window: Some(4096),
            ..Family::Mistral.configure(base)
        },
        "llama3-8b" => DecoderConfig {
            vocab_size: 128256,
            intermediate_size: 14336,
            num_key_value_heads: 8,
            max_position_embeddings: 8192,
            rope_theta: 500000.0,
            ..base
        },
        _ => return None,
    })
}

/// The Qwen2.5 and Qwen3 presets.
fn qwen_family(name: &str) -> Option<DecoderConfig> {
    let qwen = |family: Family| DecoderConfig {
        rope_theta: 1e6,
        rms_norm_eps: 1e-6,
        ..family.configure(DecoderConfig::llama())
    };
    Some(match name {
        "qwen2.5-0.5b" => DecoderConfig {
            vocab_size: 151936,
            hidden_size: 896,
            intermediate_size: 4864,
            num_hidden_layers: 24,
            num_attention_heads: 14,
            num_key_value_heads: 2,
            max_position_embeddings: 32768,
            tie_word_embeddings: true,
            ..qwen(Family::Qwen2)
        },
        "qwen2.5-7b" => DecoderConfig {
            vocab_size: 152064,
            hidden_size: 3584,
            intermediate_size: 18944,
            num_hidden_layers: 28,
            num_attention_heads: 28,
            num_key_value_heads: 4,
            max_position_embeddings: 32768,
            ..qwen(Family::Qwen2)
        },
        "qwen3-8b" => DecoderConfig {
            vocab_size: 151936,
            intermediate_size: 12288,
            num_hidden_layers: 36,
            num_key_value_heads: 8,
            head_dim: Some(128),
            max_position_embeddings: 40960,
            ..qwen(Family::Qwen3)
        },
        _ => return None,
    })
}

/// The Gemma 2 and Gemma 3 presets.
fn gemma_family(name: &str) -> Option<DecoderConfig> {
    let gemma = |family: Family| DecoderConfig {
        rms_norm_eps: 1e-6,
        head_dim: Some(256),
        query_pre_attn_scalar: Some(256),
        tie_word_embeddings: true,
        pad_token_id: Some(0),
        ..family.configure(DecoderConfig::llama())
    };
    Some(match name {
        "gemma2-2b" => DecoderConfig {
            vocab_size: 256000,
            hidden_size: 2304,
            intermediate_size: 9216,
            num_hidden_layers: 26,
            num_attention_heads: 8,
            num_key_value_heads: 4,
            max_position_embeddings: 8192,
            sliding_window: Some(4096),
            layer_types: LayerAttention::one_global_in(2, 26),
            attn_logit_softcapping: Some(50.0),
            final_logit_softcapping: Some(30.0),
            ..gemma(Family::Gemma2)
        },
        "gemma3-270m" => DecoderConfig {
            vocab_size: 262144,
            hidden_size: 640,
            intermediate_size: 2048,
            num_hidden_layers: 18,
            num_attention_heads: 4,
            num_key_value_heads: 1,
            max_position_embeddings: 32768,
            rope_theta: 1e6,
            rope_local_theta: Some(10000.0),
            sliding_window: Some(512),
            layer_types: LayerAttention::one_global_in(6, 18),
            ..gemma(Family::Gemma3)
        },
        _ => return None,
    })
}

/// The Phi-3 preset.
fn phi_family(name: &str) -> Option<DecoderConfig> {
    let base = DecoderConfig::llama();
    Some(match name {
        "phi3-mini" => DecoderConfig {
            vocab_size: 32064,
            hidden_size: 3072,
            intermediate_size: 8192,
            num_hidden_layers: 32,
            num_attention_heads: 32,
            num_key_value_heads: 32,
            sliding_window: Some(2047),
            pad_token_id: Some(32000),
            ..Family::Phi3.configure(base)
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_parameter_counts_match_transformers() {
        // transformers 5.25's own count of each configuration (AutoModelForCausalLM on the meta
        // device), which the published totals round: SmolLM2-135M 134.5M, Llama-2-7B 6.74B,
        // Mistral-7B 7.24B, Llama-3-8B 8.03B, Qwen2.5-0.5B 0.49B, Qwen2.5-7B 7.61B, Qwen3-8B
        // 8.19B, Gemma-2-2B 2.61B, Gemma-3-270M 268M, Phi-3-mini 3.82B.
        let count = |n| preset(n).unwrap().num_parameters();
        assert_eq!(count("smollm2-135m"), 134_515_008);
        assert_eq!(count("llama2-7b"), 6_738_415_616);
        assert_eq!(count("mistral-7b"), 7_241_732_096);
        assert_eq!(count("llama3-8b"), 8_030_261_248);
        assert_eq!(count("qwen2.5-0.5b"), 494_032_768);
        assert_eq!(count("qwen2.5-7b"), 7_615_616_512);
        assert_eq!(count("qwen3-8b"), 8_190_735_360);
        assert_eq!(count("gemma2-2b"), 2_614_341_888);
        assert_eq!(count("gemma3-270m"), 268_098_176);
        assert_eq!(count("phi3-mini"), 3_821_079_552);
        for (name, _) in PRESETS {
            preset(name).unwrap().check().unwrap();
        }
    }
}
