//! The method seam: one trait ([`FineTuning`]) that a fine-tuning method implements in its own
//! file, and one registry (`METHODS`, registry.rs) that the suite, the builder, the runner, the estimator and
//! the report iterate. Nothing outside the method files asks for a method by name: they ask the
//! method what it trains, how its base is stored, which knobs it reads, what its adapter looks
//! like on disk, what it costs in memory and what the article claims for it.
//!
//! Adding a method: write `harness/method/NAME.rs` with a unit struct implementing
//! [`FineTuning`], declare it in `method/mod.rs` and add it to `METHODS` (registry.rs).

use super::lora_config::LoraConfig;
use super::Trainable;
use crate::nn::{Dropout, Linear};
use anyhow::Result;
use candle_core::{DType, Device, Var};
use std::fmt;

/// How a method stores the frozen decoder linears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseFormat {
    /// In the compute dtype.
    Dense,
    /// bitsandbytes' NF4 (4-bit codes + block constants), dequantized per matmul.
    Nf4,
}

/// The article's claim for a method on a 7B model (report: "published").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Published {
    pub params_updated: &'static str,
    /// GPU memory range, GB.
    pub vram_gb: (f64, f64),
    pub accuracy_loss: &'static str,
    /// The same claim as the range of differences from full fine-tuning it allows, in points
    /// (`<1%` loss: (−1, ∞)); `None` for the baseline itself.
    pub accuracy_delta_points: Option<(f64, f64)>,
    /// `params_updated` as a range of percent of the model's parameters.
    pub params_updated_percent: (f64, f64),
    pub hardware: &'static str,
}

/// A fine-tuning method. Defaults describe a method that trains nothing on a dense frozen base.
pub trait FineTuning: Sync + 'static {
    /// The suite's spelling (`method: NAME`), the record's and the report's key.
    fn name(&self) -> &'static str;
    /// The report's column heading ("LoRA").
    fn label(&self) -> &'static str;
    /// What trains and what the base costs (`ftbench list`).
    fn doc(&self) -> &'static str;
    /// Whether anything trains (false only for the untouched base model).
    fn trains(&self) -> bool {
        true
    }
    /// Whether every weight trains (full fine-tuning); otherwise the base is frozen.
    fn trains_base(&self) -> bool {
        false
    }
    /// Whether the method puts trainable adapters on the base (and so saves an adapter).
    fn has_adapters(&self) -> bool {
        false
    }
    /// How the frozen base's decoder linears are stored.
    fn base_format(&self) -> BaseFormat {
        BaseFormat::Dense
    }
    /// The method-specific knobs this method reads (LoRA's rank, NF4's block size, ...). Every
    /// method-specific knob another method reads and this one does not is reset to its default
    /// before a cell's id is computed.
    fn knobs(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// Puts the method's adapter on the frozen base linear `module` (HF name, e.g. `q_proj`) at
    /// `name` (`model.layers.0.self_attn.q_proj`), registering what trains with `ctx`.
    fn adapt(&self, _ctx: &mut AdaptCtx, _module: &str, _name: &str, base: Linear) -> Result<Linear> {
        Ok(base)
    }
    /// The learning-rate multiplier of the trainable parameter `param` (LoRA+: B's ratio).
    fn lr_scale(&self, _param: &str, _mc: &MethodConfig) -> f64 {
        1.0
    }
    /// PEFT adapter_config.json keys beyond plain LoRA's (DoRA: `use_dora: true`).
    fn peft_config(&self, _config: &mut serde_json::Map<String, serde_json::Value>) {}
    /// Estimator: trainable adapter parameters on one targeted linear (out × in) at rank r.
    fn adapter_params(&self, _out: u64, _inp: u64, _rank: u64) -> u64 {
        0
    }
    /// Estimator: dense (out × in) copies of the largest linear alive at once beyond its
    /// weight during a forward or backward matmul (an NF4 base's dequantized copy; DoRA's
    /// W + s·BA for the weight norm).
    fn transient_weight_copies(&self) -> u64 {
        0
    }
    /// Estimator: extra values per output feature and token that the method keeps for backward
    /// on each adapted linear (DoRA: the un-scaled output, for the magnitude's gradient).
    fn kept_per_output(&self) -> u64 {
        0
    }
    /// The article's claim for the method, if the article makes one.
    fn published(&self) -> Option<&'static Published> {
        None
    }
    /// The method's colour in charts (RGB).
    fn color(&self) -> (u8, u8, u8);
}

