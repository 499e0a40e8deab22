//! The knobs a suite can set: in `defaults`, as a grid axis, in a `together` point or an
//! `exclude` pattern.
//!
//! One macro declares every built-in knob with its type, default and meaning, so the places a
//! knob can appear (and the resolved cell) can never disagree on its name or type. Knobs that a
//! registry entry declares for itself (an optimizer's; `crate::knob`) sit beside them in `ext`,
//! checked against their specs (declared.rs). This is the raw layer: values as written, hashed
//! into ids; the plan (plan.rs) reads them into typed parts once.

use crate::method::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

macro_rules! knobs {
    ($( $(#[doc = $doc:literal])* $name:ident : $ty:ty = $default:expr ;)*) => {
        /// Every knob's resolved value for one cell. A record written before a knob existed
        /// reads it as [`Knobs::before_added`] says (what that ftbench ran with).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default = "Knobs::before_added")]
        pub struct Knobs {
            $( $(#[doc = $doc])* pub $name: $ty, )*
            /// Knobs declared by registry entries (`crate::knob`), by name; one that is not set
            /// reads as its spec's default.
            #[serde(flatten)]
            pub ext: BTreeMap<String, Value>,
        }

        impl Default for Knobs {
            fn default() -> Self {
                Knobs { $( $name: $default, )* ext: BTreeMap::new() }
            }
        }

        /// Knob values set by `defaults`, a `together` point or an `exclude` pattern: built-in
        /// knobs by field, declared knobs in `ext`; any other key is refused where it stands.
        #[derive(Debug, Clone, Default, PartialEq, Serialize)]
        pub struct KnobOverrides {
            $( #[serde(default, skip_serializing_if = "Option::is_none")] pub $name: Option<$ty>, )*
            #[serde(flatten)]
            pub ext: BTreeMap<String, Value>,
        }

        /// The grid: the four fixed axes, every knob as an optional axis, and `together` axes.
        #[derive(Debug, Clone, PartialEq, Serialize)]
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
            /// Axes of declared knobs, by name: each a list of values.
            #[serde(flatten)]
            pub ext: BTreeMap<String, Value>,
        }

        /// A partial cell: a `together` point or an `exclude` pattern. Unset fields match anything.
        #[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
            #[serde(flatten)]
            pub ext: BTreeMap<String, Value>,
        }

        // Reading a suite: every key a field, a built-in knob or a declared one; any other key is
        // refused as it is read, so the YAML parser puts its line and column on the error.
        impl<'de> Deserialize<'de> for KnobOverrides {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = KnobOverrides;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a map of knobs")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<KnobOverrides, A::Error> {
                        let mut o = KnobOverrides::default();
                        let mut seen = std::collections::HashSet::new();
                        while let Some(key) = m.next_key::<String>()? {
                            if !seen.insert(key.clone()) {
                                return Err(duplicate(&key));
                            }
                            match key.as_str() {
                                $( stringify!($name) => o.$name = Some(m.next_value()?), )*
                                k if super::declared::spec(k).is_some() => {
                                    let v: Value = m.next_value()?;
                                    o.ext.insert(key, v);
                                }
                                _ => return Err(unknown(&key, &[])),
                            }
                        }
                        Ok(o)
                    }
                }
                d.deserialize_map(V)
            }
        }

        impl<'de> Deserialize<'de> for Grid {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Grid;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("the grid: axes by name")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Grid, A::Error> {
                        let mut g = Grid {
                            models: Vec::new(),
                            methods: Vec::new(),
                            hardware: default_hardware(),
                            seeds: default_seeds(),
                            together: BTreeMap::new(),
                            $( $name: None, )*
                            ext: BTreeMap::new(),
                        };
                        let mut seen = std::collections::HashSet::new();
                        while let Some(key) = m.next_key::<String>()? {
                            if !seen.insert(key.clone()) {
                                return Err(duplicate(&key));
                            }
                            match key.as_str() {
                                "models" => g.models = m.next_value()?,
                                "methods" => g.methods = m.next_value()?,
                                "hardware" => g.hardware = m.next_value()?,
                                "seeds" => g.seeds = m.next_value()?,
                                "together" => g.together = m.next_value()?,
                                $( stringify!($name) => g.$name = Some(m.next_value()?), )*
                                k if super::declared::spec(k).is_some() => {
                                    let v: Vec<Value> = m.next_value()?;
                                    g.ext.insert(key, Value::Array(v));
                                }
                                _ => return Err(unknown(&key, &["models", "methods", "hardware", "seeds", "together"])),
                            }
                        }
                        Ok(g)
                    }
                }
                d.deserialize_map(V)
            }
        }

        impl<'de> Deserialize<'de> for Point {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Point;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a point: fields of a cell by name")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Point, A::Error> {
                        let mut p = Point::default();
                        let mut seen = std::collections::HashSet::new();
                        while let Some(key) = m.next_key::<String>()? {
                            if !seen.insert(key.clone()) {
                                return Err(duplicate(&key));
                            }
                            match key.as_str() {
                                "model" => p.model = Some(m.next_value()?),
                                "method" => p.method = Some(m.next_value()?),
                                "hardware" => p.hardware = Some(m.next_value()?),
                                "seed" => p.seed = Some(m.next_value()?),
                                $( stringify!($name) => p.$name = Some(m.next_value()?), )*
                                k if super::declared::spec(k).is_some() => {
                                    let v: Value = m.next_value()?;
                                    p.ext.insert(key, v);
                                }
                                _ => return Err(unknown(&key, &["model", "method", "hardware", "seed"])),
                            }
                        }
                        Ok(p)
                    }
                }
                d.deserialize_map(V)
            }
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
                self.ext.extend(o.ext.iter().map(|(k, v)| (k.clone(), v.clone())));
            }

            /// Sets the knob called `name` to its value in `from` (an unknown name: nothing).
            pub fn copy_knob(&mut self, name: &str, from: &Knobs) {
                match name {
                    $( stringify!($name) => self.$name = from.$name.clone(), )*
                    _ => debug_assert!(false, "no knob `{name}`"),
                }
            }

            /// Whether every value `o` sets equals this cell's (a declared knob the cell does
            /// not set compares as its default).
            pub fn matches(&self, o: &KnobOverrides) -> bool {
                true $( && o.$name.as_ref().map_or(true, |v| *v == self.$name) )*
                    && o.ext.iter().all(|(k, v)| self.ext_value(k).as_ref() == Some(v))
            }
        }

        impl KnobOverrides {
            /// Names of the knobs this sets (declared knobs by their spec's name; an undeclared
            /// key, refused before expansion, is left out).
            pub fn names(&self) -> Vec<&'static str> {
                let mut v = Vec::new();
                $( if self.$name.is_some() { v.push(stringify!($name)); } )*
                v.extend(self.ext.keys().filter_map(|k| super::declared::spec(k)).map(|s| s.name));
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
                // Declared knobs' axes (checked to be lists of declared knobs before expansion).
                for (k, values) in &self.ext {
                    let (Some(spec), Some(values)) = (super::declared::spec(k), values.as_array()) else { continue };
                    v.push((spec.name, values.iter().map(|x| Point {
                        ext: BTreeMap::from([(k.clone(), x.clone())]), ..Default::default()
                    }).collect()));
                }
                v
            }
        }

        impl Point {
            /// The knob values this point sets.
            pub fn knobs(&self) -> KnobOverrides {
                KnobOverrides { $( $name: self.$name.clone(), )* ext: self.ext.clone() }
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
    /// Serving forms scored and timed after training, each made from the trained model without training again (`ftbench list` shows them): `as-trained`, `merged`, `bf16`, `dequantized-base`, `merged-nf4`, `gguf:Q8_0`, `gguf:Q4_K_M`. Each costs one more held-out evaluation and a speed run; forms that do not apply to a cell's method (merged on full) are left out of it.
    deploy: Vec<String> = Vec::new();
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
    /// How adapters start (`ftbench list`; PEFT's init_lora_weights): `default` (A Kaiming-uniform, B zeros: the model starts as the base), `gaussian`, or an initialisation from the weight itself that changes what the base keeps.
    lora_init: String = "default".to_string();
    /// NF4 bases (qlora, qdora): values per NF4 quantization block; smaller blocks = more accurate, more constants.
    nf4_block_size: u32 = 64;
    /// NF4 bases: quantize the per-block absmax constants to 8 bits too (saves ~0.37 bits/param).
    nf4_double_quant: bool = true;
    /// LoRA+ (`method: lora-plus`): B's learning rate over A's. Higher: faster feature learning in B, less stable past ~2⁵ (the paper's default 16).
    lora_plus_ratio: f64 = 16.0;
    /// Adapter methods: save the trained adapter in PEFT's layout under results/SUITE/adapters/CELL_ID.
    save_adapter: bool = false;
    /// Full fine-tuning: write the trained weights as a Hugging Face directory (results/SUITE/checkpoints/ID: config, safetensors in the master dtype, tokenizer) that transformers and `ftbench export` read. Costs the checkpoint's size on disk (4 bytes per parameter in f32).
    save_checkpoint: bool = false;
    /// Which engine trains and answers the cell (`ftbench list` says which are usable here): `ftbench` (this program's decoder and kernels) or `pytorch` (PyTorch + transformers + PEFT + bitsandbytes in a Python child process, fed the same prepared batches, schedule, initial adapters and evaluation requests, scored by ftbench). The same cell on both tells what belongs to the method from what belongs to the engine.
    engine: String = "ftbench".to_string();
}

/// A key that is neither a field nor a knob: what was expected, every name.
fn unknown<E: serde::de::Error>(key: &str, fields: &[&str]) -> E {
    let mut known: Vec<&str> = fields.to_vec();
    known.extend(Knobs::NAMES);
    known.extend(super::declared::all().iter().map(|(s, _)| s.name));
    let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    E::custom(format_args!("unknown field `{key}`, expected one of {}", known.join(", ")))
}

fn duplicate<E: serde::de::Error>(key: &str) -> E {
    E::custom(format_args!("duplicate field `{key}`"))
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
        // Declared knobs: kept only where their owner is in use and set to other than their
        // default (an optimizer's knobs under another optimizer configure nothing).
        let read = declared_read_by(self, method);
        self.ext.retain(|k, v| read.iter().any(|s| s.name == k && s.default.value() != *v));
    }

    /// The value of the declared knob `name`: as set, or its spec's default; None for a name no
    /// registry entry declares.
    pub fn ext_value(&self, name: &str) -> Option<Value> {
        let spec = super::declared::spec(name)?;
        Some(self.ext.get(name).cloned().unwrap_or_else(|| spec.default.value()))
    }
}

