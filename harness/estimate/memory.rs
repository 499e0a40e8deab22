//! The memory model: every component of a training run's peak, in bytes.
//!
//! Components:
//! - weights: the model's weights in the dtype computation reads (base weights for LoRA/QLoRA,
//!   dense parts for QLoRA; NF4 codes separately);
//! - quant_constants: NF4 block constants (absmax, or 8-bit codes + second-level constants);
//! - adapters: LoRA A and B (f32 in mixed precision, as PEFT keeps them);
//! - master_weights: fp32 copies kept by mixed precision beside bf16 compute weights;
//! - gradients: one per trainable parameter, in the master dtype;
//! - optimizer_states: AdamW's two moments (f32, bf16 for pure bf16, 8-bit), SGD none;
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
use crate::model::LlamaConfig;
use serde::{Deserialize, Serialize};

/// Numeric precision of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32 (the `precision: f32` knob).
    #[value(alias = "f32")]
    Fp32,
    /// Weights, gradients and optimizer state in bf16 ("pure bf16").
    Bf16,
    /// bf16 compute, f32 master weights, gradients and optimizer state (the GPU default for
    /// full; the `precision: bf16-mixed` knob).
    #[value(alias = "bf16-mixed")]
    Mixed,
}

impl From<&crate::model::Precision> for Precision {
    /// The estimator's model of a run's `precision` knob, from its dtypes: f32 masters with
    /// half-precision compute are mixed; half-precision masters pure bf16; else f32.
    fn from(p: &crate::model::Precision) -> Self {
        use candle_core::DType;
        match (p.master, p.compute) {
            (DType::BF16 | DType::F16, _) => Precision::Bf16,
            (_, DType::BF16 | DType::F16) => Precision::Mixed,
            _ => Precision::Fp32,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// Two moments per trainable parameter (f32; bf16 under pure bf16).
    Adamw,
    /// Two bf16 moments per trainable parameter, whatever the precision.
    #[value(name = "adamw-bf16")]
    #[serde(rename = "adamw-bf16")]
    AdamwBf16,
    /// bitsandbytes' 8-bit blockwise AdamW (ftbench's `adamw-8bit`): two 1-byte moments + an
    /// f32 constant per block of 256 values each.
    #[value(name = "adamw-8bit", alias = "adamw8bit")]
    #[serde(rename = "adamw-8bit")]
    Adamw8bit,
    /// Plain SGD: no state.
    Sgd,
}

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

#[derive(Debug, Clone, Serialize)]
pub struct EstimateInput {
    pub method: Method,
    pub batch: u64,
    pub seq_len: u64,
    /// Positions whose logits are computed (batch·seq_len for plain causal LM).
    pub loss_tokens: u64,
    pub precision: Precision,
    pub optimizer: Optimizer,
    pub recompute: bool,
    pub lora_rank: u64,
    /// Module names, or `all-linear`.
    pub lora_targets: Vec<String>,
    pub nf4_block_size: u64,
    pub nf4_double_quant: bool,
    pub implementation: Implementation,
    /// True for a GPU run (adds the CUDA context to the device view).
    pub gpu: bool,
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
}

fn shapes(cfg: &LlamaConfig) -> Shapes {
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
    }
}

/// Parameters of `method`'s rank-`rank` adapters on the `targets` linears of every layer.
pub fn adapter_params(cfg: &LlamaConfig, method: Method, rank: u64, targets: &[String]) -> u64 {
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
pub fn estimate(cfg: &LlamaConfig, x: &EstimateInput) -> Result<Estimate, String> {
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
    let nf4 = x.method.base_format() == BaseFormat::Nf4 && !x.method.trains_base();
    if nf4 {
        crate::method::check_block_size(x.nf4_block_size).map_err(|e| format!("nf4_block_size {e}"))?;
    }
    crate::method::LoraConfig::check_targets(&x.lora_targets).map_err(|e| format!("lora_targets: {e}"))?;
    let s = shapes(cfg);
    let n_base = cfg.num_parameters() as u64;
    let linear_per_layer: u64 = s.linears.iter().map(|(o, i, _)| o * i).sum();
    let n_linear = s.layers * linear_per_layer;
    let n_dense_rest = n_base - n_linear; // embeddings, LM head, norms
    let n_adapters = if x.method.has_adapters() {
        adapter_params(cfg, x.method, x.lora_rank, &x.lora_targets)
    } else {
        0
    };
    let full = x.method.trains_base();
    let n_trainable = if full { n_base } else { n_adapters };

    // dtype sizes
    let compute: u64 = if x.precision == Precision::Fp32 { 4 } else { 2 };
    let master: u64 = if x.precision == Precision::Bf16 { 2 } else { 4 };
    let mut c: Vec<Component> = Vec::new();

    // Weights.
    let (weights, quant, weights_note) = match (full, nf4) {
        (true, _) => match x.precision {
            Precision::Mixed => (
                0,
                0,
                "the f32 weights are the master weights (below); bf16 copies are transient".to_string(),
            ),
            _ => (n_base * compute, 0, format!("{n_base} params × {compute} B")),
        },
        (false, false) => (n_base * compute, 0, format!("frozen base: {n_base} params × {compute} B")),
        (false, true) => {
            let bs = x.nf4_block_size;
            let blocks = n_linear.div_ceil(bs);
            let consts = if x.nf4_double_quant {
                blocks + 4 * blocks.div_ceil(256) + 4
            } else {
                4 * blocks
            };
            (
                n_linear / 2 + n_dense_rest * compute,
                consts,
                format!(
                    "NF4 linears: {n_linear} params × 0.5 B; embeddings, LM head, norms: {n_dense_rest} × {compute} B; constants per {bs}-value block{}",
                    if x.nf4_double_quant { " (8-bit, double-quantized)" } else { " (f32)" }
                ),
            )
        }
    };
    push(&mut c, "weights", weights, weights_note);
    push(
        &mut c,
        "quant_constants",
        quant,
        if quant > 0 { "NF4 absmax constants".into() } else { "none".into() },
    );
    let adapter_dtype = if x.precision == Precision::Bf16 { 2 } else { 4 };
    push(
        &mut c,
        "adapters",
        n_adapters * adapter_dtype,
        format!("{n_adapters} params (r = {}) × {adapter_dtype} B", x.lora_rank),
    );
    let master_bytes = if full && x.precision == Precision::Mixed { n_base * 4 } else { 0 };
    push(
        &mut c,
        "master_weights",
        master_bytes,
        if master_bytes > 0 {
            "f32 master copy of every weight".into()
        } else {
            "none".into()
        },
    );
    let grad_bytes = n_trainable * if full { master } else { adapter_dtype };
    push(&mut c, "gradients", grad_bytes, format!("{n_trainable} trainable params"));
    let state_per_param: f64 = match x.optimizer {
        Optimizer::Adamw => 2.0 * if x.precision == Precision::Bf16 { 2.0 } else { 4.0 },
        Optimizer::AdamwBf16 => 2.0 * 2.0,
        Optimizer::Adamw8bit => 2.0 * (1.0 + 4.0 / ftbench_kernels::adamw_state::BLOCK_8BIT as f64),
        Optimizer::Sgd => 0.0,
    };
    push(
        &mut c,
        "optimizer_states",
        (n_trainable as f64 * state_per_param) as u64,
        format!("{state_per_param} B per trainable param"),
    );

    // Activations kept for backward.
    let t = x.batch * x.seq_len;
    let act_dtype = compute;
    let (mut per_layer, mut layer_note) = layer_activations(&s, x, t);
    // What the method keeps per output feature of each adapted linear (DoRA: its un-scaled output).
    let kept = x.method.kept_per_output();
    if kept > 0 {
        let targeted = |m: &str| x.lora_targets.iter().any(|t| t == "all-linear" || t == m);
        let outs: u64 = s.linears.iter().filter(|(_, _, m)| targeted(m)).map(|(o, _, _)| o).sum();
        per_layer += t * kept * outs;
        layer_note += &format!(" + {kept} value(s) per output feature of each adapted linear ({})", x.method);
    }
    let layer_bytes = per_layer * act_dtype;
    let activations = if x.recompute {
        // checkpoints (each layer's input) + one layer recomputed at a time
        s.layers * t * s.h * act_dtype + layer_bytes
    } else {
        s.layers * layer_bytes
    };
    // Dense copies of one weight alive during a matmul (an NF4 base dequantizes one weight at
    // a time, forward and backward; DoRA forms W + s·BA for its weight norm), as the method says.
    let dequant = x.method.transient_weight_copies() * s.linears.iter().map(|(o, i, _)| o * i).max().unwrap_or(0) * compute;
    push(
        &mut c,
        "activations",
        activations + dequant,
        format!(
            "{layer_note}; {} layers{}{}",
            s.layers,
            if x.recompute { ", recompute: layer inputs + one layer" } else { "" },
            if dequant > 0 {
                format!(", + {} transient dense weight copies", x.method.transient_weight_copies())
            } else {
                String::new()
            }
        ),
    );
    // Logits and loss buffers: f32 logits, log-softmax, and its gradient (+ the bf16 logits under autocast).
    let lt = x.loss_tokens.min(t);
    if x.implementation == Implementation::Ftbench {
        // ftbench_kernels::linear_cross_entropy: at most one chunk of logits and its gradient.
        let chunk = (lt * s.vocab).min(CE_CHUNK_VALUES);
        push(
            &mut c,
            "logits",
            2 * chunk * 4,
            format!("fused LM head + loss: a chunk of {chunk} logits and its gradient (transient)"),
        );
    } else {
        let logit_copies: f64 = match x.implementation {
            Implementation::Pytorch => 3.0 + if compute == 2 { 0.5 } else { 0.0 },
            _ => 4.0,
        };
        push(
            &mut c,
            "logits",
            (lt as f64 * s.vocab as f64 * 4.0 * logit_copies) as u64,
            format!("{lt} positions × vocab {} × 4 B × {logit_copies} copies", s.vocab),
        );
    }

    let persistent: u64 = ["weights", "quant_constants", "adapters", "master_weights", "optimizer_states"]
        .iter()
        .map(|n| c.iter().find(|k| k.name == *n).unwrap().bytes)
        .sum();
    let acts = activations + dequant + c.iter().find(|k| k.name == "logits").unwrap().bytes;
    let peak = match x.implementation {
        // candle keeps the graph until backward ends: persistent state, gradients and every
        // activation at once, plus the larger of two transients: the loss's backward at its
        // start (candle's log-softmax and gather backward hold about seven vocab-wide buffers at
        // once, each gradient being zeros + sum), and at its end the gradient of the largest
        // trainable tensor created as zeros + sum (full fine-tuning).
        Implementation::Ftbench | Implementation::FtbenchComposed => {
            let largest = if full { s.vocab * s.h * master } else { 0 };
            let loss_backward = if x.implementation == Implementation::Ftbench {
                layer_bytes
            } else {
                7 * lt * s.vocab * 4 + layer_bytes
            };
            persistent + grad_bytes + acts + (2 * largest).max(loss_backward)
        }
        Implementation::Pytorch => persistent + grad_bytes.max(acts),
    };
    let overhead = match (x.gpu, x.implementation) {
        (true, _) => 600_000_000, // CUDA context + cuBLAS workspace; no caching-allocator reserve
        (false, Implementation::Ftbench | Implementation::FtbenchComposed) => 8_000_000,
        (false, Implementation::Pytorch) => 400_000_000,
    };
    push(
        &mut c,
        "runtime_overhead",
        overhead,
        if x.gpu {
            "CUDA context and library workspaces (device-used view only)".into()
        } else {
            match x.implementation {
                Implementation::Ftbench | Implementation::FtbenchComposed => {
                    "compute threads' stacks and allocator arenas (ftbench's RSS above its start-up baseline)".into()
                }
                Implementation::Pytorch => "libtorch and its allocator (process RSS view only)".into(),
            }
        },
    );
    // Training FLOPs per token: forward 2N, backward 4N for full (2N for input grads alone when
    // the base is frozen), + forward again under recompute.
    let n = n_base as f64;
    let attn = 2.0 * 2.0 * s.layers as f64 * x.seq_len as f64 * s.q as f64; // QKᵀ and PV, forward, causal ≈ half of 2·t·q·2
    let fwd = 2.0 * n + attn;
    let bwd = if full { 2.0 * fwd } else { fwd + 4.0 * n_adapters as f64 };
    let flops_per_token = fwd + bwd + if x.recompute { fwd } else { 0.0 };
    Ok(Estimate {
        peak_tensor_bytes: peak,
        total_bytes: peak + overhead,
        components: c,
        params_base: n_base,
        params_adapters: n_adapters,
        params_trainable: n_trainable,
        flops_per_token,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::preset;

    fn input(method: Method, precision: Precision) -> EstimateInput {
        EstimateInput {
            method,
            batch: 2,
            seq_len: 8,
            loss_tokens: 16,
            precision,
            optimizer: Optimizer::Adamw,
            recompute: false,
            lora_rank: 4,
            lora_targets: vec!["all-linear".into()],
            nf4_block_size: 64,
            nf4_double_quant: false,
            implementation: Implementation::Ftbench,
            gpu: false,
        }
    }

    /// The tiny preset by hand: vocab 256, h 64, i 160, 2 layers, 4 heads of 16, 2 kv heads
    /// (kv width 32), untied. Linears per layer: q 64·64 + k 32·64 + v 32·64 + o 64·64 +
    /// gate/up 160·64 ×2 + down 64·160 = 43008; norms 2·64; embed 256·64 = 16384, head 16384.
    #[test]
    fn tiny_breakdown_by_hand() {
        let cfg = preset("tiny").unwrap();
        let n = 16384 * 2 + 2 * (43008 + 128) + 64;
        assert_eq!(cfg.num_parameters(), n as usize);
        let e = estimate(&cfg, &input(Method::named("full"), Precision::Fp32)).unwrap();
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
        let mut composed = input(Method::named("full"), Precision::Fp32);
        composed.implementation = Implementation::FtbenchComposed;
        let ec = estimate(&cfg, &composed).unwrap();
        assert_eq!(ec.get("activations"), 2 * 36608 * 4);
        assert_eq!(ec.get("logits"), 16 * 256 * 4 * 4);
        // Recompute: each layer's input (16·64) + one layer's graph.
        let mut re = input(Method::named("full"), Precision::Fp32);
        re.recompute = true;
        assert_eq!(estimate(&cfg, &re).unwrap().get("activations"), (2 * 16 * 64 + 20992) * 4);

        let lora = estimate(&cfg, &input(Method::named("lora"), Precision::Fp32)).unwrap();
        // adapters: r·(out+in) per linear: 4·(128+96+96+128+224+224+224) = 4480 per layer
        assert_eq!(lora.params_adapters, 2 * 4480);
        assert_eq!(lora.get("adapters"), 4 * 8960);
        assert_eq!(lora.get("gradients"), 4 * 8960);
        assert_eq!(lora.get("optimizer_states"), 8 * 8960);

        let q = estimate(&cfg, &input(Method::named("qlora"), Precision::Fp32)).unwrap();
        let linears = 2 * 43008;
        assert_eq!(q.get("weights"), linears / 2 + 4 * (n - linears));
        assert_eq!(q.get("quant_constants"), 4 * (linears / 64));
        let mut dq = input(Method::named("qlora"), Precision::Fp32);
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
        let mut x = input(Method::named("full"), Precision::Mixed);
        x.implementation = Implementation::Pytorch;
        let e = estimate(&cfg, &x).unwrap();
        let n = cfg.num_parameters() as u64;
        assert_eq!(e.get("master_weights") + e.get("gradients") + e.get("optimizer_states"), 16 * n);
        assert_eq!(e.get("weights"), 0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let cfg = preset("tiny").unwrap();
        let mut x = input(Method::named("lora"), Precision::Fp32);
        x.batch = 0;
        assert!(estimate(&cfg, &x).unwrap_err().contains("batch"));
        let mut x = input(Method::named("lora"), Precision::Fp32);
        x.lora_targets = vec!["qkv".into()];
        assert!(estimate(&cfg, &x).unwrap_err().contains("unknown module `qkv`"));
    }
}
