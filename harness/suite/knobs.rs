//! The knobs a suite can set: in `defaults`, as a grid axis, in a `together` point or an
//! `exclude` pattern.
//!
//! One macro declares every knob with its type, default and meaning, so the places a knob
//! can appear (and the resolved cell) can never disagree on its name or type.

use crate::method::Method;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

macro_rules! knobs {
    ($( $(#[doc = $doc:literal])* $name:ident : $ty:ty = $default:expr ;)*) => {
        /// Every knob's resolved value for one cell. A record written before a knob existed
        /// reads it as [`Knobs::before_added`] says (what that ftbench ran with).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default = "Knobs::before_added")]
        pub struct Knobs {
            $( $(#[doc = $doc])* pub $name: $ty, )*
        }

        impl Default for Knobs {
            fn default() -> Self {
                Knobs { $( $name: $default, )* }
            }
        }

        /// Knob values set by `defaults`, a `together` point or an `exclude` pattern.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct KnobOverrides {
            $( #[serde(default, skip_serializing_if = "Option::is_none")] pub $name: Option<$ty>, )*
        }

        /// The grid: the four fixed axes, every knob as an optional axis, and `together` axes.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Grid {
            /// Model specs: `preset:NAME`, `hf:DIR`, `gguf:FILE` (or set `model` in a together axis).
            #[serde(default)]
            pub models: Vec<String>,
            /// Fine-tuning methods (or set `method` in a together axis).
            #[serde(default)]
            pub methods: Vec<Method>,
            /// Where cells run.
            #[serde(default = "default_hardware")]
            pub hardware: Vec<String>,
            /// Seeds: model initialisation, data order. One cell per seed.
            #[serde(default = "default_seeds")]
            pub seeds: Vec<u64>,
            /// Axes whose points set several fields at once (values that must move together),
            /// by axis name.
            #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
            pub together: BTreeMap<String, Vec<Point>>,
            $( #[serde(default, skip_serializing_if = "Option::is_none")] pub $name: Option<Vec<$ty>>, )*
        }

        /// A partial cell: a `together` point or an `exclude` pattern. Unset fields match anything.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Point {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub model: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub method: Option<Method>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub hardware: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub seed: Option<u64>,
            $( #[serde(default, skip_serializing_if = "Option::is_none")] pub $name: Option<$ty>, )*
        }

        impl Knobs {
            /// Every knob's name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$( stringify!($name), )*];
            /// (name, type, what it trades) for every knob, for `ftbench list`.
            pub const DOCS: &'static [(&'static str, &'static str, &'static str)] =
                &[$( (stringify!($name), stringify!($ty), concat!($($doc),*)), )*];

            /// Applies every value `o` sets.
            pub fn apply(&mut self, o: &KnobOverrides) {
                $( if let Some(v) = &o.$name { self.$name = v.clone(); } )*
            }

            /// Sets the knob called `name` to its value in `from` (an unknown name: nothing).
            pub fn copy_knob(&mut self, name: &str, from: &Knobs) {
                match name {
                    $( stringify!($name) => self.$name = from.$name.clone(), )*
                    _ => debug_assert!(false, "no knob `{name}`"),
                }
            }

            /// Whether every value `o` sets equals this cell's.
            pub fn matches(&self, o: &KnobOverrides) -> bool {
                true $( && o.$name.as_ref().map_or(true, |v| *v == self.$name) )*
            }
        }

        impl KnobOverrides {
            /// Names of the knobs this sets.
            pub fn names(&self) -> Vec<&'static str> {
                let mut v = Vec::new();
                $( if self.$name.is_some() { v.push(stringify!($name)); } )*
                v
            }
        }

        impl Grid {
            /// (knob name, one point per value) for every knob axis present.
            pub fn knob_axes(&self) -> Vec<(&'static str, Vec<Point>)> {
                let mut v = Vec::new();
                $( if let Some(values) = &self.$name {
                    v.push((stringify!($name), values.iter().map(|x| Point {
                        $name: Some(x.clone()), ..Default::default()
                    }).collect()));
                } )*
                v
            }
        }

        impl Point {
            /// The knob values this point sets.
            pub fn knobs(&self) -> KnobOverrides {
                KnobOverrides { $( $name: self.$name.clone(), )* }
            }

            /// Names of every field this point sets.
            pub fn names(&self) -> Vec<&'static str> {
                let mut v = Vec::new();
                if self.model.is_some() { v.push("model"); }
                if self.method.is_some() { v.push("method"); }
                if self.hardware.is_some() { v.push("hardware"); }
                if self.seed.is_some() { v.push("seed"); }
                v.extend(self.knobs().names());
                v
            }
        }
    };
}

