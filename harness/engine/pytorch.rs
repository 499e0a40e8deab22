//! The PyTorch engine: PyTorch + transformers + PEFT + bitsandbytes (engines/pytorch.py) in a
//! Python child of the cell's process. ftbench prepares the cell — the model as a Hugging Face
//! directory (presets and GGUF files written once per cell from the same weights ftbench would
//! train), the adapters' initial weights as ftbench draws them (PEFT layout), every update's
//! learning rate and batches, the evaluation requests — and scores the answers; the program
//! only computes. Settings it has no implementation of are refused by name ([`Pytorch::refuses`]).

use super::job::{self, InferenceJob, Job, MethodJob, Nf4Job, OptimizerJob};
use super::python::{interpreter, versions, PROGRAM};
use super::relay::relay;
use super::replay::{Answers, Replayed};
use super::Engine;
use crate::child::{self, CellJob, Emitter, Event};
use crate::method::{self, BaseFormat, Method};
use crate::model::{weight_shapes, DeviceSpec, Weights};
use crate::record::Artifact;
use crate::suite::Plan;
use anyhow::{Context, Result};
use sha2::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Pytorch;

/// Optimizers the program has: PyTorch's AdamW and bitsandbytes' 8-bit AdamW.
const OPTIMIZERS: &[&str] = &["adamw", "adamw-8bit"];
/// LoRA initialisations it can start from ftbench's draws (the others change the base weights).
const INITS: &[&str] = &["default", "gaussian"];
/// bitsandbytes' 4-bit linears under transformers quantize in blocks of 64.
const NF4_BLOCK: usize = 64;

impl Engine for Pytorch {
    fn name(&self) -> &'static str {
        "pytorch"
    }
    fn doc(&self) -> &'static str {
        "PyTorch + transformers + PEFT + bitsandbytes (engines/pytorch.py) in a Python child process: the same batches, schedule, initial adapters and evaluation requests, scored by ftbench"
    }
    fn available(&self) -> std::result::Result<Vec<(String, String)>, String> {
        versions().map(|v| v.into_iter().collect())
    }
    fn refuses(&self, plan: &Plan) -> Option<(&'static str, String)> {
        let m = plan.method.method;
        let opt = plan.optimizer.kind().name();
        if m.trains() && !OPTIMIZERS.contains(&opt) {
            return Some((
                "optimizer",
                format!("`{opt}` has no PyTorch implementation here (it runs {})", OPTIMIZERS.join(", ")),
            ));
        }
        if m.has_adapters() && !INITS.contains(&plan.method.lora.init.name()) {
            let init = plan.method.lora.init.name();
            return Some((
                "lora_init",
                format!(
                    "`{init}` changes the base weights; the engine starts from ftbench's draws of {} only",
                    INITS.join(", ")
                ),
            ));
        }
        if m.base_format() == BaseFormat::Nf4 && plan.method.nf4_block_size != NF4_BLOCK {
            return Some((
                "nf4_block_size",
                format!(
                    "bitsandbytes' 4-bit linears quantize in blocks of {NF4_BLOCK}, not {}",
                    plan.method.nf4_block_size
                ),
            ));
        }
        if plan.eval.curve.is_some() {
            return Some(("eval_every", "the engine evaluates after training only".into()));
        }
        if !plan.eval.also_eval.is_empty() {
            return Some(("also_eval", "the engine scores the cell's own task only".into()));
        }
        if plan.save_checkpoint && m.trains_base() {
            return Some((
                "save_checkpoint",
                "the engine does not write its trained weights; run on engine ftbench".into(),
            ));
        }
        if !plan.eval.deploy.is_empty() {
            return Some((
                "deploy",
                "serving forms are made and served by ftbench from its own trained model; run them on engine ftbench".into(),
            ));
        }
        None
    }
    fn run(&self, job: &CellJob, plan: &Plan, mut out: &mut dyn Write) -> Result<()> {
        let mut emit = Emitter::new(&mut out);
        run(job, plan, &mut emit)
    }
}

