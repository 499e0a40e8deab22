//! The model, the method on it and the optimizer: what the cell trains, and the `loaded` event
//! with what will actually run (device, dtypes, fused ops, optimizer state).

use super::emit::Emitter;
use super::events::{Event, GpuPhase};
use super::open::{in_model, Opened};
use crate::data::PreparedTask;
use crate::load::Tokenizer;
use crate::method::{self, Built};
use crate::model::{dtype_name, DecoderConfig};
use crate::probe::current_rss_bytes;
use crate::record::{ModelInfo, Ran};
use crate::suite::Plan;
use crate::train::{Trainer, TrainerConfig};
use anyhow::{Context, Result};
use candle_core::Device;
use std::io::Write;

/// A cell ready to train.
pub struct CellModel {
    pub device: Device,
    pub cfg: DecoderConfig,
    pub tokenizer: Option<Tokenizer>,
    pub eos: Vec<u32>,
    pub task: PreparedTask,
    pub built: Built,
    pub trainer: Trainer,
}

pub fn build(plan: &Plan, o: Opened, emit: &mut Emitter<impl Write>) -> Result<CellModel> {
    let spec = &plan.model;
    // Presets draw random weights seeded by the cell's seed; files hand out their tensors (in
    // host memory; the method casts and places each).
    let mut weights = o.files.weights(plan.seed).map_err(in_model(spec))?;
    let mut built = method::build(&o.cfg, weights.as_mut(), &plan.method, plan.precision, &o.device)
        .with_context(|| format!("loading model {spec}"))?;
    drop(weights);
    built.decoder.fused = plan.train.fused_ops;
    built.decoder.recompute = plan.train.recompute;
    let trainer = Trainer::new(built.trainable.clone(), trainer_config(plan))?;
    emit.send(Event::Loaded {
        model: model_info(plan, &o.cfg, &built, Some(&trainer)),
        load_s: o.started.elapsed().as_secs_f64(),
        rss_bytes: current_rss_bytes(),
        ran: Some(ran(plan, &o.device, &built, &trainer)),
    })?;
    if let Some(pool) = crate::probe::read_pool(&o.device)? {
        emit.send(Event::Gpu { at: GpuPhase::Load, pool })?;
        crate::probe::pool_reset_peaks(&o.device)?;
    }
    Ok(CellModel {
        device: o.device,
        cfg: o.cfg,
        tokenizer: o.tokenizer,
        eos: o.eos,
        task: o.task,
        built,
        trainer,
    })
}

/// The trainer settings of a plan (the train_step bench uses the same).
pub fn trainer_config(plan: &Plan) -> TrainerConfig {
    TrainerConfig {
        schedule: plan.train.schedule,
        max_grad_norm: plan.train.max_grad_norm,
        optimizer: plan.optimizer.clone(),
    }
}

/// What the model and method hold (the `loaded` event's `model`).
/// `trainer`: its optimizer's state as allocated (None: not built here; 0).
pub fn model_info(plan: &Plan, cfg: &DecoderConfig, built: &Built, trainer: Option<&Trainer>) -> ModelInfo {
    let params_trainable: u64 = built.trainable.iter().map(|p| p.var.elem_count() as u64).sum();
    let params_total = built.params_base + built.params_adapters;
    ModelInfo {
        params_total,
        params_trainable,
        trainable_percent: 100.0 * params_trainable as f64 / params_total as f64,
        params_base: built.params_base,
        params_adapters: built.params_adapters,
        layers: cfg.num_hidden_layers,
        hidden_size: cfg.hidden_size,
        vocab_size: cfg.vocab_size,
        weight_bytes: built.bytes.clone(),
        grad_bytes: params_trainable * plan.precision.master.size_in_bytes() as u64,
        optimizer_state_bytes: trainer.map_or(0, |t| t.optim.state_bytes() as u64),
        train_flops_per_token: Some(super::flops::train_flops_per_token(
            cfg,
            built,
            plan.train.seq_len,
            plan.method.method.trains_base(),
        )),
    }
}

/// What will actually run: the record's conditions come from here, not from the knobs.
fn ran(plan: &Plan, device: &Device, built: &Built, trainer: &Trainer) -> Ran {
    let trains = plan.method.method.trains();
    Ran {
        device: super::device::describe(device, plan.device),
        compute_dtype: dtype_name(built.decoder.dtype()),
        precision: plan.precision.name.to_string(),
        master_dtype: dtype_name(plan.precision.master),
        frozen_dtype: dtype_name(plan.precision.frozen),
        optimizer: if trains {
            plan.optimizer.kind().name().into()
        } else {
            "none".into()
        },
        optimizer_state_dtype: if trains { trainer.optim.state_dtype() } else { "none".into() },
        fused_ops: built.decoder.fused_here(),
        recompute: built.decoder.recompute,
        engine: "ftbench".into(),
        engine_versions: Default::default(),
    }
}