knobs! {
    /// Optimizer updates to run. More steps: better loss and timing statistics, longer cells.
    steps: u32 = 10;
    /// Sequences per micro-batch. Larger: more tokens/s, more activation memory.
    batch_size: u32 = 1;
    /// Micro-batches summed into one update: the effective batch without the activation memory.
    grad_accum: u32 = 1;
    /// Tokens per sequence. Longer: more memory for activations and attention (quadratic).
    seq_len: u32 = 128;
    /// Peak learning rate after warm-up.
    lr: f64 = 1e-3;
    /// Updates of linear learning-rate warm-up from 0 to `lr`.
    warmup_steps: u32 = 2;
    /// The cosine schedule decays to `lr * min_lr_ratio` at the last step.
    min_lr_ratio: f64 = 0.1;
    /// Decoupled AdamW weight decay.
    weight_decay: f64 = 0.0;
    /// AdamW β1.
    adam_beta1: f64 = 0.9;
    /// AdamW β2.
    adam_beta2: f64 = 0.999;
    /// AdamW ε.
    adam_eps: f64 = 1e-8;
    /// Clip the global gradient norm to this value; 0 disables clipping.
    max_grad_norm: f64 = 1.0;
    /// Optimizer (`ftbench list` shows them): `adamw` (f32 moments, 8 bytes per trainable parameter), `adamw-bf16` (bf16 moments: half the state), `adamw-8bit` (bitsandbytes' 8-bit blockwise moments: a quarter of the state, slightly noisier updates).
    optimizer: String = "adamw".to_string();
    /// The task (`ftbench list` shows every family): synthetic `reverse`, a real `olmo:NAME`, your `jsonl:PATH` / `mc-jsonl:PATH`, or `knowledge`. Real tasks need a real model's tokenizer; loss is on the answer tokens only.
    task: String = "reverse".to_string();
    /// Held-out items evaluated after training (never in a training batch). More: tighter intervals, longer evaluation (~0.1-0.5 s per item on the CPU for SmolLM2-135M).
    eval_examples: u32 = 16;
    /// Real tasks: solved training items put before each prompt (k-shot), in training and evaluation alike. More shots: a stronger base row, longer sequences.
    shots: u32 = 0;
    /// Real tasks: `plain` (prompt and answer as text) or `chat` (the model's chat template, the answer as the assistant's turn).
    prompt_format: String = "plain".to_string();
    /// Generative tasks: the most tokens greedy decoding may produce per item. Larger: long answers fit, slower misses.
    max_new_tokens: u32 = 32;
    /// Other real tasks scored after training as well (before/after: the `base` row): what fine-tuning on `task` costs elsewhere (forgetting).
    also_eval: Vec<String> = Vec::new();
    /// Evaluate every N updates during training (0 = only at the end) on the first `curve_examples` held-out items: the evaluation curve and time to `target`. Costs evaluation time, not training time.
    eval_every: u32 = 0;
    /// Held-out items scored at each `eval_every` point (the first ones of the final evaluation's set).
    curve_examples: u32 = 64;
    /// Time to quality: `loss<=X`, `acc>=X` or `exact_match>=X` (held-out, at the `eval_every` points); the record keeps the step, tokens and seconds at which it was first met. Empty: no target.
    target: String = String::new();
    /// After evaluation, measure inference speed: prefill and decode tokens/s of the trained model (for LoRA also with the adapters merged into the weights).
    inference_speed: bool = false;
    /// First steps whose times are reported separately as warm-up (allocations, caches).
    timing_warmup_steps: u32 = 2;
    /// Compute threads for the cell's process; 0 = every available core.
    threads: u32 = 0;
    /// Numeric precision (`ftbench list`): `f32` (the CPU default), `bf16-mixed` (bf16 compute, f32 master weights and gradients, bf16 frozen bases: PyTorch autocast) or `bf16` (pure bf16 weights and gradients; pair with optimizer adamw-bf16). bf16 halves weight and activation memory and uses a GPU's tensor cores; on the CPU it is slow.
    precision: String = "f32".to_string();
    /// Fused kernels for RMSNorm, rotary embedding, causal softmax, SwiGLU and the LM-head loss (CPU: f32; CUDA: f32 or bf16); false = candle's composed ops (slower, more memory; the baseline).
    fused_ops: bool = true;
    /// Activation recompute (gradient checkpointing): keep each block's input only and re-run the block in backward: less activation memory, ~1/3 more compute.
    recompute: bool = false;
    /// Wall-clock limit for the cell's process; past it the cell is killed and recorded as timeout.
    timeout_s: u32 = 1800;
    /// LoRA-family methods (lora, qlora, dora, qdora, lora-plus): rank r; adapter parameters and capacity grow linearly with it.
    lora_rank: u32 = 16;
    /// LoRA α: the adapter output is scaled by α/r (α/√r with use_rslora).
    lora_alpha: f64 = 32.0;
    /// Dropout on the adapters' input while training (PEFT's lora_dropout); 0 disables it.
    lora_dropout: f64 = 0.0;
    /// Linears that get adapters: names among q_proj k_proj v_proj o_proj gate_proj up_proj down_proj, or all-linear.
    lora_targets: Vec<String> = vec!["all-linear".to_string()];
    /// rsLoRA scaling α/√r instead of α/r: steadier updates at high rank.
    use_rslora: bool = false;
    /// NF4 bases (qlora, qdora): values per NF4 quantization block; smaller blocks = more accurate, more constants.
    nf4_block_size: u32 = 64;
    /// NF4 bases: quantize the per-block absmax constants to 8 bits too (saves ~0.37 bits/param).
    nf4_double_quant: bool = true;
    /// LoRA+ (`method: lora-plus`): B's learning rate over A's. Higher: faster feature learning in B, less stable past ~2⁵ (the paper's default 16).
    lora_plus_ratio: f64 = 16.0;
    /// Adapter methods: save the trained adapter in PEFT's layout under results/SUITE/adapters/CELL_ID.
    save_adapter: bool = false;
}

