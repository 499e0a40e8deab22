//! The first step: the device, the model's files (config, tokenizer, eos ids) and the prepared
//! task. Nothing is built yet; a missing or corrupt file fails here, named as bad input in it.

use crate::data::{PreparedTask, TaskContext, TaskSpec};
use crate::load::{ModelSpec, OpenModel, Tokenizer};
use crate::model::DecoderConfig;
use crate::suite::Plan;
use anyhow::{bail, Context, Result};
use candle_core::Device;

/// What the later steps need from opening.
pub struct Opened {
    pub device: Device,
    pub files: OpenModel,
    pub cfg: DecoderConfig,
    pub tokenizer: Option<Tokenizer>,
    pub eos: Vec<u32>,
    pub task: PreparedTask,
    /// Seconds since the cell started opening (load time includes it).
    pub started: std::time::Instant,
}

/// A model file that cannot be read is bad input in that file (child/failure.rs).
pub fn in_model(spec: &ModelSpec) -> impl Fn(anyhow::Error) -> anyhow::Error + '_ {
    move |e| match spec.path() {
        Some(p) => crate::error::BadInput::in_file(e, p.display()),
        None => e,
    }
}

pub fn open(plan: &Plan) -> Result<Opened> {
    let device = plan.device.open()?;
    // The CUDA pool keeps what is freed (a caching allocator, as PyTorch's): NVML's view then
    // only grows, and the pool's high-water marks give the exact peaks.
    crate::probe::pool_keep_freed(&device)?;
    let started = std::time::Instant::now();
    let spec = &plan.model;
    // Opening reads the config only (a missing or corrupt file fails here, before anything is built).
    let files = spec.open().map_err(in_model(spec))?;
    let cfg = files.cfg.clone();
    cfg.check()
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("model {spec}: config"))?;
    if plan.train.seq_len > cfg.max_position_embeddings {
        bail!(
            "seq_len {} exceeds the model's max_position_embeddings ({}) for {spec}",
            plan.train.seq_len,
            cfg.max_position_embeddings
        );
    }
    let tokenizer = if plan.eval.needs_tokenizer() {
        Some(files.tokenizer().map_err(in_model(spec))?)
    } else {
        None
    };
    let eos = files.eos_ids().map_err(in_model(spec))?;
    let task = prepare(plan, &plan.eval.task, plan.eval.examples, &cfg, tokenizer.as_ref(), &eos)?;
    Ok(Opened {
        device,
        files,
        cfg,
        tokenizer,
        eos,
        task,
        started,
    })
}

/// `task` prepared for the plan's model, with `examples` held-out items.
pub fn prepare(
    plan: &Plan,
    task: &TaskSpec,
    examples: usize,
    cfg: &DecoderConfig,
    tokenizer: Option<&Tokenizer>,
    eos: &[u32],
) -> Result<PreparedTask> {
    task.prepare(&TaskContext {
        seq_len: plan.train.seq_len,
        vocab_size: cfg.vocab_size,
        tokenizer,
        eos,
        format: plan.eval.format.clone(),
        eval_examples: examples,
    })
}
