//! The decoder's building blocks, composed from candle ops that all record a backward pass.
//!
//! candle's fused `softmax_last_dim`, `rms_norm` and `rope` drop gradients silently (see
//! DESIGN.md); nothing here uses them. These composed forms are the reference (and the path for
//! dtypes and devices the fused kernels do not cover); the decoder runs ftbench_kernels' fused
//! ops where it can (`Decoder::fused`). Every function, composed and fused, has a
//! finite-difference gradient test in tests/gradients.rs.

use candle_core::{DType, Device, Result, Tensor, D};

/// RMSNorm: x / sqrt(mean(x²) + eps) * weight, over the last dimension. A half-precision x is
/// normalised in f32 and cast back before the weight, as transformers' LlamaRMSNorm does.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = widened(x)?;
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    let inv = (ms + eps)?.sqrt()?.recip()?;
    x.broadcast_mul(&inv)?.to_dtype(dtype)?.broadcast_mul(weight)
}

/// x in f32 when it is a half-precision dtype (reductions and exponentials keep f32), else x.
pub fn widened(x: &Tensor) -> Result<Tensor> {
    match x.dtype() {
        DType::BF16 | DType::F16 => x.to_dtype(DType::F32),
        _ => Ok(x.clone()),
    }
}

/// Rotary-embedding tables for positions 0..seq_len, in the half-split layout transformers
/// uses (`rotate_half`): cos and sin of shape (seq_len, head_dim).
#[derive(Debug, Clone)]
pub struct RopeTables {
    pub cos: Tensor,
    pub sin: Tensor,
}

impl RopeTables {
    /// Plain RoPE: inverse frequencies theta^(-2i/head_dim).
    pub fn new(head_dim: usize, theta: f64, seq_len: usize, dtype: DType, device: &Device) -> Result<Self> {
        let inv_freq: Vec<f64> = (0..head_dim / 2).map(|i| theta.powf(-2.0 * i as f64 / head_dim as f64)).collect();
        Self::from_inv_freq(&inv_freq, seq_len, dtype, device)
    }

    /// Tables for given inverse frequencies (head_dim / 2 of them; scaled RoPE variants).
    pub fn from_inv_freq(inv_freq: &[f64], seq_len: usize, dtype: DType, device: &Device) -> Result<Self> {
        let head_dim = 2 * inv_freq.len();
        let mut cos = Vec::with_capacity(seq_len * head_dim);
        let mut sin = Vec::with_capacity(seq_len * head_dim);
        for pos in 0..seq_len {
            let row: Vec<f64> = inv_freq.iter().map(|f| pos as f64 * f).collect();
            // The two halves share frequencies: cat([freqs, freqs]).
            for _ in 0..2 {
                cos.extend(row.iter().map(|a| a.cos()));
                sin.extend(row.iter().map(|a| a.sin()));
            }
        }
        let cos = Tensor::from_vec(cos, (seq_len, head_dim), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (seq_len, head_dim), device)?.to_dtype(dtype)?;
        Ok(RopeTables { cos, sin })
    }