impl Knobs {
    /// The values of knobs added after record schema 1 first shipped, as the ftbench that
    /// predates them ran: composed ops (no fused kernels), no recompute, f32 AdamW; every other
    /// knob at its default.
    pub fn before_added() -> Self {
        Knobs {
            fused_ops: false,
            recompute: false,
            optimizer: "adamw".to_string(),
            ..Default::default()
        }
    }

    /// Checks values no cell can run with. Errors are (knob, what was expected).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let positive = [
            ("steps", self.steps),
            ("batch_size", self.batch_size),
            ("grad_accum", self.grad_accum),
            ("eval_examples", self.eval_examples),
            ("timeout_s", self.timeout_s),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err((name, "must be at least 1, found 0".into()));
            }
        }
        if self.seq_len < 8 {
            return Err(("seq_len", format!("must be at least 8 tokens, found {}", self.seq_len)));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(("lr", format!("must be a positive number, found {}", self.lr)));
        }
        if self.warmup_steps > self.steps {
            return Err((
                "warmup_steps",
                format!("must not exceed steps ({}), found {}", self.steps, self.warmup_steps),
            ));
        }
        if self.timing_warmup_steps >= self.steps {
            return Err((
                "timing_warmup_steps",
                format!(
                    "must leave at least one timed step: below steps ({}), found {}",
                    self.steps, self.timing_warmup_steps
                ),
            ));
        }
        for (name, v) in [
            ("min_lr_ratio", self.min_lr_ratio),
            ("adam_beta1", self.adam_beta1),
            ("adam_beta2", self.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&v) && !(name == "min_lr_ratio" && v == 1.0) {
                return Err((name, format!("must be in [0, 1), found {v}")));
            }
        }
        for (name, v) in [
            ("weight_decay", self.weight_decay),
            ("adam_eps", self.adam_eps),
            ("max_grad_norm", self.max_grad_norm),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err((name, format!("must be a non-negative number, found {v}")));
            }
        }
        // AdamW multiplies each weight by (1 − lr·weight_decay) every step.
        if self.lr * self.weight_decay >= 1.0 {
            return Err((
                "weight_decay",
                format!(
                    "lr × weight_decay must be below 1 (each step scales the weights by 1 − lr·weight_decay), found {} × {}",
                    self.lr, self.weight_decay
                ),
            ));
        }
        if self.threads > MAX_THREADS {
            return Err((
                "threads",
                format!("must be at most {MAX_THREADS} (0 = every available core), found {}", self.threads),
            ));
        }
        crate::train::optimizer_kind(&self.optimizer).map_err(|e| ("optimizer", e))?;
        crate::model::precision(&self.precision).map_err(|e| ("precision", e))?;
        crate::data::check_task(&self.task).map_err(|e| ("task", e))?;
        for t in &self.also_eval {
            crate::data::check_task(t).map_err(|e| ("also_eval", e))?;
            if crate::data::is_synthetic(t) {
                return Err((
                    "also_eval",
                    format!("`{t}` is synthetic; also_eval takes real tasks (olmo:NAME, jsonl:PATH, mc-jsonl:PATH, knowledge)"),
                ));
            }
        }
        if !matches!(self.prompt_format.as_str(), "plain" | "chat") {
            return Err((
                "prompt_format",
                format!("expected `plain` or `chat`, found `{}`", self.prompt_format),
            ));
        }
        if self.max_new_tokens == 0 {
            return Err(("max_new_tokens", "must be at least 1, found 0".into()));
        }
        if self.curve_examples == 0 {
            return Err(("curve_examples", "must be at least 1, found 0".into()));
        }
        if !self.target.is_empty() {
            Target::parse(&self.target).map_err(|e| ("target", e))?;
            if self.eval_every == 0 {
                return Err((
                    "target",
                    "needs eval_every > 0: the target is checked at the evaluation points".into(),
                ));
            }
        }
        if self.lora_rank == 0 {
            return Err(("lora_rank", "must be at least 1, found 0".into()));
        }
        if !(self.lora_alpha.is_finite() && self.lora_alpha > 0.0) {
            return Err(("lora_alpha", format!("must be a positive number, found {}", self.lora_alpha)));
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Err(("lora_dropout", format!("must be in [0, 1), found {}", self.lora_dropout)));
        }
        if let Err(e) = crate::method::LoraConfig::check_targets(&self.lora_targets) {
            return Err(("lora_targets", e));
        }
        crate::method::check_block_size(self.nf4_block_size as u64).map_err(|e| ("nf4_block_size", e))?;
        if !(self.lora_plus_ratio.is_finite() && self.lora_plus_ratio > 0.0) {
            return Err((
                "lora_plus_ratio",
                format!("must be a positive number, found {}", self.lora_plus_ratio),
            ));
        }
        Ok(())
    }

    /// Resets the knobs `method` does not read to their defaults, so cells that differ only in
    /// them (full fine-tuning × several LoRA ranks, say) are recognised as one configuration:
    /// every method-specific knob (what some registered method lists in `FineTuning::knobs`)
    /// that this method does not list. A method that trains nothing (`base`) keeps only the
    /// knobs of evaluation ([`EVAL_KNOBS`]), so one base cell serves every training
    /// configuration of a model and task.
    pub fn normalize_for(&mut self, method: Method) {
        let d = Knobs::default();
        if !method.trains() {
            let mut keep = d;
            for k in EVAL_KNOBS {
                keep.copy_knob(k, self);
            }
            *self = keep;
            return;
        }
        let own = method.knobs();
        for k in crate::method::method_knobs() {
            if !own.contains(&k) {
                self.copy_knob(k, &d);
            }
        }
    }
}

