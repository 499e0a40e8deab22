//! What a cell's child process does: build the model, apply the method, train, evaluate,
//! reporting each stage as an event line on stdout.

use super::events::Event;
use crate::data::{prepare_task, Batch, PreparedTask, PromptFormat, TaskContext};
use crate::eval::{evaluate, generate_until, score_task};
use crate::load::{ModelSpec, Tokenizer};
use crate::method::Method;
use crate::method::{self, frozen_copy, merge_adapters, Built, MethodConfig};
use crate::model::dtype_name;
use crate::model::Decoder;
use crate::model::DeviceSpec;
use crate::model::LlamaConfig;
use crate::probe::{current_rss_bytes, peak_rss_bytes, Environment};
use crate::record::{Artifact, CurvePoint, InferenceSpeed, ModelInfo, Ran};
use crate::suite::{Cell, Knobs};
use crate::train::{optimizer_kind, AdamParams, Schedule, Trainer, TrainerConfig};
use anyhow::{bail, Context, Result};
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

/// The trainer settings a cell's knobs give (the train_step bench uses the same).
pub fn trainer_config(k: &Knobs) -> Result<TrainerConfig> {
    Ok(TrainerConfig {
        schedule: Schedule {
            peak: k.lr,
            warmup_steps: k.warmup_steps,
            total_steps: k.steps,
            min_ratio: k.min_lr_ratio,
        },
        max_grad_norm: k.max_grad_norm,
        optimizer: optimizer_kind(&k.optimizer).map_err(anyhow::Error::msg)?,
        adam: AdamParams {
            beta1: k.adam_beta1,
            beta2: k.adam_beta2,
            eps: k.adam_eps,
            weight_decay: k.weight_decay,
        },
    })
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
    let spec_dev = DeviceSpec::parse(&cell.hardware).map_err(anyhow::Error::msg)?;
    let device = spec_dev.open()?;
    let precision = crate::model::precision(&k.precision).map_err(anyhow::Error::msg)?;
    // The CUDA pool keeps what is freed (a caching allocator, as PyTorch's): NVML's view then
    // only grows, and the pool's high-water marks give the exact peaks below.
    crate::probe::pool_keep_freed(&device)?;
    let t0 = Instant::now();
    let model_spec = ModelSpec::parse(&cell.model).map_err(anyhow::Error::msg).context("model")?;
    let spec = &model_spec;
    // Opening reads the config only (a missing or corrupt file fails here, before anything is built).
    // A model file that cannot be read is bad input in that file (runner/failure.rs).
    let in_model = |e: anyhow::Error| match spec.path() {
        Some(p) => crate::error::BadInput::in_file(e, p.display()),
        None => e,
    };
    let model_files = spec.open().map_err(in_model)?;
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
    let text = !crate::data::is_synthetic(&k.task) || !k.also_eval.is_empty();
    let tokenizer: Option<Tokenizer> = if text {
        Some(model_files.tokenizer().map_err(in_model)?)
    } else {
        None
    };
    let eos = model_files.eos_ids().map_err(in_model)?;
    let task_context = |eval_examples: u32| TaskContext {
        seq_len: k.seq_len as usize,
        vocab_size: cfg.vocab_size,
        tokenizer: tokenizer.as_ref(),
        eos: &eos,
        format: PromptFormat {
            shots: k.shots as usize,
            chat: k.prompt_format == "chat",
        },
        eval_examples: eval_examples as usize,
    };
    let task = prepare_task(&k.task, &task_context(k.eval_examples)).with_context(|| format!("task `{}`", k.task))?;

    let mc = MethodConfig::of_cell(cell);
    // Presets draw random weights seeded by the cell's seed; files hand out their tensors (in
    // host memory; the method casts and places each).
    let mut weights = model_files.weights(cell.seed).map_err(in_model)?;
    let mut built = method::build(&cfg, weights.as_mut(), &mc, precision, &device).with_context(|| format!("loading model {spec}"))?;
    built.decoder.fused = k.fused_ops;
    built.decoder.recompute = k.recompute && cell.method.trains();
    drop(weights);
    let params_trainable: u64 = built.trainable.iter().map(|p| p.var.elem_count() as u64).sum();
    let params_total = built.params_base + built.params_adapters;
    let mut trainer = Trainer::new(built.trainable.clone(), trainer_config(k)?)?;
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
        grad_bytes: params_trainable * precision.master.size_in_bytes() as u64,
        optimizer_state_bytes: trainer.optim.state_bytes() as u64,
        train_flops_per_token: Some(train_flops_per_token(&cfg, &built, k.seq_len as usize, cell.method.trains_base())),
    };
    let ran = Ran {
        device: crate::runner::describe_device(&device, spec_dev),
        compute_dtype: dtype_name(built.decoder.dtype()),
        precision: precision.name.to_string(),
        master_dtype: dtype_name(precision.master),
        frozen_dtype: dtype_name(precision.frozen),
        optimizer: if cell.method.trains() { k.optimizer.clone() } else { "none".into() },
        optimizer_state_dtype: if cell.method.trains() {
            trainer.optim.state_dtype()
        } else {
            "none".into()
        },
        fused_ops: built.decoder.fused_here(),
        recompute: built.decoder.recompute,
    };
    let pool_at_load = crate::probe::read_pool(&device)?;
    emit(Event::Loaded {
        model: info,
        load_s: t0.elapsed().as_secs_f64(),
        rss_bytes: current_rss_bytes(),
        ran: Some(ran),
    })?;
    if let Some(pool) = pool_at_load {
        emit(Event::Gpu { at: "load".into(), pool })?;
        crate::probe::pool_reset_peaks(&device)?;
    }

    let model = &built.decoder;
    let curve_task = if k.eval_every > 0 && cell.method.trains() {
        Some(prepare_task(&k.task, &task_context(k.curve_examples.min(k.eval_examples)))?)
    } else {
        None
    };
    let steps = if cell.method.trains() { k.steps } else { 0 };
    let mut stream = task.train_stream(cell.seed);
    let (mut tokens_so_far, mut train_s) = (0u64, 0.0f64);
    built.dropout.set_training(true);
    for step in 1..=steps {
        let micro: Vec<Batch> = (0..k.grad_accum)
            .map(|_| Batch::new(&stream.by_ref().take(k.batch_size as usize).collect::<Vec<_>>(), &device))
            .collect::<candle_core::Result<_>>()?;
        let tokens: u64 = micro.iter().map(|b| b.n_tokens as u64).sum();
        let t = Instant::now();
        let s = trainer.step(model, &micro).with_context(|| format!("training step {step}"))?;
        // GPU work is asynchronous: the step ends when the device has finished it.
        device.synchronize()?;
        let secs = t.elapsed().as_secs_f64();
        tokens_so_far += tokens;
        train_s += secs;
        emit(Event::Step {
            step,
            loss: s.loss,
            lr: s.lr,
            grad_norm: s.grad_norm,
            secs,
            tokens,
            rss_bytes: current_rss_bytes(),
        })?;
        if step == 1 {
            if let Some(pool) = crate::probe::read_pool(&device)? {
                emit(Event::Gpu {
                    at: "first_step".into(),
                    pool,
                })?;
            }
        }
        if let Some(ct) = &curve_task {
            if step % k.eval_every == 0 || step == steps {
                built.dropout.set_training(false);
                let point = curve_point(model, ct, tokenizer.as_ref(), k, step, tokens_so_far, train_s)?;
                built.dropout.set_training(true);
                emit(Event::Curve { point })?;
            }
        }
    }
    built.dropout.set_training(false);
    if steps > 0 {
        if let Some(pool) = crate::probe::read_pool(&device)? {
            emit(Event::Gpu { at: "train".into(), pool })?;
        }
    }
    // A fully fine-tuned model is evaluated and timed as the checkpoint a user deploys: plain
    // frozen weights, not autograd-tracked Vars. Adapters are evaluated as trained (unmerged).
    let frozen = if cell.method.trains_base() {
        Some(frozen_copy(model)?)
    } else {
        None
    };
    let model = frozen.as_ref().unwrap_or(model);

    let t = Instant::now();
    let result = evaluation(model, &task, tokenizer.as_ref(), k)?;
    if !result.loss.is_finite() {
        bail!(
            "the held-out loss is not finite ({}): training diverged (lr {}, weight_decay {}); a record cannot call this ok",
            result.loss,
            k.lr,
            k.weight_decay
        );
    }
    emit(Event::Eval {
        result,
        secs: t.elapsed().as_secs_f64(),
    })?;
    drop(stream);
    drop(task);
    for other in &k.also_eval {
        let tt = match prepare_task(other, &task_context(k.eval_examples)).with_context(|| format!("also_eval task `{other}`"))? {
            PreparedTask::Text(tt) => tt,
            PreparedTask::Synthetic { .. } => bail!("also_eval task `{other}` is synthetic"),
        };
        let tok = tokenizer.as_ref().expect("text tasks load the tokenizer");
        let (score, _) =
            score_task(model, &tt, tok, k.max_new_tokens as usize).with_context(|| format!("scoring also_eval task `{other}`"))?;
        emit(Event::AlsoEval { score })?;
    }
    if k.inference_speed {
        emit(Event::Inference {
            speed: inference_speed(model, cell.method).context("measuring inference speed")?,
        })?;
    }
    if cell.method.trains() {
        let saved = k.save_adapter && cell.method.has_adapters();
        if let (true, Some(dir)) = (saved, &job.adapter_dir) {
            method::save_adapter(dir, &built, &mc, &cell.model).context("saving the adapter")?;
            emit(Event::AdapterSaved {
                dir: dir.display().to_string(),
            })?;
        }
        emit(Event::Artifact {
            artifact: artifact(&built, cell.method, job.adapter_dir.as_ref().filter(|_| saved))?,
        })?;
    }
    emit(Event::Done {
        peak_rss_bytes: peak_rss_bytes(),
    })?;
    Ok(())
}

