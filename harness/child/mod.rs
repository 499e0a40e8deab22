//! What a cell's process does (`ftbench cell`, spawned by the runner): the cell's plan as a
//! pipeline of small named steps — open (device, model files, task), estimate (at the shapes it
//! will train on), build (model, method, optimizer), train, evaluate, measure inference, save —
//! each reporting as an event line on stdout (events.rs), and a failure of any as a typed
//! `failed` event (failure.rs).

mod build;
mod deploy;
mod device;
mod emit;
mod estimate;
mod evaluate;
pub mod events;
pub mod failure;
mod flops;
mod inference;
mod open;
mod save;
mod train;

pub use build::{model_info, trainer_config};
pub use emit::Emitter;
pub use estimate::{estimate_at_training_shapes, estimate_upper_bound};
pub use evaluate::final_held_out;
pub use events::{Event, GpuPhase};
pub use flops::train_flops_per_token;
pub use inference::{speed_prompt, NEW_TOKENS, REPEATS};
pub use open::{in_model, open, Opened};
pub use save::artifact;

use crate::probe::{current_rss_bytes, peak_rss_bytes, Environment};
use crate::suite::{Cell, Plan};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

/// What the runner hands a cell's process on stdin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellJob {
    pub cell: Cell,
    /// Where to save the trained adapter (when the cell's `save_adapter` is on).
    pub adapter_dir: Option<PathBuf>,
    /// Where to save a full fine-tune's checkpoint (when the cell's `save_checkpoint` is on).
    #[serde(default)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Where another engine finds the models ftbench writes for it (Hugging Face directories of
    /// presets and GGUF files), written once per model and seed and shared by the cells of a
    /// results folder (`results/SUITE/engine-models`); None: a temporary folder per cell.
    #[serde(default)]
    pub models_dir: Option<PathBuf>,
}

/// The `started` event: this process's environment and its RSS before anything was built.
pub fn started(emit: &mut Emitter<impl Write>, baseline_rss_bytes: Option<u64>) -> Result<()> {
    let allocator = crate::probe::keep_freed_memory();
    emit.send(Event::Started {
        environment: Environment::detect(&allocator),
        baseline_rss_bytes,
    })
}

/// Runs one cell on ftbench's own engine in this process.
pub fn run_own(job: &CellJob, plan: &Plan, mut out: &mut dyn Write) -> Result<()> {
    let mut emit = Emitter::new(&mut out);
    started(&mut emit, current_rss_bytes())?;
    let opened = open::open(plan)?;
    if let Some(estimate) = estimate_at_training_shapes(plan, &opened.cfg, &opened.task) {
        emit.send(Event::Estimated { estimate })?;
    }
    let mut cell = build::build(plan, opened, &mut emit)?;
    train::train(plan, &mut cell, &mut emit)?;
    let (model, result) = evaluate::evaluate(plan, &cell, &mut emit)?;
    if plan.eval.inference_speed {
        emit.send(Event::Inference {
            speed: inference::speed(&model, plan.method.method)?,
        })?;
    }
    save::save(plan, &cell, job, &mut emit)?;
    // The record's peak is training's and evaluation's: serving forms, made afterwards, hold
    // copies of the model that the cell's measurement must not count.
    let peak = peak_rss_bytes();
    if !plan.eval.deploy.is_empty() {
        deploy::deploy(plan, &cell, &model, &result, &mut emit)?;
    }
    emit.send(Event::Done { peak_rss_bytes: peak })
}