/// The most compute threads a cell may ask for (`threads`).
pub const MAX_THREADS: u32 = 1024;

/// The knobs that shape an evaluation (kept for a method that trains nothing).
pub const EVAL_KNOBS: &[&str] = &[
    "task",
    "seq_len",
    "eval_examples",
    "shots",
    "prompt_format",
    "max_new_tokens",
    "also_eval",
    "threads",
    "fused_ops",
    "precision",
    "timeout_s",
    "inference_speed",
];

/// Knobs added after cell ids were first fixed, in the order they came. A cell's id hashes one of
/// them only when it is set to a value other than its default, so adding a knob whose default
/// reproduces what ftbench did before leaves every id unchanged: existing records still match
/// their cells, and `run` does not redo them. Every new knob is appended here.
pub const ADDED_AFTER_IDS: &[&str] = &["optimizer", "lora_plus_ratio", "precision"];

/// The knobs as a cell's id hashes them: every knob in declaration order, less those of
/// [`ADDED_AFTER_IDS`] at the value ftbench ran before they existed ([`Knobs::before_added`]; a
/// later change of such a knob's default then changes the ids, as any default change does).
pub struct IdKnobs<'a>(pub &'a Knobs);

impl Serialize for IdKnobs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let v = serde_json::to_value(self.0).map_err(S::Error::custom)?;
        let d = serde_json::to_value(Knobs::before_added()).map_err(S::Error::custom)?;
        let mut map = s.serialize_map(None)?;
        for name in Knobs::NAMES {
            if ADDED_AFTER_IDS.contains(name) && v[name] == d[name] {
                continue;
            }
            map.serialize_entry(name, &v[name])?;
        }
        map.end()
    }
}

