//! A cell resolved once into typed parts: the device, the precision (its registry entry), the
//! method with its settings (LoRA, its initialisation, NF4), the optimizer's typed settings, the
//! training loop and the evaluation. Every consumer — the runner, the cell's process, the
//! estimator, `ftbench estimate`, the report — reads the plan; nothing else parses a knob's
//! spelling. `Knobs` stays the raw layer (serde, ids); this is where its strings become types,
//! and where a value no cell can run with is refused, naming the knob.

use super::cell::Cell;
use super::eval_plan::EvalPlan;
use super::knobs::{KnobError, Knobs, MAX_THREADS};
use crate::knob::KnobValues;
use crate::load::ModelSpec;
use crate::method::{check_block_size, Init, LoraConfig, Method, MethodConfig};
use crate::model::{DeviceSpec, Precision};
use crate::train::{AdamParams, OptimizerSettings, Schedule};
use std::sync::Arc;

fn bad(knob: &str, message: impl Into<String>) -> KnobError {
    (knob.to_string(), message.into())
}

/// One cell, typed.
#[derive(Debug, Clone)]
pub struct Plan {
    pub model: ModelSpec,
    pub device: DeviceSpec,
    pub precision: &'static Precision,
    /// The method and what it builds with (LoRA and its initialisation, NF4, LoRA+'s ratio, seed).
    pub method: MethodConfig,
    /// The optimizer's typed settings (a registry entry's; `train::OPTIMIZERS`).
    pub optimizer: Arc<dyn OptimizerSettings>,
    pub train: TrainPlan,
    pub eval: EvalPlan,
    pub seed: u64,
    /// Compute threads (0 = every core).
    pub threads: u32,
    pub timeout_s: u32,
    /// Write the trained adapter (methods with adapters).
    pub save_adapter: bool,
    /// Write a full fine-tune's trained weights as a Hugging Face directory.
    pub save_checkpoint: bool,
    /// What trains the cell and answers its evaluation (`engine`): one of [`ENGINE_NAMES`],
    /// run by the engine registry (crate::engine, which sits above the plan).
    pub engine: &'static str,
}

/// The training loop.
#[derive(Debug, Clone)]
pub struct TrainPlan {
    /// Updates that run: the `steps` knob, or 0 for a method that trains nothing.
    pub steps: u32,
    pub batch_size: usize,
    pub grad_accum: usize,
    pub seq_len: usize,
    pub schedule: Schedule,
    /// 0: no clipping.
    pub max_grad_norm: f64,
    pub timing_warmup_steps: u32,
    /// Activation recompute (only for a method that trains).
    pub recompute: bool,
    pub fused_ops: bool,
}

impl Cell {
    /// The cell's plan; an error names the knob at fault and what was expected.
    pub fn plan(&self) -> Result<Plan, KnobError> {
        let k = &self.knobs;
        let precision = crate::model::precision(&k.precision).map_err(|e| bad("precision", e))?;
        Ok(Plan {
            model: ModelSpec::parse(&self.model).map_err(|e| bad("model", e))?,
            device: DeviceSpec::parse(&self.hardware).map_err(|e| bad("hardware", e))?,
            precision,
            method: method_config(self.method, k, self.seed)?,
            optimizer: optimizer(k)?,
            train: train_plan(k, self.method)?,
            eval: EvalPlan::of(k)?,
            seed: self.seed,
            threads: threads(k)?,
            timeout_s: at_least_one("timeout_s", k.timeout_s)?,
            save_adapter: k.save_adapter,
            save_checkpoint: k.save_checkpoint,
            engine: engine(k)?,
        })
    }
}

/// The engines a cell can name (crate::engine's registry implements each; a test there keeps the
/// two lists equal).
pub const ENGINE_NAMES: &[&str] = &["ftbench", "pytorch"];

fn engine(k: &Knobs) -> Result<&'static str, KnobError> {
    ENGINE_NAMES.iter().find(|n| **n == k.engine).copied().ok_or_else(|| {
        bad(
            "engine",
            format!("unknown engine `{}`: expected one of {}", k.engine, ENGINE_NAMES.join(", ")),
        )
    })
}

fn at_least_one(knob: &str, v: u32) -> Result<u32, KnobError> {
    if v == 0 {
        return Err(bad(knob, "must be at least 1, found 0"));
    }
    Ok(v)
}

fn unit_interval(knob: &str, v: f64, one_allowed: bool) -> Result<f64, KnobError> {
    if (0.0..1.0).contains(&v) || (one_allowed && v == 1.0) {
        return Ok(v);
    }
    Err(bad(knob, format!("must be in [0, 1), found {v}")))
}

fn non_negative(knob: &str, v: f64) -> Result<f64, KnobError> {
    if v.is_finite() && v >= 0.0 {
        return Ok(v);
    }
    Err(bad(knob, format!("must be a non-negative number, found {v}")))
}

