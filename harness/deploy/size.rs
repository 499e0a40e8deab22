//! What a served model's tensors take: dense tensors in their dtype, NF4 and GGML weights as
//! their codes and constants, adapters; a tied LM head counted once.

use crate::model::Decoder;
use crate::nn::Linear;
use candle_core::Tensor;

pub fn held_bytes(d: &Decoder) -> u64 {
    let t = |x: &Tensor| (x.elem_count() * x.dtype().size_in_bytes()) as u64;
    let mut n = t(&d.embed) + t(&d.norm);
    for l in &d.layers {
        n += l.norms.iter().map(t).sum::<u64>();
        n += l.biases.iter().flatten().map(t).sum::<u64>();
        n += l.linears.iter().map(linear_bytes).sum::<u64>();
    }
    if !d.cfg.tie_word_embeddings {
        n += linear_bytes(&d.lm_head);
    }
    n
}

fn linear_bytes(l: &Linear) -> u64 {
    match l {
        Linear::Trainable(v) => (v.elem_count() * v.dtype().size_in_bytes()) as u64,
        Linear::Frozen(w) => w.stored_bytes() as u64,
        Linear::Adapted(a) => {
            linear_bytes(a.base())
                + a.params()
                    .iter()
                    .map(|p| (p.elem_count() * p.dtype().size_in_bytes()) as u64)
                    .sum::<u64>()
        }
    }
}
