//! The memory model: every component of a training run's peak, in bytes.
//!
//! Components:
//! - weights: the model's weights in the dtype computation reads (base weights for LoRA/QLoRA,
//!   dense parts for QLoRA; NF4 codes separately);
//! - quant_constants: NF4 block constants (absmax, or 8-bit codes + second-level constants);
//! - adapters: LoRA A and B (f32 in mixed precision, as PEFT keeps them);
//! - master_weights: fp32 copies kept by mixed precision beside bf16 compute weights;
//! - gradients: one per trainable parameter, in the master dtype;
//! - optimizer_states: the optimizer's own model (its registry entry's `state_bytes`) over every
//!   trainable tensor: AdamW's two moments in f32, bf16 or 8-bit; GaLore's projected moments;
//! - activations: what the backward pass needs, per the implementation (see `Implementation`);
//! - logits: the LM head output and the loss's buffers (vocab-wide, in f32);
//! - runtime_overhead: not tensor bytes: the CUDA context and allocator reserve on a GPU, the
//!   process baseline on the CPU.
//!
//! How the peak is composed depends on when each component is alive: PyTorch frees activations
//! as backward proceeds and gradients grow as it does, so its peak is persistent state plus the
//! larger of (gradients) and (activations + logits). candle keeps the whole graph until backward
//! ends, so ftbench's peak is persistent state + gradients + activations + logits.

use crate::method::{BaseFormat, Method};
use crate::model::{DecoderConfig, Precision};
use crate::train::OptimizerSettings;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Logit values per chunk of ftbench's fused LM head + loss (ftbench_kernels::cross_entropy).
const CE_CHUNK_VALUES: u64 = 1 << 22;

/// Whose training code the activations are counted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Implementation {
    /// ftbench's decoder on candle with its fused kernels (the default): every op output of the
    /// graph is kept until backward ends, attention probabilities are materialised, the LM head
    /// and loss run over vocabulary chunks.
    Ftbench,
    /// ftbench with `fused_ops: false`: every intermediate of candle's composed ops is kept.
    FtbenchComposed,
    /// transformers + PEFT on PyTorch with SDPA attention (no seq² scores kept) and autocast.
    Pytorch,
}

/// What one estimate is of. Made from a cell's plan (`EstimateInput::of_plan`, input.rs) by every
/// caller: the per-cell estimate, `ftbench estimate` and the article's table.
#[derive(Debug, Clone, Serialize)]
pub struct EstimateInput {
    pub method: Method,
    pub batch: u64,
    pub seq_len: u64,
    /// Positions whose logits are computed (batch·seq_len for plain causal LM).
    pub loss_tokens: u64,
    /// The precision registry's entry (compute, master and frozen dtypes).
    #[serde(serialize_with = "by_name")]
    pub precision: &'static Precision,
    /// The optimizer's settings, whose registry entry models its state.
    #[serde(serialize_with = "optimizer_name")]
    pub optimizer: Arc<dyn OptimizerSettings>,
    pub recompute: bool,
    pub lora_rank: u64,
    /// Module names, or `all-linear`.
    pub lora_targets: Vec<String>,
    pub nf4_block_size: u64,
    pub nf4_double_quant: bool,
    pub implementation: Implementation,
    /// True for a GPU run (adds the CUDA context to the device view).
    pub gpu: bool,
    /// Where batch, seq_len and loss_tokens come from (the records say at which shapes a cell
    /// was estimated).
    pub shapes: String,
}

fn by_name<S: serde::Serializer>(p: &&'static Precision, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.name)
}

fn optimizer_name<S: serde::Serializer>(o: &Arc<dyn OptimizerSettings>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(o.kind().name())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Component {
    pub name: String,
    pub bytes: u64,
    /// How it was counted.
    pub note: String,
}

/// An estimate: components, and the peak they compose to.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// Peak tensor bytes (the allocator's view); runtime overhead excluded.
    pub peak_tensor_bytes: u64,
    /// Peak tensor bytes + runtime overhead: the device-used (GPU) or RSS (CPU) view.
    pub total_bytes: u64,
    pub components: Vec<Component>,
    /// Parameters of the base model and of the adapters; trainable parameters.
    pub params_base: u64,
    pub params_adapters: u64,
    pub params_trainable: u64,
    /// Training FLOPs per token (forward + backward, + recompute).
    pub flops_per_token: f64,
}