/// A time-to-quality target: a held-out metric and the value it must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// `loss`, `acc` or `exact_match`.
    pub metric: &'static str,
    pub value: f64,
    /// `loss` must fall to the value; the others must rise to it.
    pub lower_is_better: bool,
}

impl Target {
    /// Parses `loss<=X`, `acc>=X`, `exact_match>=X`.
    pub fn parse(s: &str) -> Result<Target, String> {
        let forms = [("loss", "<=", true), ("acc", ">=", false), ("exact_match", ">=", false)];
        for (metric, op, lower) in forms {
            if let Some(rest) = s.strip_prefix(metric).and_then(|r| r.trim_start().strip_prefix(op)) {
                let value: f64 = rest
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{s}`: expected a number after `{metric}{op}`"))?;
                if !value.is_finite() {
                    return Err(format!("`{s}`: the value must be finite"));
                }
                return Ok(Target {
                    metric,
                    value,
                    lower_is_better: lower,
                });
            }
        }
        Err(format!("`{s}`: expected `loss<=X`, `acc>=X` or `exact_match>=X`"))
    }

    /// Whether `v` meets the target.
    pub fn met(&self, v: f64) -> bool {
        if self.lower_is_better {
            v <= self.value
        } else {
            v >= self.value
        }
    }
}

pub(crate) fn default_hardware() -> Vec<String> {
    Vec::new()
}

pub(crate) fn default_seeds() -> Vec<u64> {
    Vec::new()
}