    /// Positions the tables cover.
    pub fn len(&self) -> usize {
        self.cos.dims()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Applies rotary embeddings to x of shape (batch, heads, seq, head_dim):
/// x·cos + rotate_half(x)·sin, rotate_half(x) = cat(-x₂, x₁).
pub fn rope(x: &Tensor, t: &RopeTables) -> Result<Tensor> {
    rope_at(x, t, 0)
}

/// [`rope`] for the positions start..start+seq (decoding with a KV cache).
pub fn rope_at(x: &Tensor, t: &RopeTables, start: usize) -> Result<Tensor> {
    let (_, _, seq, hd) = x.dims4()?;
    let cos = t.cos.narrow(0, start, seq)?;
    let sin = t.sin.narrow(0, start, seq)?;
    let x1 = x.narrow(D::Minus1, 0, hd / 2)?;
    let x2 = x.narrow(D::Minus1, hd / 2, hd / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(&cos)?.broadcast_add(&rotated.broadcast_mul(&sin)?)
}

/// Numerically stable softmax over the last dimension, differentiable; half precision is
/// computed in f32 and cast back.
pub fn softmax(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax(&widened(x)?, D::Minus1)?.to_dtype(x.dtype())
}

/// Causal grouped-query attention with scores scaled by head_dim^-½.
///
/// q: (batch, heads, seq, head_dim); k, v: (batch, kv_heads, seq, head_dim), heads a multiple
/// of kv_heads (query head j reads key/value head j / (heads / kv_heads), as transformers'
/// `repeat_kv`). The queries of one group are stacked along the sequence axis so each key and
/// value is used in place, never copied per query head. Returns (batch, heads, seq, head_dim).
pub fn causal_attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    let scale = 1.0 / (q.dim(3)? as f64).sqrt();
    causal_attention_at(q, k, v, 0, scale, None, None)
}

/// Causal attention for queries at positions start..start+seq over keys and values at
/// positions 0..start+seq (decoding with a KV cache: k, v are (batch, kv_heads, start+seq,
/// head_dim)): scores times `scale`, soft-capped to cap·tanh(s / cap) when `softcap` is given
/// (Gemma 2), each query seeing the last `window` positions (itself included) when a window is
/// given, else every earlier one.
pub fn causal_attention_at(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    start: usize,
    scale: f64,
    window: Option<usize>,
    softcap: Option<f64>,
) -> Result<Tensor> {
    grouped_attention(q, k, v, |scores, rep, t| {
        let mask = causal_mask_at(rep, t, start, window, scores.dtype(), scores.device())?;
        let s = (scores * scale)?;
        let s = match softcap {
            Some(cap) => self::softcap(&s, cap)?,
            None => s,
        };
        softmax(&s.broadcast_add(&mask)?)
    })
}

/// [`causal_attention_at`] (without a soft cap) with scale, mask and softmax as one fused op
/// (`ftbench_kernels::causal_softmax`).
pub fn fused_causal_attention_at(q: &Tensor, k: &Tensor, v: &Tensor, start: usize, scale: f64, window: Option<usize>) -> Result<Tensor> {
    grouped_attention(q, k, v, |scores, _, t| {
        ftbench_kernels::causal_softmax(scores, scale, t, start, window)
    })
}

/// Grouped-query attention around `probs(raw scores (b, kv_heads, rep·t, keys), rep, t)`.
fn grouped_attention(q: &Tensor, k: &Tensor, v: &Tensor, probs: impl Fn(&Tensor, usize, usize) -> Result<Tensor>) -> Result<Tensor> {
    let (b, h, t, hd) = q.dims4()?;
    let kvh = k.dim(1)?;
    let rep = h / kvh;
    let q = q.reshape((b, kvh, rep * t, hd))?;
    let p = probs(&q.matmul(&k.t()?)?, rep, t)?;
    p.matmul(v)?.reshape((b, h, t, hd))
}

/// Additive mask of shape (rep*seq, seq): row r is query position r % seq; 0 where the key
/// position is ≤ the query position, -inf after it.
pub fn causal_mask(rep: usize, t: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    causal_mask_at(rep, t, 0, None, dtype, device)
}

/// [`causal_mask`] for queries at positions start..start+t over keys 0..start+t, shape
/// (rep*t, start+t); with a window, a key more than `window - 1` positions before its query is
/// masked too (transformers' sliding-window mask: key j visible to query i iff i − window < j ≤ i).
pub fn causal_mask_at(rep: usize, t: usize, start: usize, window: Option<usize>, dtype: DType, device: &Device) -> Result<Tensor> {
    let n = start + t;
    let mut m = Vec::with_capacity(rep * t * n);
    for _ in 0..rep {
        for i in 0..t {
            let q = start + i;
            let lo = window.map_or(0, |w| (q + 1).saturating_sub(w));
            m.extend((0..n).map(|j| if j <= q && j >= lo { 0.0f32 } else { f32::NEG_INFINITY }));
        }
    }
    Tensor::from_vec(m, (rep * t, n), device)?.to_dtype(dtype)
}

/// cap·tanh(x / cap), differentiable (Gemma 2's soft-capping of scores and logits).
pub fn softcap(x: &Tensor, cap: f64) -> Result<Tensor> {
    (x / cap)?.tanh()? * cap
}

/// SwiGLU gate: silu(gate) * up.
pub fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    gate.silu()? * up
}

/// GeGLU gate: gelu(gate) * up with the tanh approximation of GELU (transformers'
/// `gelu_pytorch_tanh`: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))), computed in f32 at least.
pub fn geglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    let g = widened(gate)?;
    let inner = ((&g + ((g.sqr()? * &g)? * 0.044715)?)? * (2.0 / std::f64::consts::PI).sqrt())?;
    let act = ((g * 0.5)? * (inner.tanh()? + 1.0)?)?;
    act.to_dtype(gate.dtype())? * up
}

/// Token embedding lookup: ids (batch, seq) u32 → (batch, seq, hidden). The backward pass
/// scatters into the rows used.
pub fn embedding(table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    let (b, t) = ids.dims2()?;
    let h = table.dim(1)?;
    table.index_select(&ids.flatten_all()?, 0)?.reshape((b, t, h))
}

/// Mean cross-entropy of `logits` (n, vocab) against `targets` (n) u32, in f32 (f64 for f64
/// logits): bf16 logits are widened first (a bf16 log-softmax loses the tail, and a bf16 loss
/// near 10 moves in steps of 1/16). Target ids are checked against the vocabulary here, on every
/// device: on a GPU an out-of-range id would be an unchecked read, not an error.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let (n, vocab) = logits.dims2()?;
    let ids: Vec<u32> = targets.to_vec1()?;
    if ids.len() != n {
        candle_core::bail!("cross-entropy: {} targets for {n} rows of logits", ids.len());
    }
    if let Some((i, t)) = ids.iter().enumerate().find(|(_, &t)| t as usize >= vocab) {
        candle_core::bail!("cross-entropy: target id {t} at row {i} is outside the vocabulary of {vocab}");
    }
    let logits = logits.to_dtype(ftbench_kernels::cross_entropy::loss_dtype(logits.dtype()))?;
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let picked = logp.gather(&targets.unsqueeze(1)?, 1)?;
    picked.mean_all()?.neg()
}
