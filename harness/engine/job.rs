//! The job an external engine runs (engines/PROTOCOL.md): the cell prepared once by ftbench —
//! model directory, method, precision, optimizer, the learning rate of every update, the exact
//! token batches, the evaluation requests — as one JSON file.

use crate::data::{Example, PreparedTask, Scoring};
use crate::suite::Plan;
use serde::Serialize;
use std::path::PathBuf;

pub const PROTOCOL: u32 = 1;

#[derive(Serialize)]
pub struct Job<'a> {
    pub protocol: u32,
    pub model_dir: PathBuf,
    pub device: String,
    pub threads: u32,
    pub seed: u64,
    pub method: MethodJob,
    pub adapter_init_dir: Option<PathBuf>,
    pub nf4: Option<Nf4Job>,
    pub precision: &'static str,
    pub optimizer: OptimizerJob,
    pub max_grad_norm: f64,
    pub recompute: bool,
    pub steps: Vec<StepJob<'a>>,
    pub eval: EvalJob<'a>,
    pub inference: Option<InferenceJob>,
    pub adapter_out: Option<PathBuf>,
    pub answers_out: PathBuf,
}

#[derive(Serialize)]
pub struct MethodJob {
    pub name: &'static str,
    pub trains: bool,
    pub trains_base: bool,
    pub adapters: bool,
    pub nf4: bool,
    pub dora: bool,
    pub lora_plus_ratio: Option<f64>,
}

#[derive(Serialize)]
pub struct Nf4Job {
    pub block_size: usize,
    pub double_quant: bool,
}

#[derive(Serialize)]
pub struct OptimizerJob {
    pub name: &'static str,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

#[derive(Serialize)]
pub struct ExampleJob<'a> {
    pub tokens: &'a [u32],
    pub loss_mask: &'a [bool],
}

impl<'a> From<&'a Example> for ExampleJob<'a> {
    fn from(e: &'a Example) -> Self {
        ExampleJob {
            tokens: &e.tokens,
            loss_mask: &e.loss_mask,
        }
    }
}

#[derive(Serialize)]
pub struct MicroJob<'a> {
    pub examples: Vec<ExampleJob<'a>>,
}

#[derive(Serialize)]
pub struct StepJob<'a> {
    pub lr: f64,
    pub micro: Vec<MicroJob<'a>>,
}

#[derive(Serialize)]
pub struct ChoiceJob<'a> {
    pub ctx: &'a [u32],
    pub conts: &'a [Vec<u32>],
}

#[derive(Serialize)]
pub struct GenerateJob<'a> {
    pub ctx: &'a [u32],
}

#[derive(Serialize)]
pub struct EvalJob<'a> {
    pub batch_size: usize,
    pub forced: Vec<ExampleJob<'a>>,
    pub choice: Vec<ChoiceJob<'a>>,
    pub generate: Vec<GenerateJob<'a>>,
    pub max_new_tokens: usize,
    pub eos: Vec<u32>,
    pub stop: Vec<String>,
}

#[derive(Serialize)]
pub struct InferenceJob {
    pub prompt: Vec<u32>,
    pub new_tokens: usize,
    pub repeats: usize,
}

/// Every update's learning rate and micro-batches: the same draws from the task's seeded
/// stream, in the same order, as ftbench's own training loop takes them (child/train.rs).
pub fn steps<'a>(plan: &Plan, drawn: &'a [Example]) -> Vec<StepJob<'a>> {
    let per_micro = plan.train.batch_size;
    let per_step = per_micro * plan.train.grad_accum;
    drawn
        .chunks(per_step)
        .enumerate()
        .map(|(i, step)| StepJob {
            lr: plan.train.schedule.lr(i as u32 + 1),
            micro: step
                .chunks(per_micro)
                .map(|m| MicroJob {
                    examples: m.iter().map(ExampleJob::from).collect(),
                })
                .collect(),
        })
        .collect()
}

/// The examples every update trains on, drawn once.
pub fn draw(plan: &Plan, task: &PreparedTask) -> Vec<Example> {
    let n = plan.train.steps as usize * plan.train.batch_size * plan.train.grad_accum;
    task.train_stream(plan.seed).take(n).collect()
}

/// The requests the held-out evaluation makes (child/evaluate.rs `held_out`), in its order:
/// one per item (log-likelihoods of the choices, or a greedy generation), and the teacher-forced
/// examples where scoring does not give the loss itself (synthetic and generative tasks).
pub fn eval<'a>(plan: &Plan, task: &'a PreparedTask, forced: &'a [Example]) -> EvalJob<'a> {
    let mut job = EvalJob {
        batch_size: plan.train.batch_size,
        forced: Vec::new(),
        choice: Vec::new(),
        generate: Vec::new(),
        max_new_tokens: plan.eval.max_new_tokens,
        eos: Vec::new(),
        stop: Vec::new(),
    };
    let PreparedTask::Text(tt) = task else {
        job.forced = forced.iter().map(ExampleJob::from).collect();
        return job;
    };
    for item in &tt.eval {
        match &item.scoring {
            Scoring::Choice { conts, .. } => job.choice.push(ChoiceJob { ctx: &item.ctx, conts }),
            Scoring::Text { .. } => job.generate.push(GenerateJob { ctx: &item.ctx }),
        }
    }
    if !tt.multiple_choice {
        job.forced = forced.iter().map(ExampleJob::from).collect();
    }
    job.eos.clone_from(&tt.eos);
    job.stop.clone_from(&tt.stop);
    job
}
