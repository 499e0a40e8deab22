//! What a cell's child process does: build the model, apply the method, train, evaluate,
//! reporting each stage as an event line on stdout.

use super::events::Event;
use crate::data::{Batch, Task, TaskKind};
use crate::eval::evaluate;
use crate::method::{self, MethodConfig};
use crate::model::ModelSpec;
use crate::probe::{current_rss_bytes, peak_rss_bytes, Environment};
use crate::record::ModelInfo;
use crate::suite::{Cell, Method};
use crate::train::{Schedule, Trainer, TrainerConfig};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// What the runner hands a cell's process on stdin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellJob {
    pub cell: Cell,
    /// Where to save the trained adapter (when the cell's `save_adapter` is on).
    pub adapter_dir: Option<PathBuf>,
}

/// Runs one cell in this process, writing events to `out`.
pub fn run_cell(job: &CellJob, out: &mut impl Write) -> Result<()> {
    let cell = &job.cell;
    let mut emit = |e: Event| -> Result<()> {
        writeln!(out, "{}", e.to_line())
            .and_then(|_| out.flush())
            .context("cannot report to the runner (stdout closed)")
    };
    let allocator = crate::probe::keep_freed_memory();
    emit(Event::Started {
        environment: Environment::detect(&allocator),
        baseline_rss_bytes: current_rss_bytes(),
    })?;

    let k = &cell.knobs;
    let device = match cell.hardware.as_str() {
        "cpu" => Device::Cpu,
        other => bail!("hardware `{other}` is not available in this build"),
    };
    let t0 = Instant::now();
    let spec = ModelSpec::parse(&cell.model).map_err(anyhow::Error::msg).context("model")?;
    // Opening reads the config only (a missing or corrupt file fails here, before anything is built).
    let model_files = spec.open()?;
    let cfg = model_files.cfg.clone();
    cfg.check()
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("model {spec}: config"))?;
    if k.seq_len as usize > cfg.max_position_embeddings {
        bail!(
            "seq_len {} exceeds the model's max_position_embeddings ({}) for {spec}",
            k.seq_len,
            cfg.max_position_embeddings
        );
    }
    let task = Task::new(
        TaskKind::parse(&k.task).map_err(anyhow::Error::msg)?,
        k.seq_len as usize,
        cfg.vocab_size,
    )
    .map_err(anyhow::Error::msg)
    .with_context(|| format!("task `{}`", k.task))?;
    let eval_set = task.eval_set(k.eval_examples as usize);

    let dtype = DType::F32;
    let mc = MethodConfig::of_cell(cell);
    // Presets draw random weights seeded by the cell's seed; files hand out their tensors.
    let mut weights = model_files.weights(cell.seed, dtype, &device)?;
    let mut built = method::build(&cfg, weights.as_mut(), &mc, dtype, &device).with_context(|| format!("loading model {spec}"))?;
    built.decoder.fused = k.fused_ops;
    built.decoder.recompute = k.recompute;
    drop(weights);
    let params_trainable: u64 = built.trainable.iter().map(|p| p.var.elem_count() as u64).sum();
    let params_total = built.params_base + built.params_adapters;
    let trainer_cfg = TrainerConfig {
        schedule: Schedule {
            peak: k.lr,
            warmup_steps: k.warmup_steps,
            total_steps: k.steps,
            min_ratio: k.min_lr_ratio,
        },
        max_grad_norm: k.max_grad_norm,
        beta1: k.adam_beta1,
        beta2: k.adam_beta2,
        eps: k.adam_eps,
        weight_decay: k.weight_decay,
    };
    let model = &built.decoder;
    let mut trainer = Trainer::new(built.trainable.clone(), trainer_cfg);
    let info = ModelInfo {
        params_total,
        params_trainable,
        trainable_percent: 100.0 * params_trainable as f64 / params_total as f64,
        params_base: built.params_base,
        params_adapters: built.params_adapters,
        layers: cfg.num_hidden_layers,
        hidden_size: cfg.hidden_size,
        vocab_size: cfg.vocab_size,
        weight_bytes: built.bytes.clone(),
        grad_bytes: params_trainable * dtype.size_in_bytes() as u64,
        optimizer_state_bytes: trainer.optim.state_bytes() as u64,
    };
    emit(Event::Loaded {
        model: info,
        load_s: t0.elapsed().as_secs_f64(),
        rss_bytes: current_rss_bytes(),
    })?;

    let mut stream = task.train_stream(cell.seed);
    built.dropout.set_training(true);
    for step in 1..=k.steps {
        let micro: Vec<Batch> = (0..k.grad_accum)
            .map(|_| Batch::new(&stream.by_ref().take(k.batch_size as usize).collect::<Vec<_>>(), &device))
            .collect::<candle_core::Result<_>>()?;
        let tokens: u64 = micro.iter().map(|b| b.n_tokens as u64).sum();
        let t = Instant::now();
        let s = trainer.step(model, &micro).with_context(|| format!("training step {step}"))?;
        let secs = t.elapsed().as_secs_f64();
        emit(Event::Step {
            step,
            loss: s.loss,
            lr: s.lr,
            grad_norm: s.grad_norm,
            secs,
            tokens,
            rss_bytes: current_rss_bytes(),
        })?;
    }
    built.dropout.set_training(false);

    let t = Instant::now();
    let result = evaluate(model, &eval_set, k.batch_size as usize).context("evaluation")?;
    emit(Event::Eval {
        result,
        secs: t.elapsed().as_secs_f64(),
    })?;
    if let (true, Some(dir)) = (k.save_adapter && cell.method != Method::Full, &job.adapter_dir) {
        method::save_adapter(dir, &built, &mc, &cell.model).context("saving the adapter")?;
        emit(Event::AdapterSaved {
            dir: dir.display().to_string(),
        })?;
    }
    emit(Event::Done {
        peak_rss_bytes: peak_rss_bytes(),
    })?;
    Ok(())
}