fn run(cell: &CellJob, plan: &Plan, emit: &mut Emitter<impl Write>) -> Result<()> {
    // This process's start, so a cell that fails while it is prepared still records where it
    // ran; the engine's own start (its baseline RSS) replaces it once the engine is up.
    child::started(emit, crate::probe::current_rss_bytes())?;
    let work = WorkDir::new()?;
    // ftbench prepares on the CPU: the GPU, if any, is the engine's alone.
    let mut prep = plan.clone();
    prep.device = DeviceSpec::Cpu;
    let opened = child::open(&prep)?;
    let (cfg, task, tokenizer) = (opened.cfg.clone(), opened.task, opened.tokenizer);
    let model = prepare_model(plan, cell, opened.files, &work.0)?;
    let drawn = job::draw(plan, &task);
    let forced = task.eval_examples();
    let m = plan.method.method;
    let adapter_out = cell.adapter_dir.clone().filter(|_| plan.save_adapter && m.has_adapters());
    let j = Job {
        protocol: job::PROTOCOL,
        model_dir: model.dir.clone(),
        device: device_name(plan.device),
        threads: plan.threads,
        seed: plan.seed,
        method: method_job(plan),
        adapter_init_dir: model.adapter_init.clone(),
        nf4: (m.base_format() == BaseFormat::Nf4).then_some(Nf4Job {
            block_size: plan.method.nf4_block_size,
            double_quant: plan.method.nf4_double_quant,
        }),
        precision: plan.precision.name,
        optimizer: optimizer_job(plan, &cell.cell.knobs),
        max_grad_norm: plan.train.max_grad_norm,
        recompute: plan.train.recompute,
        steps: job::steps(plan, &drawn),
        eval: job::eval(plan, &task, &forced),
        inference: plan.eval.inference_speed.then(|| InferenceJob {
            prompt: child::speed_prompt(&cfg),
            new_tokens: child::NEW_TOKENS,
            repeats: child::REPEATS,
        }),
        adapter_out: adapter_out.clone(),
        answers_out: work.0.join("answers.json"),
    };
    let job_file = work.0.join("job.json");
    std::fs::write(&job_file, serde_json::to_vec(&j)?).with_context(|| format!("writing {}", job_file.display()))?;
    let program = work.0.join("pytorch.py");
    std::fs::write(&program, PROGRAM).with_context(|| format!("writing {}", program.display()))?;
    let mut cmd = std::process::Command::new(interpreter().0);
    cmd.arg(&program).arg(&job_file);
    let finished = relay(cmd, "pytorch", model.info, emit)?;
    score(plan, &task, tokenizer.as_ref(), &j.answers_out, finished.eval_s, emit)?;
    let artifact = match &adapter_out {
        Some(dir) => {
            emit.send(Event::AdapterSaved {
                dir: dir.display().to_string(),
            })?;
            written_adapter(dir, &model.artifact)?
        }
        None => model.artifact,
    };
    if m.trains() {
        emit.send(Event::Artifact { artifact })?;
    }
    emit.send(Event::Done {
        peak_rss_bytes: finished.peak_rss_bytes,
    })
}

/// ftbench's scoring of the engine's answers: the same code as its own engine's evaluation.
fn score(
    plan: &Plan,
    task: &crate::data::PreparedTask,
    tok: Option<&crate::load::Tokenizer>,
    answers: &Path,
    secs: f64,
    emit: &mut Emitter<impl Write>,
) -> Result<()> {
    let text = std::fs::read(answers).with_context(|| format!("the engine wrote no answers ({})", answers.display()))?;
    let a: Answers =
        serde_json::from_slice(&text).with_context(|| format!("{}: not the answers the protocol describes", answers.display()))?;
    let replay = Replayed::new(a);
    let result = child::final_held_out(plan, &replay, task, tok)?;
    replay.finish()?;
    emit.send(Event::Eval { result, secs })
}

/// The model as the engine starts from it, and ftbench's accounting of the same cell.
struct Prepared {
    dir: PathBuf,
    adapter_init: Option<PathBuf>,
    info: crate::record::ModelInfo,
    artifact: Artifact,
}

/// Builds the cell's method on the CPU once, from the Hugging Face directory the engine starts
/// from: the adapters' initial weights (saved for the engine) and the tensor accounting of the
/// record's `model` (parameters, weight and gradient bytes; the optimizer state is the
/// engine's own, reported after its first update).
fn prepare_model(plan: &Plan, cell: &CellJob, files: crate::load::OpenModel, work: &Path) -> Result<Prepared> {
    let dir = model_dir(plan, cell, files, work)?;
    let spec = crate::load::ModelSpec::Hf(dir.clone());
    let opened = spec.open().map_err(child::in_model(&spec))?;
    let cfg = opened.cfg.clone();
    let mut src = opened.weights(plan.seed).map_err(child::in_model(&spec))?;
    let built = method::build(&cfg, src.as_mut(), &plan.method, plan.precision, &candle_core::Device::Cpu)
        .with_context(|| format!("building model {} for the engine", plan.model))?;
    drop(src);
    let info = child::model_info(plan, &cfg, &built, None);
    let artifact = child::artifact(&built, plan.method.method, None)?;
    let adapter_init = if plan.method.method.has_adapters() {
        let d = work.join("adapter-init");
        method::save_adapter(&d, &built, &plan.method, &plan.model.to_string()).context("saving the initial adapters")?;
        Some(d)
    } else {
        None
    };
    Ok(Prepared {
        dir,
        adapter_init,
        info,
        artifact,
    })
}