fn positive(knob: &str, v: f64) -> Result<f64, KnobError> {
    if v.is_finite() && v > 0.0 {
        return Ok(v);
    }
    Err(bad(knob, format!("must be a positive number, found {v}")))
}

fn threads(k: &Knobs) -> Result<u32, KnobError> {
    if k.threads > MAX_THREADS {
        return Err(bad(
            "threads",
            format!("must be at most {MAX_THREADS} (0 = every available core), found {}", k.threads),
        ));
    }
    Ok(k.threads)
}

fn train_plan(k: &Knobs, method: Method) -> Result<TrainPlan, KnobError> {
    let steps = at_least_one("steps", k.steps)?;
    if k.seq_len < 8 {
        return Err(bad("seq_len", format!("must be at least 8 tokens, found {}", k.seq_len)));
    }
    positive("lr", k.lr)?;
    if k.warmup_steps > steps {
        return Err(bad(
            "warmup_steps",
            format!("must not exceed steps ({steps}), found {}", k.warmup_steps),
        ));
    }
    if k.timing_warmup_steps >= steps {
        return Err(bad(
            "timing_warmup_steps",
            format!(
                "must leave at least one timed step: below steps ({steps}), found {}",
                k.timing_warmup_steps
            ),
        ));
    }
    Ok(TrainPlan {
        steps: if method.trains() { steps } else { 0 },
        batch_size: at_least_one("batch_size", k.batch_size)? as usize,
        grad_accum: at_least_one("grad_accum", k.grad_accum)? as usize,
        seq_len: k.seq_len as usize,
        schedule: Schedule {
            peak: k.lr,
            warmup_steps: k.warmup_steps,
            total_steps: steps,
            min_ratio: unit_interval("min_lr_ratio", k.min_lr_ratio, true)?,
        },
        max_grad_norm: non_negative("max_grad_norm", k.max_grad_norm)?,
        timing_warmup_steps: k.timing_warmup_steps,
        recompute: k.recompute && method.trains(),
        fused_ops: k.fused_ops,
    })
}

/// The shared AdamW hyper-parameters, then the optimizer's own settings from its knobs.
fn optimizer(k: &Knobs) -> Result<Arc<dyn OptimizerSettings>, KnobError> {
    let adam = AdamParams {
        beta1: unit_interval("adam_beta1", k.adam_beta1, false)?,
        beta2: unit_interval("adam_beta2", k.adam_beta2, false)?,
        eps: non_negative("adam_eps", k.adam_eps)?,
        weight_decay: non_negative("weight_decay", k.weight_decay)?,
    };
    // AdamW multiplies each weight by (1 − lr·weight_decay) every step.
    if k.lr * k.weight_decay >= 1.0 {
        return Err(bad(
            "weight_decay",
            format!(
                "lr × weight_decay must be below 1 (each step scales the weights by 1 − lr·weight_decay), found {} × {}",
                k.lr, k.weight_decay
            ),
        ));
    }
    let kind = crate::train::optimizer_kind(&k.optimizer).map_err(|e| bad("optimizer", e))?;
    for spec in kind.knobs() {
        if let Some(v) = k.ext.get(spec.name) {
            spec.validate(v).map_err(|e| bad(spec.name, e))?;
        }
    }
    kind.settings(adam, KnobValues(&k.ext))
}

/// What the method builds with. Every knob is checked, read by this method or not: a suite
/// with an impossible value is wrong whichever cells read it.
fn method_config(method: Method, k: &Knobs, seed: u64) -> Result<MethodConfig, KnobError> {
    let init = Init::lookup(&k.lora_init).map_err(|e| bad("lora_init", e))?;
    for spec in init.knobs() {
        if let Some(v) = k.ext.get(spec.name) {
            spec.validate(v).map_err(|e| bad(spec.name, e))?;
        }
    }
    LoraConfig::check_targets(&k.lora_targets).map_err(|e| bad("lora_targets", e))?;
    check_block_size(k.nf4_block_size as u64).map_err(|e| bad("nf4_block_size", e))?;
    Ok(MethodConfig {
        method,
        lora: LoraConfig {
            rank: at_least_one("lora_rank", k.lora_rank)? as usize,
            alpha: positive("lora_alpha", k.lora_alpha)?,
            dropout: unit_interval("lora_dropout", k.lora_dropout, false)?,
            targets: k.lora_targets.clone(),
            rslora: k.use_rslora,
            init,
        },
        nf4_block_size: k.nf4_block_size as usize,
        nf4_double_quant: k.nf4_double_quant,
        lora_plus_ratio: positive("lora_plus_ratio", k.lora_plus_ratio)?,
        seed,
    })
}

impl MethodConfig {
    /// `method` with every other setting at the suite knobs' defaults.
    pub fn defaults(method: Method, seed: u64) -> Self {
        method_config(method, &Knobs::default(), seed).unwrap_or_else(|(k, e)| unreachable!("the default knobs are valid ({k}: {e})"))
    }
}