/// Model FLOPs per trained token (PaLM's MFU convention: recompute not counted): the forward
/// pass's matmuls (2 per weight), their input gradients (2 per weight), weight gradients (2 per
/// trainable matmul weight), and causal attention's two matmuls forward and backward
/// (6 · 2 · layers · seq · heads·head_dim, halved for the causal mask).
pub fn train_flops_per_token(cfg: &LlamaConfig, built: &Built, seq: usize, trains_base: bool) -> f64 {
    let linears: f64 = cfg.linears().iter().map(|l| (l.out * l.inp) as f64).sum::<f64>() * cfg.num_hidden_layers as f64;
    let head = (cfg.vocab_size * cfg.hidden_size) as f64;
    let matmul = linears + head;
    // Trainable matmul weights: every one under full fine-tuning, the adapters' matrices otherwise.
    let trainable = if trains_base {
        matmul
    } else {
        built
            .trainable
            .iter()
            .filter(|t| t.var.rank() == 2)
            .map(|t| t.var.elem_count() as f64)
            .sum()
    };
    let attn = 6.0 * cfg.num_hidden_layers as f64 * seq as f64 * (cfg.num_attention_heads * cfg.head_dim()) as f64;
    4.0 * matmul + 2.0 * trainable + attn
}

/// The held-out evaluation of a task: teacher-forced loss, perplexity and token accuracy, and
/// on real tasks the task's own score (multiple choice gives both in one pass).
fn evaluation(model: &Decoder, task: &PreparedTask, tok: Option<&Tokenizer>, k: &Knobs) -> Result<crate::eval::EvalResult> {
    let (PreparedTask::Text(tt), Some(tok)) = (task, tok) else {
        return evaluate(model, &task.eval_examples(), k.batch_size as usize).context("evaluation");
    };
    let (score, teacher_forced) = score_task(model, tt, tok, k.max_new_tokens as usize).context("scoring the held-out items")?;
    let mut result = match teacher_forced {
        Some(r) => r,
        None => evaluate(model, &task.eval_examples(), k.batch_size as usize).context("evaluation")?,
    };
    result.score = Some(score);
    Ok(result)
}

