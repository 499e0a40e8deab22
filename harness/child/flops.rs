//! Model FLOPs per trained token, for MFU.

use crate::method::Built;
use crate::model::DecoderConfig;

/// Model FLOPs per trained token (PaLM's MFU convention: recompute not counted): the forward
/// pass's matmuls (2 per weight), their input gradients (2 per weight), weight gradients (2 per
/// trainable matmul weight), and causal attention's two matmuls forward and backward
/// (6 · 2 · layers · seq · heads·head_dim, halved for the causal mask).
pub fn train_flops_per_token(cfg: &DecoderConfig, built: &Built, seq: usize, trains_base: bool) -> f64 {
    let linears: f64 = cfg.linears().iter().map(|l| (l.out * l.inp) as f64).sum::<f64>() * cfg.num_hidden_layers as f64;
    let head = (cfg.vocab_size * cfg.hidden_size) as f64;
    let matmul = linears + head;
    // Trainable matmul weights: every one under full fine-tuning, the adapters' matrices otherwise.
    let trainable = if trains_base {
        matmul
    } else {
        built
            .trainable
            .iter()
            .filter(|t| t.var.rank() == 2)
            .map(|t| t.var.elem_count() as f64)
            .sum()
    };
    let attn = 6.0 * cfg.num_hidden_layers as f64 * seq as f64 * (cfg.num_attention_heads * cfg.head_dim()) as f64;
    4.0 * matmul + 2.0 * trainable + attn
}