/// The Hugging Face directory the engine loads: the model's own (`hf:`), or the weights
/// ftbench would train — a preset's seeded draws, a GGUF file dequantized — written once per
/// model (and seed, for presets) under the results folder's `engine-models` and shared by its
/// cells (written to a temporary name and renamed: a folder that exists is whole).
fn model_dir(plan: &Plan, cell: &CellJob, files: crate::load::OpenModel, work: &Path) -> Result<PathBuf> {
    let spec = &plan.model;
    if let crate::load::ModelSpec::Hf(dir) = spec {
        return Ok(dir.clone());
    }
    let cfg = files.cfg.clone();
    let root = cell.models_dir.clone().unwrap_or_else(|| work.to_path_buf());
    let config = crate::load::hf_config::config_json(&cfg, None, None).to_string();
    let hash: String = sha2::Sha256::digest(config.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let name: String = spec
        .to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let seed = matches!(spec, crate::load::ModelSpec::Preset(_))
        .then(|| format!("-seed{}", plan.seed))
        .unwrap_or_default();
    let dir = root.join(format!("{name}{seed}-{hash}"));
    if dir.exists() {
        return Ok(dir);
    }
    let tmp = root.join(format!(
        ".partial-{}-{}",
        std::process::id(),
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("model")
    ));
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut src = files.weights(plan.seed).map_err(child::in_model(spec))?;
    let mut weights = Weights::new();
    for (name, shape) in weight_shapes(&cfg) {
        weights.insert(name.clone(), src.take(&name, &shape).map_err(child::in_model(spec))?);
    }
    crate::load::save_hf_dir(&tmp, &cfg, &weights, None, None).context("writing the model for the engine")?;
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        // Another cell wrote it meanwhile: theirs is as good.
        let _ = std::fs::remove_dir_all(&tmp);
        if !dir.exists() {
            return Err(e).with_context(|| format!("renaming {} to {}", tmp.display(), dir.display()));
        }
    }
    Ok(dir)
}

fn written_adapter(dir: &Path, computed: &Artifact) -> Result<Artifact> {
    let f = dir.join("adapter_model.safetensors");
    let bytes = std::fs::metadata(&f)
        .with_context(|| format!("{}: the engine saved no adapter", f.display()))?
        .len();
    Ok(Artifact {
        kind: computed.kind.clone(),
        bytes,
        how: "written".into(),
        tensors: computed.tensors,
    })
}

fn device_name(d: DeviceSpec) -> String {
    match d {
        DeviceSpec::Cpu => "cpu".into(),
        DeviceSpec::Cuda(n) => format!("cuda:{n}"),
    }
}

fn method_job(plan: &Plan) -> MethodJob {
    let m: Method = plan.method.method;
    MethodJob {
        name: m.as_str(),
        trains: m.trains(),
        trains_base: m.trains_base(),
        adapters: m.has_adapters(),
        nf4: m.base_format() == BaseFormat::Nf4,
        dora: {
            let mut peft = serde_json::Map::new();
            m.peft_config(&mut peft);
            peft.get("use_dora") == Some(&serde_json::Value::Bool(true))
        },
        lora_plus_ratio: (m.lr_scale("x.lora_B.weight", &plan.method) != 1.0).then_some(plan.method.lora_plus_ratio),
    }
}

/// The optimizer and its AdamW hyper-parameters (checked by the plan).
fn optimizer_job(plan: &Plan, k: &crate::suite::Knobs) -> OptimizerJob {
    OptimizerJob {
        name: plan.optimizer.kind().name(),
        beta1: k.adam_beta1,
        beta2: k.adam_beta2,
        eps: k.adam_eps,
        weight_decay: k.weight_decay,
    }
}

/// A folder for the job, the model and the answers, removed when the cell ends.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<Self> {
        let d = std::env::temp_dir().join(format!("ftbench-engine-{}", std::process::id()));
        if d.exists() {
            std::fs::remove_dir_all(&d).with_context(|| format!("clearing {}", d.display()))?;
        }
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        Ok(WorkDir(d))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