fn curve_point(
    model: &Decoder,
    task: &PreparedTask,
    tok: Option<&Tokenizer>,
    k: &Knobs,
    step: u32,
    tokens: u64,
    train_s: f64,
) -> Result<CurvePoint> {
    let r = evaluation(model, task, tok, k).context("curve evaluation")?;
    Ok(CurvePoint {
        step,
        tokens,
        train_s,
        loss: r.loss,
        metric: r.score.as_ref().map(|s| s.value),
        metric_name: r.score.as_ref().map(|s| s.metric.clone()),
        items: r.examples,
    })
}

/// Prompt and generation lengths of the inference-speed measurement, and its repeats (median).
const PROMPT_TOKENS: usize = 128;
const NEW_TOKENS: usize = 32;
const REPEATS: usize = 3;

/// (prefill tokens/s, decode tokens/s): median of REPEATS greedy runs over a fixed prompt,
/// running to NEW_TOKENS (no stop).
fn speed_of(model: &Decoder) -> Result<(f64, f64, usize)> {
    let prompt_len = PROMPT_TOKENS
        .min(model.cfg.max_position_embeddings.saturating_sub(NEW_TOKENS + 1))
        .max(1);
    let vocab = model.cfg.vocab_size as u32;
    let prompt: Vec<u32> = (0..prompt_len as u32).map(|i| (i * 7919 + 13) % vocab).collect();
    let mut pre = Vec::new();
    let mut dec = Vec::new();
    for _ in 0..REPEATS {
        let g = generate_until(model, None, &prompt, NEW_TOKENS, &[], &[])?;
        pre.push(prompt_len as f64 / g.prefill_s);
        dec.push((g.new_tokens.saturating_sub(1)) as f64 / g.decode_s.max(1e-9));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok((median(&mut pre), median(&mut dec), prompt_len))
}

fn inference_speed(model: &Decoder, method: Method) -> Result<InferenceSpeed> {
    let (prefill, decode, prompt_tokens) = speed_of(model)?;
    let merged = if method.has_adapters() {
        match merge_adapters(model)? {
            Some(m) => Some(speed_of(&m)?),
            None => None,
        }
    } else {
        None
    };
    Ok(InferenceSpeed {
        prompt_tokens,
        new_tokens: NEW_TOKENS,
        repeats: REPEATS,
        prefill_tokens_per_s: prefill,
        decode_tokens_per_s: decode,
        merged_prefill_tokens_per_s: merged.map(|m| m.0),
        merged_decode_tokens_per_s: merged.map(|m| m.1),
    })
}

/// The size of what the method produces: the adapter file as written, or (not written) the
/// safetensors size of the trained tensors: an 8-byte length, the JSON header, the data.
fn artifact(built: &Built, method: Method, written: Option<&PathBuf>) -> Result<Artifact> {
    let kind = if method.trains_base() { "checkpoint" } else { "adapter" };
    if let Some(dir) = written {
        let f = dir.join("adapter_model.safetensors");
        let bytes = std::fs::metadata(&f)
            .with_context(|| format!("{}: cannot stat", f.display()))?
            .len();
        return Ok(Artifact {
            kind: kind.into(),
            bytes,
            how: "written".into(),
            tensors: built.trainable.len(),
        });
    }
    let mut data = 0u64;
    let mut header = 2u64; // {}
    for t in &built.trainable {
        let n = t.var.elem_count() as u64 * t.var.dtype().size_in_bytes() as u64;
        let shape = format!("{:?}", t.var.dims()).replace(' ', "");
        header += format!(
            "\"{}\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[{data},{}]}},",
            t.name,
            data + n
        )
        .len() as u64;
        data += n;
    }
    Ok(Artifact {
        kind: kind.into(),
        bytes: 8 + header.div_ceil(8) * 8 + data,
        how: "computed".into(),
        tensors: built.trainable.len(),
    })
}