/// The declared knobs a cell of `method` with `k` reads: its optimizer's (when it trains) and its
/// LoRA initialisation's (when it has adapters). Unknown names (refused by the plan) read none.
fn declared_read_by(k: &Knobs, method: Method) -> Vec<&'static crate::knob::KnobSpec> {
    let mut v = Vec::new();
    if method.trains() {
        if let Ok(o) = crate::train::optimizer_kind(&k.optimizer) {
            v.extend(o.knobs());
        }
    }
    if method.has_adapters() {
        if let Ok(i) = crate::method::Init::lookup(&k.lora_init) {
            v.extend(i.knobs());
        }
    }
    v
}

/// A knob and what was wrong with its value (the plan's checks).
pub type KnobError = (String, String);

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
    "engine",
    "deploy",
];

/// Knobs added after cell ids were first fixed, in the order they came. A cell's id hashes one of
/// them only when it is set to a value other than its default, so adding a knob whose default
/// reproduces what ftbench did before leaves every id unchanged: existing records still match
/// their cells, and `run` does not redo them. Every new knob is appended here.
pub const ADDED_AFTER_IDS: &[&str] = &[
    "optimizer",
    "lora_plus_ratio",
    "precision",
    "lora_init",
    "engine",
    "deploy",
    "save_checkpoint",
];