/// A registered method: a copyable handle to its [`FineTuning`] implementation, compared,
/// hashed and serialized by name (ordered and looked up by the registry, registry.rs).
#[derive(Clone, Copy)]
pub struct Method(pub(super) &'static dyn FineTuning);

impl std::ops::Deref for Method {
    type Target = dyn FineTuning;
    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl PartialEq for Method {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}
impl Eq for Method {}
impl std::hash::Hash for Method {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state)
    }
}
impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Method({})", self.name())
    }
}
impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
impl serde::Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Everything a method needs to know to build the decoder.
#[derive(Debug, Clone)]
pub struct MethodConfig {
    pub method: Method,
    pub lora: LoraConfig,
    pub nf4_block_size: usize,
    pub nf4_double_quant: bool,
    /// LoRA+: B's learning rate over A's.
    pub lora_plus_ratio: f64,
    /// Seeds adapter initialisation and dropout.
    pub seed: u64,
}

/// What a method's [`FineTuning::adapt`](super::FineTuning::adapt) gets: the settings, and where
/// to register what trains.
pub struct AdaptCtx<'a> {
    pub mc: &'a MethodConfig,
    pub dtype: DType,
    pub device: &'a Device,
    /// The model's adapter dropout (one seeded stream for every adapter).
    pub dropout: &'a Dropout,
    /// The adapter's starting A and B (host f32), made by the LoRA initialisation before the
    /// base was stored (it may have changed the base: PiSSA).
    initial: Option<(candle_core::Tensor, candle_core::Tensor)>,
    trainable: &'a mut Vec<Trainable>,
    adapter_bytes: &'a mut u64,
}

impl<'a> AdaptCtx<'a> {
    pub(super) fn new(
        mc: &'a MethodConfig,
        dtype: DType,
        device: &'a Device,
        dropout: &'a Dropout,
        initial: Option<(candle_core::Tensor, candle_core::Tensor)>,
        trainable: &'a mut Vec<Trainable>,
        adapter_bytes: &'a mut u64,
    ) -> Self {
        AdaptCtx {
            mc,
            dtype,
            device,
            dropout,
            initial,
            trainable,
            adapter_bytes,
        }
    }

    /// The adapter's A (r × in) and B (out × r) as trainable `Var`s in the adapter dtype on the
    /// model's device, from the initialisation's values (once per linear).
    pub fn initial_adapter(&mut self) -> Result<(Var, Var)> {
        let (a, b) = self
            .initial
            .take()
            .ok_or_else(|| anyhow::anyhow!("the builder gave this linear no initial adapter (or it was taken twice)"))?;
        let var = |t: candle_core::Tensor| -> Result<Var> { Ok(Var::from_tensor(&t.to_device(self.device)?.to_dtype(self.dtype)?)?) };
        Ok((var(a)?, var(b)?))
    }

    /// Registers an adapter tensor that trains, under its PEFT name
    /// (`model.layers.0.self_attn.q_proj.lora_A.weight`), with the method's learning-rate scale.
    pub fn train(&mut self, name: String, var: &Var) {
        *self.adapter_bytes += (var.elem_count() * self.dtype.size_in_bytes()) as u64;
        let lr_scale = self.mc.method.lr_scale(&name, self.mc);
        self.trainable.push(Trainable {
            name,
            var: var.clone(),
            lr_scale,
        });
    }
}