impl Estimate {
    pub fn get(&self, name: &str) -> u64 {
        self.components.iter().find(|c| c.name == name).map_or(0, |c| c.bytes)
    }
}

struct Shapes {
    h: u64,
    i: u64,
    q: u64,
    kv: u64,
    heads: u64,
    layers: u64,
    vocab: u64,
    /// (out, in, module name) of each linear of one layer.
    linears: Vec<(u64, u64, &'static str)>,
    /// What the family adds to a Llama block (model/config.rs options).
    qkv_bias: bool,
    qk_norm: bool,
    sandwich_norms: bool,
    geglu: bool,
    fused_projections: bool,
    attn_softcap: bool,
    final_softcap: bool,
}

fn shapes(cfg: &DecoderConfig) -> Shapes {
    let (h, i, hd) = (cfg.hidden_size as u64, cfg.intermediate_size as u64, cfg.head_dim() as u64);
    let (q, kv) = (cfg.num_attention_heads as u64 * hd, cfg.num_key_value_heads as u64 * hd);
    let linears = cfg.linears().iter().map(|l| (l.out as u64, l.inp as u64, l.name)).collect();
    Shapes {
        h,
        i,
        q,
        kv,
        heads: cfg.num_attention_heads as u64,
        layers: cfg.num_hidden_layers as u64,
        vocab: cfg.vocab_size as u64,
        linears,
        qkv_bias: cfg.qkv_bias,
        qk_norm: cfg.qk_norm,
        sandwich_norms: cfg.sandwich_norms,
        geglu: cfg.activation == crate::model::config::Activation::GeluTanh,
        fused_projections: cfg.fused_projections,
        attn_softcap: cfg.attn_logit_softcapping.is_some(),
        final_softcap: cfg.final_logit_softcapping.is_some(),
    }
}

/// Parameters of `method`'s rank-`rank` adapters on the `targets` linears of every layer.
pub fn adapter_params(cfg: &DecoderConfig, method: Method, rank: u64, targets: &[String]) -> u64 {
    let s = shapes(cfg);
    let targeted = |m: &str| targets.iter().any(|t| t == "all-linear" || t == m);
    s.layers
        * s.linears
            .iter()
            .filter(|(_, _, m)| targeted(m))
            .map(|(o, i, _)| method.adapter_params(*o, *i, rank))
            .sum::<u64>()
}

/// Estimates the peak memory of one training step of `cfg` under `x`.
pub fn estimate(cfg: &DecoderConfig, x: &EstimateInput) -> Result<Estimate, String> {
    check(cfg, x)?;
    let n = Counts::of(cfg, x);
    let mut c: Vec<Component> = Vec::new();
    model_states(&n, x, &mut c);
    optimizer_states(cfg, &n, x, &mut c);
    let (layer_bytes, kept) = activations(&n, x, &mut c);
    logits(&n, x, &mut c);
    let get = |c: &[Component], name: &str| c.iter().find(|k| k.name == name).map_or(0, |k| k.bytes);
    let persistent: u64 = ["weights", "quant_constants", "adapters", "master_weights", "optimizer_states"]
        .iter()
        .map(|name| get(&c, name))
        .sum();
    let (grads, acts) = (get(&c, "gradients"), kept + get(&c, "logits"));
    let peak = match x.implementation {
        // candle keeps the graph until backward ends: persistent state, gradients and every
        // activation at once, plus the larger of two transients: the loss's backward at its
        // start (candle's log-softmax and gather backward hold about seven vocab-wide buffers at
        // once, each gradient being zeros + sum), and at its end the gradient of the largest
        // trainable tensor created as zeros + sum (full fine-tuning).
        Implementation::Ftbench | Implementation::FtbenchComposed => {
            let largest = if n.full { n.s.vocab * n.s.h * n.master } else { 0 };
            let loss_backward = if x.implementation == Implementation::Ftbench {
                layer_bytes
            } else {
                7 * n.loss_tokens * n.s.vocab * 4 + layer_bytes
            };
            persistent + grads + acts + (2 * largest).max(loss_backward)
        }
        Implementation::Pytorch => persistent + grads.max(acts),
    };
    let overhead = runtime_overhead(x, &mut c);
    Ok(Estimate {
        peak_tensor_bytes: peak,
        total_bytes: peak + overhead,
        components: c,
        params_base: n.base,
        params_adapters: n.adapters,
        params_trainable: n.trainable,
        flops_per_token: flops_per_token(&n, x),
    })
}

/// Inputs no estimate can be made of.
fn check(cfg: &DecoderConfig, x: &EstimateInput) -> Result<(), String> {
    if x.batch == 0 || x.seq_len == 0 {
        return Err(format!(
            "batch and seq_len must be positive (found batch {}, seq_len {})",
            x.batch, x.seq_len
        ));
    }
    // Every count below is a u64 product of these sizes; the largest is the attention scores'
    // bytes over all layers. Refuse sizes where it would wrap rather than print a wrapped number.
    let worst = [
        x.seq_len as u128 + (cfg.hidden_size + cfg.intermediate_size) as u128,
        x.seq_len as u128,
        cfg.num_attention_heads.max(1) as u128,
        cfg.num_hidden_layers.max(1) as u128,
        64,
    ]
    .into_iter()
    .try_fold(x.batch as u128, u128::checked_mul);
    if worst.is_none_or(|w| w > u64::MAX as u128) {
        return Err(format!(
            "batch {} × seq_len {} is too large to estimate (its byte counts overflow 64 bits)",
            x.batch, x.seq_len
        ));
    }
    if !x.method.trains() {
        return Err("method `base` trains nothing: the estimator models a training step".into());
    }
    if x.method.has_adapters() && x.lora_rank == 0 {
        return Err(format!("lora_rank must be at least 1 for {}", x.method));
    }
    if x.method.base_format() == BaseFormat::Nf4 && !x.method.trains_base() {
        crate::method::check_block_size(x.nf4_block_size).map_err(|e| format!("nf4_block_size {e}"))?;
    }
    crate::method::LoraConfig::check_targets(&x.lora_targets).map_err(|e| format!("lora_targets: {e}"))
}

/// The sizes every component is counted from.
struct Counts {
    s: Shapes,
    /// Parameters of the base, of its decoder linears, and of the rest (embeddings, head, norms).
    base: u64,
    linear: u64,
    dense_rest: u64,
    adapters: u64,
    trainable: u64,
    /// Full fine-tuning; an NF4 base.
    full: bool,
    nf4: bool,
    /// Bytes per value: compute, master (trainable weights, adapters, gradients).
    compute: u64,
    master: u64,
    /// Tokens of the batch, and those whose logits are computed.
    tokens: u64,
    loss_tokens: u64,
}

impl Counts {
    fn of(cfg: &DecoderConfig, x: &EstimateInput) -> Counts {
        let s = shapes(cfg);
        let base = cfg.num_parameters() as u64;
        let linear = s.layers * s.linears.iter().map(|(o, i, _)| o * i).sum::<u64>();
        let adapters = if x.method.has_adapters() {
            adapter_params(cfg, x.method, x.lora_rank, &x.lora_targets)
        } else {
            0
        };
        let full = x.method.trains_base();
        let tokens = x.batch * x.seq_len;
        Counts {
            base,
            linear,
            dense_rest: base - linear,
            adapters,
            trainable: if full { base } else { adapters },
            full,
            nf4: x.method.base_format() == BaseFormat::Nf4 && !full,
            // dtype sizes, from the precision's registry entry
            compute: x.precision.compute.size_in_bytes() as u64,
            master: x.precision.master.size_in_bytes() as u64,
            tokens,
            loss_tokens: x.loss_tokens.min(tokens),
            s,
        }
    }
}

/// Weights, quantization constants, adapters, master weights and gradients.
fn model_states(n: &Counts, x: &EstimateInput, c: &mut Vec<Component>) {
    let (compute, master) = (n.compute, n.master);
    // Master copies wider than the compute dtype (f32 masters under bf16 compute).
    let mixed = master != compute;
    let (weights, quant, note) = match (n.full, n.nf4) {
        (true, _) if mixed => (
            0,
            0,
            format!("the {master}-byte weights are the master weights (below); {compute}-byte copies are transient"),
        ),
        (true, _) => (n.base * compute, 0, format!("{} params × {compute} B", n.base)),
        (false, false) => (n.base * compute, 0, format!("frozen base: {} params × {compute} B", n.base)),
        (false, true) => {
            let bs = x.nf4_block_size;
            let blocks = n.linear.div_ceil(bs);
            let consts = if x.nf4_double_quant {
                blocks + 4 * blocks.div_ceil(256) + 4
            } else {
                4 * blocks
            };
            let how = if x.nf4_double_quant {
                " (8-bit, double-quantized)"
            } else {
                " (f32)"
            };
            (
                n.linear / 2 + n.dense_rest * compute,
                consts,
                format!(
                    "NF4 linears: {} params × 0.5 B; embeddings, LM head, norms: {} × {compute} B; constants per {bs}-value block{how}",
                    n.linear, n.dense_rest
                ),
            )
        }
    };
    push(c, "weights", weights, note);
    push(
        c,
        "quant_constants",
        quant,
        if quant > 0 { "NF4 absmax constants".into() } else { "none".into() },
    );
    // Adapters train: they are kept in the master dtype.
    push(
        c,
        "adapters",
        n.adapters * master,
        format!("{} params (r = {}) × {master} B", n.adapters, x.lora_rank),
    );
    let master_bytes = if n.full && mixed { n.base * master } else { 0 };
    let note = if master_bytes > 0 {
        format!("{master}-byte master copy of every weight")
    } else {
        "none".into()
    };
    push(c, "master_weights", master_bytes, note);
    push(c, "gradients", n.trainable * master, format!("{} trainable params", n.trainable));
}

/// The optimizer's state, as its registry entry models it, over every trainable tensor: each
/// weight under full fine-tuning (shapes matter to an optimizer that projects matrices), the
/// adapters as one flat tensor otherwise.
fn optimizer_states(cfg: &DecoderConfig, n: &Counts, x: &EstimateInput, c: &mut Vec<Component>) {
    let tensors: Vec<(String, Vec<u64>)> = if n.full {
        crate::model::weight_shapes(cfg)
            .into_iter()
            .map(|(name, d)| (name, d.into_iter().map(|v| v as u64).collect()))
            .collect()
    } else {
        vec![("adapters".to_string(), vec![n.adapters])]
    };
    let states: f64 = tensors
        .iter()
        .map(|(name, dims)| x.optimizer.state_bytes(name, dims, x.precision.master))
        .sum();
    let settings = match x.optimizer.describe() {
        d if d.is_empty() => String::new(),
        d => format!("; {d}"),
    };
    push(
        c,
        "optimizer_states",
        states as u64,
        format!(
            "{} over {} trainable params ({:.2} B each){settings}",
            x.optimizer.kind().name(),
            n.trainable,
            states / n.trainable.max(1) as f64
        ),
    );
}

/// Activations kept for backward (and one layer's worth, returned with the total kept: the
/// transient of a recomputed layer).
fn activations(n: &Counts, x: &EstimateInput, c: &mut Vec<Component>) -> (u64, u64) {
    let (s, t) = (&n.s, n.tokens);
    let (mut per_layer, mut layer_note) = layer_activations(s, x, t);
    let (extra, extra_note) = family_activations(s, x, t);
    if extra > 0 {
        per_layer += extra;
        layer_note += &format!(" + {extra_note}");
    }
    // What the method keeps per output feature of each adapted linear (DoRA: its un-scaled output).
    let kept = x.method.kept_per_output();
    if kept > 0 {
        let targeted = |m: &str| x.lora_targets.iter().any(|t| t == "all-linear" || t == m);
        let outs: u64 = s.linears.iter().filter(|(_, _, m)| targeted(m)).map(|(o, _, _)| o).sum();
        per_layer += t * kept * outs;
        layer_note += &format!(" + {kept} value(s) per output feature of each adapted linear ({})", x.method);
    }
    let layer_bytes = per_layer * n.compute;
    let activations = if x.recompute {
        // checkpoints (each layer's input) + one layer recomputed at a time
        s.layers * t * s.h * n.compute + layer_bytes
    } else {
        s.layers * layer_bytes
    };
    // Dense copies of one weight alive during a matmul (an NF4 base dequantizes one weight at
    // a time, forward and backward; DoRA forms W + s·BA for its weight norm), as the method says.
    let copies = x.method.transient_weight_copies();
    let dequant = copies * s.linears.iter().map(|(o, i, _)| o * i).max().unwrap_or(0) * n.compute;
    let recompute = if x.recompute { ", recompute: layer inputs + one layer" } else { "" };
    let transient = if dequant > 0 {
        format!(", + {copies} transient dense weight copies")
    } else {
        String::new()
    };
    push(
        c,
        "activations",
        activations + dequant,
        format!("{layer_note}; {} layers{recompute}{transient}", s.layers),
    );
    (layer_bytes, activations + dequant)
}

/// Logits and loss buffers: f32 logits, log-softmax, and its gradient (+ the bf16 logits under
/// autocast); ftbench's fused LM head + loss holds at most one chunk of logits and its gradient.
fn logits(n: &Counts, x: &EstimateInput, c: &mut Vec<Component>) {
    let (lt, vocab) = (n.loss_tokens, n.s.vocab);
    // Soft-capped logits (Gemma 2) take the composed path: the whole logits and the cap's three
    // outputs (x / cap, tanh, · cap) beside the loss's own copies.
    if n.s.final_softcap && x.implementation != Implementation::Pytorch {
        let copies = 7;
        push(
            c,
            "logits",
            lt * vocab * 4 * copies,
            format!("{lt} positions × vocab {vocab} × 4 B × {copies} copies (soft-capped logits: composed LM head and loss)"),
        );
        return;
    }
    if x.implementation == Implementation::Ftbench {
        let chunk = (lt * vocab).min(CE_CHUNK_VALUES);
        push(
            c,
            "logits",
            2 * chunk * 4,
            format!("fused LM head + loss: a chunk of {chunk} logits and its gradient (transient)"),
        );
        return;
    }
    let copies: f64 = match x.implementation {
        Implementation::Pytorch => 3.0 + if n.compute == 2 { 0.5 } else { 0.0 },
        _ => 4.0,
    };
    push(
        c,
        "logits",
        (lt as f64 * vocab as f64 * 4.0 * copies) as u64,
        format!("{lt} positions × vocab {vocab} × 4 B × {copies} copies"),
    );
}

/// What the runtime holds beyond tensors, in the view the estimate's total is compared with.
fn runtime_overhead(x: &EstimateInput, c: &mut Vec<Component>) -> u64 {
    let (bytes, note) = match (x.gpu, x.implementation) {
        // CUDA context + cuBLAS workspace; no caching-allocator reserve.
        (true, _) => (600_000_000, "CUDA context and library workspaces (device-used view only)"),
        // What a cell's process holds beyond tensors (thread pools' stacks, allocator arenas,
        // code pages touched): 5.2-5.5 MB of RSS above the start-up baseline on the tiny preset,
        // whose tensors are 2-3 MB (quickstart, 2026-12-05, the cell's own VmHWM).
        (false, Implementation::Ftbench | Implementation::FtbenchComposed) => (
            5_500_000,
            "compute threads' stacks, allocator arenas, code (ftbench's RSS above its start-up baseline beyond tensors)",
        ),
        (false, Implementation::Pytorch) => (400_000_000, "libtorch and its allocator (process RSS view only)"),
    };
    push(c, "runtime_overhead", bytes, note.into());
    bytes
}

/// Training FLOPs per token: forward 2N, backward 4N for full (2N for input grads alone when
/// the base is frozen), + forward again under recompute.
fn flops_per_token(n: &Counts, x: &EstimateInput) -> f64 {
    let base = n.base as f64;
    // QKᵀ and PV, forward, causal ≈ half of 2·t·q·2.
    let attn = 2.0 * 2.0 * n.s.layers as f64 * x.seq_len as f64 * n.s.q as f64;
    let fwd = 2.0 * base + attn;
    let bwd = if n.full { 2.0 * fwd } else { fwd + 4.0 * n.adapters as f64 };
    fwd + bwd + if x.recompute { fwd } else { 0.0 }
}

fn push(c: &mut Vec<Component>, name: &str, bytes: u64, note: String) {
    c.push(Component {
        name: name.to_string(),
        bytes,
        note,
    });
}

/// Elements kept per layer for backward, for t tokens.
fn layer_activations(s: &Shapes, x: &EstimateInput, t: u64) -> (u64, String) {
    let (h, kv, i, q) = (s.h, s.kv, s.i, s.q);
    match x.implementation {
        Implementation::Ftbench => {
            // Counted from ftbench's graph with its fused kernels (harness/model/decoder.rs):
            // every op output lives until backward ends. Two RMSNorms, o_proj, two residual
            // adds, down_proj: 6·h; q, its rotation, the attention output and its contiguous
            // copy: 4·q; k, v, k's rotation, v's contiguous copy: 4·kv; gate, up and SwiGLU:
            // 3·i; raw scores and probabilities: 2·heads·seq².
            let scores = 2 * x.batch * s.heads * x.seq_len * x.seq_len;
            (
                t * (6 * h + 4 * q + 4 * kv + 3 * i) + scores,
                "ftbench graph (fused ops): 6·h + 4·q + 4·kv + 3·i per token + 2·heads·seq² per sequence".into(),
            )
        }
        Implementation::FtbenchComposed => {
            // Counted from ftbench's graph of composed candle ops (ops.rs): two RMSNorms (3
            // h-wide outputs each), q/k/v and their rotary embedding (4.5 outputs each),
            // contiguous copies, attention output and its reshape, o_proj, two residual adds,
            // down_proj: 18.5·h; k and v paths 8.5·kv; the MLP's gate, up, silu, product 4·i;
            // attention scores, mask, softmax 6·heads·seq².
            let scores = 6 * x.batch * s.heads * x.seq_len * x.seq_len;
            (
                (37 * t * h) / 2 + (17 * t * kv) / 2 + 4 * t * i + scores,
                "ftbench graph (composed ops): 18.5·h + 8.5·kv + 4·i per token + 6·heads·seq² per sequence".into(),
            )
        }
        Implementation::Pytorch => {
            // SDPA keeps q, k, v, its output (+ logsumexp); two norms keep input and output;
            // o_proj input; the MLP keeps gate, up, silu(gate) and the product.
            (
                t * (7 * h + 2 * kv + 4 * i) + t * (q - h),
                "PyTorch SDPA: 7·h + 2·kv + 4·i per token".into(),
            )
        }
    }
}

/// Elements kept per layer beyond a Llama block's, for t tokens, by what the family adds (each
/// op output candle keeps until backward; counted from model/decoder.rs): q/k/v biases add
/// their sums (q + 2·kv); per-head q/k norms their outputs (q + kv); Gemma's two extra norms
/// 2·h; GeGLU, composed, nine i-wide outputs beyond SwiGLU's (fused: none); fused gate_up the contiguous
/// copies of its halves (i); soft-capped scores, composed, 3 + 4 score-sized outputs
/// (cap, and the composed softmax in place of the fused one).
fn family_activations(s: &Shapes, x: &EstimateInput, t: u64) -> (u64, String) {
    let (h, q, kv, i) = (s.h, s.q, s.kv, s.i);
    let scores = x.batch * s.heads * x.seq_len * x.seq_len;
    let mut parts: Vec<(u64, &str)> = Vec::new();
    match x.implementation {
        Implementation::Ftbench | Implementation::FtbenchComposed => {
            let composed = x.implementation == Implementation::FtbenchComposed;
            parts.push((s.qkv_bias as u64 * t * (q + 2 * kv), "q/k/v biases: q + 2·kv"));
            parts.push((s.qk_norm as u64 * t * (q + kv) * if composed { 3 } else { 1 }, "q/k norms"));
            parts.push((
                s.sandwich_norms as u64 * t * 2 * h * if composed { 3 } else { 1 },
                "Gemma's output norms: 2·h",
            ));
            parts.push(((s.geglu && composed) as u64 * t * 9 * i, "composed GeGLU: 9·i"));
            parts.push((s.fused_projections as u64 * t * i, "gate_up halves: i"));
            let capped = if composed { 3 } else { 7 };
            parts.push((s.attn_softcap as u64 * capped * scores, "soft-capped scores, composed"));
        }
        Implementation::Pytorch => {
            // Autograd keeps each op's inputs: the norms' inputs and outputs, eager attention's
            // score tensors when scores are capped (SDPA cannot cap them).
            parts.push((s.qk_norm as u64 * t * (q + kv), "q/k norms"));
            parts.push((s.sandwich_norms as u64 * t * 4 * h, "Gemma's output norms: 4·h"));
            parts.push((s.attn_softcap as u64 * 5 * scores, "eager soft-capped attention: 5·heads·seq²"));
        }
    }
    parts.retain(|(n, _)| *n > 0);
    let total = parts.iter().map(|(n, _)| n).sum();
    let note = parts.iter().map(|(_, what)| *what).collect::<Vec<_>>().join(", ");
    (total, note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::preset;

    fn input(method: Method, precision: &str) -> EstimateInput {
        EstimateInput {
            method,
            batch: 2,
            seq_len: 8,
            loss_tokens: 16,
            precision: crate::model::precision(precision).unwrap(),
            optimizer: crate::train::default_optimizer(Default::default()),
            recompute: false,
            lora_rank: 4,
            lora_targets: vec!["all-linear".into()],
            nf4_block_size: 64,
            nf4_double_quant: false,
            implementation: Implementation::Ftbench,
            gpu: false,
            shapes: "test".into(),
        }
    }

    /// A Gemma 3 block keeps, beyond the same shapes as a Llama block: q/k norm outputs (q + kv)
    /// and its two extra norms (2·h) per token; composed, GeGLU's nine i-wide outputs too.
    #[test]
    fn family_options_add_their_activations() {
        let gemma = preset("gemma3-270m").unwrap();
        let llama = crate::model::config::Family::Llama.configure(gemma.clone());
        let x = input(Method::named("lora"), "f32");
        let act = |c: &DecoderConfig| estimate(c, &x).unwrap().get("activations");
        let (t, h, i, q, kv) = (16u64, 640, 2048, 4 * 256, 256);
        assert_eq!(act(&gemma) - act(&llama), 18 * t * (q + kv + 2 * h) * 4);
        let composed = EstimateInput {
            implementation: Implementation::FtbenchComposed,
            ..x.clone()
        };
        let act = |c: &DecoderConfig| estimate(c, &composed).unwrap().get("activations");
        assert_eq!(act(&gemma) - act(&llama), 18 * t * (3 * (q + kv) + 3 * 2 * h + 9 * i) * 4);
        // Gemma 2's soft caps: the attention's scores take the composed path, the logits too.
        let g2 = preset("gemma2-2b").unwrap();
        let uncapped = DecoderConfig {
            attn_logit_softcapping: None,
            final_logit_softcapping: None,
            ..g2.clone()
        };
        let scores = 2 * 8 * 8 * 8;
        let e = |c: &DecoderConfig| estimate(c, &x).unwrap();
        assert_eq!(e(&g2).get("activations") - e(&uncapped).get("activations"), 26 * 7 * scores * 4);
        assert_eq!(e(&g2).get("logits"), 16 * 256000 * 4 * 7);
    }

    /// The tiny preset by hand: vocab 256, h 64, i 160, 2 layers, 4 heads of 16, 2 kv heads
    /// (kv width 32), untied. Linears per layer: q 64·64 + k 32·64 + v 32·64 + o 64·64 +
    /// gate/up 160·64 ×2 + down 64·160 = 43008; norms 2·64; embed 256·64 = 16384, head 16384.
    #[test]
    fn tiny_breakdown_by_hand() {
        let cfg = preset("tiny").unwrap();
        let n = 16384 * 2 + 2 * (43008 + 128) + 64;
        assert_eq!(cfg.num_parameters(), n as usize);
        let e = estimate(&cfg, &input(Method::named("full"), "f32")).unwrap();
        assert_eq!(e.get("weights"), 4 * n);
        assert_eq!(e.get("gradients"), 4 * n);
        assert_eq!(e.get("optimizer_states"), 8 * n);
        assert_eq!(e.get("master_weights"), 0);
        // Fused kernels, t = 16 tokens: 16·(6·64 + 4·64 + 4·32 + 3·160) + 2·2·4·8²
        // = 16·1248 + 1024 = 20992 per layer; the loss holds one chunk of logits and its gradient.
        assert_eq!(e.get("activations"), 2 * 20992 * 4);
        assert_eq!(e.get("logits"), 2 * 16 * 256 * 4);
        // Composed ops: 18.5·16·64 + 8.5·16·32 + 4·16·160 + 6·2·4·8² = 18944 + 4352 + 10240 + 3072
        // = 36608 per layer; logits, log-softmax and their gradients held at once.
        let mut composed = input(Method::named("full"), "f32");
        composed.implementation = Implementation::FtbenchComposed;
        let ec = estimate(&cfg, &composed).unwrap();
        assert_eq!(ec.get("activations"), 2 * 36608 * 4);
        assert_eq!(ec.get("logits"), 16 * 256 * 4 * 4);
        // Recompute: each layer's input (16·64) + one layer's graph.
        let mut re = input(Method::named("full"), "f32");
        re.recompute = true;
        assert_eq!(estimate(&cfg, &re).unwrap().get("activations"), (2 * 16 * 64 + 20992) * 4);

        let lora = estimate(&cfg, &input(Method::named("lora"), "f32")).unwrap();
        // adapters: r·(out+in) per linear: 4·(128+96+96+128+224+224+224) = 4480 per layer
        assert_eq!(lora.params_adapters, 2 * 4480);
        assert_eq!(lora.get("adapters"), 4 * 8960);
        assert_eq!(lora.get("gradients"), 4 * 8960);
        assert_eq!(lora.get("optimizer_states"), 8 * 8960);

        let q = estimate(&cfg, &input(Method::named("qlora"), "f32")).unwrap();
        let linears = 2 * 43008;
        assert_eq!(q.get("weights"), linears / 2 + 4 * (n - linears));
        assert_eq!(q.get("quant_constants"), 4 * (linears / 64));
        let mut dq = input(Method::named("qlora"), "f32");
        dq.nf4_double_quant = true;
        let blocks = linears / 64;
        assert_eq!(
            estimate(&cfg, &dq).unwrap().get("quant_constants"),
            blocks + 4 * blocks.div_ceil(256) + 4
        );
    }

    #[test]
    fn mixed_precision_keeps_f32_master_weights_and_sixteen_bytes_a_parameter() {
        let cfg = preset("llama2-7b").unwrap();
        let mut x = input(Method::named("full"), "bf16-mixed");
        x.implementation = Implementation::Pytorch;
        let e = estimate(&cfg, &x).unwrap();
        let n = cfg.num_parameters() as u64;
        assert_eq!(e.get("master_weights") + e.get("gradients") + e.get("optimizer_states"), 16 * n);
        assert_eq!(e.get("weights"), 0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let cfg = preset("tiny").unwrap();
        let mut x = input(Method::named("lora"), "f32");
        x.batch = 0;
        assert!(estimate(&cfg, &x).unwrap_err().contains("batch"));
        let mut x = input(Method::named("lora"), "f32");
        x.lora_targets = vec!["qkv".into()];
        assert!(estimate(&cfg, &x).unwrap_err().contains("unknown module `qkv`"));
    }
}