/// The knobs as a cell's id hashes them: every knob in declaration order, less those of
/// [`ADDED_AFTER_IDS`] at the value ftbench ran before they existed ([`Knobs::before_added`]; a
/// later change of such a knob's default then changes the ids, as any default change does);
/// then the declared knobs set to other than their default, by name. A declared knob is new by
/// construction: at its default it leaves every id as it was.
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
        for (name, value) in &self.0.ext {
            let default = super::declared::spec(name).map(|s| s.default.value());
            if default.as_ref() != Some(value) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

pub(crate) fn default_hardware() -> Vec<String> {
    Vec::new()
}

pub(crate) fn default_seeds() -> Vec<u64> {
    Vec::new()
}

#[cfg(test)]
mod declared_tests {
    use super::super::declared::all;
    use super::*;

    #[test]
    fn declared_knobs_are_unique_and_none_shadows_a_built_in_knob() {
        let all = all();
        for (i, (s, owner)) in all.iter().enumerate() {
            assert!(!Knobs::NAMES.contains(&s.name), "{owner} declares `{}`, a built-in knob", s.name);
            assert!(all[..i].iter().all(|(o, _)| o.name != s.name), "`{}` declared twice", s.name);
            s.validate(&s.default.value())
                .unwrap_or_else(|e| panic!("{owner}: `{}`'s default fails its check: {e}", s.name));
        }
    }
}
