//! Turning what a cell's process reported (and how it ended) into its record.

use super::spawn::{ChildExit, ChildOutcome};
use crate::child::{Event, GpuPhase};
use crate::probe::summarize;
use crate::record::{
    Conditions, Failure, FailureKind, GpuMemory, Memory, Record, Status, StepPoint, SuiteRef, TargetReached, Timing, RECORD_SCHEMA_VERSION,
};
use crate::suite::{Cell, Plan};

/// The record of `cell` from its process's outcome. Whatever the child reported before it
/// failed (steps, memory) is kept.
/// Where a cell's process was told to save what it trained, relative to the results folder.
pub struct Saved {
    pub adapter: String,
    pub checkpoint: String,
}

pub fn record_of(
    suite: SuiteRef,
    cell: &Cell,
    started_at: String,
    out: &ChildOutcome,
    log: Option<String>,
    saved: Option<Saved>,
) -> Record {
    let plan = cell.plan().ok();
    let mut f = Fold::default();
    f.memory.view = "process RSS (resident set size)".into();
    f.memory.peak_rss_bytes = out.peak_rss_bytes;
    for e in &out.events {
        f.take(e);
    }
    f.nvml(out);
    let warm = (cell.knobs.timing_warmup_steps as usize).min(f.steps.len());
    let timing = timing(&f, warm);
    let (status, reason, failure) = classify(out, f.done);
    Record {
        schema_version: RECORD_SCHEMA_VERSION,
        suite,
        cell: cell.clone(),
        status,
        reason,
        failure,
        started_at,
        wall_s: out.wall_s,
        conditions: conditions(cell, plan.as_ref(), &f),
        environment: f.environment,
        model: f.model,
        target_reached: target_reached(cell, plan.as_ref(), &f.curve),
        memory: f.memory,
        timing,
        final_train_loss: f.steps.last().map(|s| s.loss),
        steps: f.steps,
        eval: f.eval,
        log,
        adapter: saved.as_ref().map(|s| s.adapter.clone()).filter(|_| f.adapter_saved),
        checkpoint: saved.map(|s| s.checkpoint).filter(|_| f.checkpoint_saved),
        estimate: f.estimate,
        curve: f.curve,
        also_eval: f.also_eval,
        inference: f.inference,
        artifact: f.artifact,
        deploy: f.deploy,
    }
}

/// What the child's events say, gathered.
#[derive(Default)]
struct Fold {
    environment: Option<crate::probe::Environment>,
    model: Option<crate::record::ModelInfo>,
    memory: Memory,
    timing: Timing,
    steps: Vec<StepPoint>,
    step_tokens: Vec<u64>,
    eval: Option<crate::eval::EvalResult>,
    ran: Option<crate::record::Ran>,
    curve: Vec<crate::record::CurvePoint>,
    also_eval: Vec<crate::eval::TaskScore>,
    inference: Option<crate::record::InferenceSpeed>,
    deploy: Vec<crate::record::ServedForm>,
    artifact: Option<crate::record::Artifact>,
    estimate: Option<crate::record::RecordEstimate>,
    done: bool,
    adapter_saved: bool,
    checkpoint_saved: bool,
    gpu: Option<GpuMemory>,
}

impl Fold {
    /// One event. Every kind is named: a new kind of event must say where it goes.
    fn take(&mut self, e: &Event) {
        match e {
            Event::Started {
                environment,
                baseline_rss_bytes,
            } => {
                self.environment = Some(environment.clone());
                self.memory.baseline_rss_bytes = *baseline_rss_bytes;
            }
            Event::Estimated { estimate } => self.estimate = Some(estimate.clone()),
            Event::OptimizerState { bytes } => {
                if let Some(m) = self.model.as_mut() {
                    m.optimizer_state_bytes = *bytes;
                }
            }
            Event::Loaded {
                model,
                load_s,
                rss_bytes,
                ran,
            } => {
                self.model = Some(model.clone());
                self.ran = ran.clone();
                self.timing.load_s = Some(*load_s);
                self.memory.after_load_rss_bytes = *rss_bytes;
            }
            Event::Step {
                step,
                loss,
                lr,
                grad_norm,
                secs,
                rss_bytes,
                tokens,
            } => {
                self.step_tokens.push(*tokens);
                self.steps.push(StepPoint {
                    step: *step,
                    loss: *loss,
                    lr: *lr,
                    grad_norm: *grad_norm,
                    secs: *secs,
                    rss_bytes: *rss_bytes,
                });
            }
            Event::Eval { result, secs } => {
                self.eval = Some(result.clone());
                self.timing.eval_s = Some(*secs);
            }
            Event::AdapterSaved { .. } => self.adapter_saved = true,
            Event::CheckpointSaved { .. } => self.checkpoint_saved = true,
            Event::Curve { point } => self.curve.push(point.clone()),
            Event::AlsoEval { score } => self.also_eval.push(score.clone()),
            Event::Inference { speed } => self.inference = Some(speed.clone()),
            Event::Served { form } => self.deploy.push(form.clone()),
            Event::Artifact { artifact } => self.artifact = Some(artifact.clone()),
            Event::Done { peak_rss_bytes } => {
                self.done = true;
                // The cell's own high-water mark (VmHWM of its memory map) first: wait4's
                // ru_maxrss also holds the runner's RSS at the fork (Linux carries the old
                // map's peak across exec), which is most of a tiny cell's peak. wait4's stays
                // for a process that died before reporting.
                self.memory.peak_rss_bytes = peak_rss_bytes.or(self.memory.peak_rss_bytes);
            }
            Event::Gpu { at, pool } => self.pool(*at, pool),
            // Read by `classify`.
            Event::Failed(_) => {}
        }
    }

    /// A reading of the CUDA pool at a phase of the run.
    fn pool(&mut self, at: GpuPhase, pool: &crate::probe::PoolReading) {
        let g = self.gpu.get_or_insert_with(GpuMemory::default);
        match at {
            GpuPhase::Load => {
                g.pool_after_load_bytes = Some(pool.used_bytes);
                g.pool_load_peak_bytes = Some(pool.used_high_bytes);
            }
            GpuPhase::FirstStep => g.pool_first_step_peak_bytes = Some(pool.used_high_bytes),
            GpuPhase::Train => {
                g.pool_peak_bytes = Some(pool.used_high_bytes);
                g.pool_reserved_peak_bytes = Some(pool.reserved_high_bytes);
            }
        }
    }

    /// The runner's NVML trace of the device, and the memory view it gives.
    fn nvml(&mut self, out: &ChildOutcome) {
        if let Some(t) = &out.nvml {
            let g = self.gpu.get_or_insert_with(GpuMemory::default);
            let at = |label: &str| t.at.iter().find(|(l, _)| l == label).map(|(_, v)| *v);
            g.gpu = t.gpu.clone();
            g.nvml_before_bytes = t.before_bytes;
            g.nvml_peak_bytes = t.peak_bytes;
            g.nvml_after_load_bytes = at("load");
            g.nvml_after_first_step_bytes = at("first_step");
            g.nvml_series = t.series.clone();
            g.nvml_samples = t.samples;
            g.nvml_error = t.error.clone();
        }
        self.memory.gpu = self.gpu.take();
        if self.memory.gpu.is_some() {
            self.memory.view = "GPU: CUDA pool (live tensor bytes) and NVML (device used); host: process RSS".into();
        }
        if let (Some(p), Some(b)) = (self.memory.peak_rss_bytes, self.memory.baseline_rss_bytes) {
            self.memory.peak_above_baseline_bytes = Some(p.saturating_sub(b));
        }
    }
}

/// Step times (warm-up apart), tokens/s, and for a GPU cell its model FLOPs utilisation.
fn timing(f: &Fold, warm: usize) -> Timing {
    let mut timing = f.timing.clone();
    timing.warmup_step_s = f.steps[..warm].iter().map(|s| s.secs).collect();
    timing.steady_step_s = f.steps[warm..].iter().map(|s| s.secs).collect();
    if let Some(s) = summarize(&timing.steady_step_s) {
        timing.median_step_s = Some(s.median);
        timing.mean_step_s = Some(s.mean);
        timing.stddev_step_s = s.stddev;
        // Steady tokens over steady time: sequences of different lengths make a per-step
        // ratio of medians wrong.
        let steady_tokens: u64 = f.step_tokens[warm..].iter().sum();
        let steady_s: f64 = timing.steady_step_s.iter().sum();
        timing.tokens_per_s = Some(steady_tokens as f64 / steady_s);
    }
    // Model FLOPs utilisation of a GPU cell: model FLOPs/s over the GPU's bf16 dense peak
    // (the hardware profile that names the GPU NVML reported).
    if let (Some(tps), Some(fpt), Some(name)) = (
        timing.tokens_per_s,
        f.model.as_ref().and_then(|m| m.train_flops_per_token),
        f.memory.gpu.as_ref().and_then(|g| g.gpu.clone()),
    ) {
        if let Some(p) = crate::estimate::profile_for_gpu(&name) {
            timing.model_tflops = Some(tps * fpt / 1e12);
            timing.mfu = Some(tps * fpt / (p.bf16_tflops * 1e12));
            timing.mfu_peak = Some(format!("{} bf16 dense {} TFLOP/s ({})", p.name, p.bf16_tflops, p.source));
        }
    }
    timing
}

/// The first evaluation point that met the plan's time-to-quality target.
fn target_reached(cell: &Cell, plan: Option<&Plan>, curve: &[crate::record::CurvePoint]) -> Option<TargetReached> {
    let t = plan?.eval.curve.as_ref()?.target?;
    curve.iter().find_map(|p| {
        let v = match t.metric {
            "loss" => Some(p.loss),
            m if p.metric_name.as_deref() == Some(m) => p.metric,
            _ => None,
        }?;
        t.met(v).then(|| TargetReached {
            target: cell.knobs.target.clone(),
            step: p.step,
            tokens: p.tokens,
            train_s: p.train_s,
        })
    })
}

/// The conditions of every number: what the child reported it ran (`Ran`) and the steps it ran;
/// for a child that failed before it reported, what the plan asked for.
fn conditions(cell: &Cell, plan: Option<&Plan>, f: &Fold) -> Conditions {
    let k = &cell.knobs;
    let trains = cell.method.trains();
    let asked = |what: fn(&Plan) -> String| plan.map_or_else(|| "unknown".to_string(), what);
    let ran = f.ran.as_ref();
    // Tokens per update as they ran (real tokens, padding left out); the knobs' product when
    // the child reported no step.
    let seqs_per_step = k.batch_size as u64 * k.grad_accum as u64;
    let n = f.step_tokens.len() as u64;
    let total: u64 = f.step_tokens.iter().sum();
    Conditions {
        concurrent_cells: None,
        device: ran.map_or_else(|| cell.hardware.clone(), |r| r.device.clone()),
        compute_dtype: ran.map_or_else(
            || asked(|p| crate::model::dtype_name(p.precision.compute)),
            |r| r.compute_dtype.clone(),
        ),
        precision: ran.map_or_else(|| k.precision.clone(), |r| r.precision.clone()),
        master_dtype: ran.map_or_else(
            || asked(|p| crate::model::dtype_name(p.precision.master)),
            |r| r.master_dtype.clone(),
        ),
        optimizer: ran.map_or_else(|| if trains { k.optimizer.clone() } else { "none".into() }, |r| r.optimizer.clone()),
        optimizer_state_dtype: ran.map_or_else(
            || {
                if trains {
                    "unknown (the cell failed before reporting it)".into()
                } else {
                    "none".into()
                }
            },
            |r| r.optimizer_state_dtype.clone(),
        ),
        batch_size: k.batch_size,
        seq_len: k.seq_len,
        grad_accum: k.grad_accum,
        tokens_per_step: if n == 0 {
            seqs_per_step * k.seq_len as u64
        } else {
            (total as f64 / n as f64).round() as u64
        },
        // Updates that ran (a failed cell stops early; `base` runs none).
        steps: if f.done || !f.steps.is_empty() {
            f.steps.len() as u32
        } else {
            k.steps
        },
        seed: cell.seed,
        recompute: ran.map_or(k.recompute, |r| r.recompute),
        fused_ops: ran.map_or(k.fused_ops, |r| r.fused_ops),
        task: k.task.clone(),
        threads_requested: k.threads,
        mean_seq_tokens: (n > 0).then(|| total as f64 / (n * seqs_per_step) as f64),
        shots: k.shots,
        prompt_format: plan.is_some_and(|p| p.eval.task.is_text()).then(|| k.prompt_format.clone()),
        engine: ran.map_or_else(|| k.engine.clone(), |r| r.engine.clone()),
        engine_versions: ran.map(|r| r.engine_versions.clone()).unwrap_or_default(),
    }
}

/// The status, the reason and the child's failure report. A child that failed says so with a
/// typed `failed` event (out of memory, bad input with its file and key, internal); the status
/// follows that event, or without one, how the process ended. Its stderr is never parsed: for a
/// process that ended without a report, the reason quotes its last lines as they were.
fn classify(out: &ChildOutcome, done: bool) -> (Status, Option<String>, Option<Failure>) {
    let reported = out.events.iter().rev().find_map(|e| match e {
        Event::Failed(f) => Some(f.clone()),
        _ => None,
    });
    // The last lines the child wrote: stderr, or, when it wrote nothing there, what it printed
    // on stdout that was not an event (a library writing to stdout, a message before a crash).
    let last_lines = || {
        let lines = if out.stderr_tail.is_empty() {
            &out.stray_stdout
        } else {
            &out.stderr_tail
        };
        let mut v: Vec<&str> = lines.iter().rev().take(6).map(String::as_str).collect();
        v.reverse();
        v.join(" | ")
    };
    match (&out.exit, reported) {
        (ChildExit::Interrupted, _) => (
            Status::Interrupted,
            Some("the runner was interrupted (SIGINT or SIGTERM) while this cell ran; a re-run redoes it".into()),
            None,
        ),
        (ChildExit::TimedOut, f) => (
            Status::Timeout,
            Some(format!("killed after the cell's timeout_s ({} s of wall time)", out.wall_s.round())),
            f,
        ),
        (ChildExit::Code(0), None) if done => (Status::Ok, None, None),
        (_, Some(f)) => {
            let status = if f.kind == FailureKind::OutOfMemory {
                Status::Oom
            } else {
                Status::Error
            };
            (status, Some(f.message.clone()), Some(f))
        }
        (ChildExit::Code(0), None) => (
            Status::Error,
            Some("the cell's process exited without finishing its report".into()),
            None,
        ),
        (ChildExit::Code(c), None) => (
            Status::Error,
            Some(format!("exit code {c} without a failure report; its last output: {}", last_lines())),
            None,
        ),
        (ChildExit::Signal(libc::SIGKILL), None) => killed(out),
        (ChildExit::Signal(s), None) => (
            Status::Error,
            Some(format!(
                "killed by signal {s} without a failure report; its last output: {}",
                last_lines()
            )),
            None,
        ),
    }
}

/// A SIGKILL ftbench did not send: the kernel's OOM killer when its count rose during the cell.
fn killed(out: &ChildOutcome) -> (Status, Option<String>, Option<Failure>) {
    let peak = out.peak_rss_bytes.unwrap_or(0) as f64 / 1e9;
    let (status, reason) = match out.oom_kills {
        Some(n) if n > 0 => (
            Status::Oom,
            format!("killed by the kernel's OOM killer (its oom_kill count rose by {n} during the cell; peak RSS {peak:.2} GB)"),
        ),
        Some(_) => (
            Status::Killed,
            format!("killed by SIGKILL from outside ftbench; the kernel counted no OOM kill meanwhile (peak RSS {peak:.2} GB)"),
        ),
        None => (
            Status::Killed,
            format!(
                "killed by SIGKILL from outside ftbench (the kernel's OOM count, /proc/vmstat, is not readable here: an OOM kill cannot be told apart; peak RSS {peak:.2} GB)"
            ),
        ),
    };
    (status, Some(reason), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(exit: ChildExit, stderr: &[&str]) -> ChildOutcome {
        ChildOutcome {
            events: vec![],
            exit,
            peak_rss_bytes: Some(3_000_000_000),
            stderr_tail: stderr.iter().map(|s| s.to_string()).collect(),
            stray_stdout: vec![],
            wall_s: 12.0,
            oom_kills: Some(1),
            nvml: None,
        }
    }

    fn failed(kind: FailureKind, message: &str) -> Event {
        Event::Failed(Failure {
            kind,
            message: message.into(),
            file: (kind == FailureKind::BadInput).then(|| "data/x.jsonl".into()),
            key: (kind == FailureKind::BadInput).then(|| "line 3".into()),
        })
    }

    #[test]
    fn statuses_follow_the_childs_failure_event_not_its_stderr() {
        let (s, r, _) = classify(&outcome(ChildExit::Signal(libc::SIGKILL), &[]), false);
        assert_eq!(s, Status::Oom);
        assert!(r
            .unwrap()
            .contains("OOM killer (its oom_kill count rose by 1 during the cell; peak RSS 3.00 GB)"));
        // SIGKILL with no OOM kill counted: someone else's kill, not an OOM.
        let mut o = outcome(ChildExit::Signal(libc::SIGKILL), &[]);
        o.oom_kills = Some(0);
        let (s, r, _) = classify(&o, false);
        assert_eq!(s, Status::Killed);
        assert!(r.unwrap().contains("from outside ftbench; the kernel counted no OOM kill"));
        o.oom_kills = None;
        assert_eq!(classify(&o, false).0, Status::Killed, "no OOM count to go by: not called an OOM");
        assert_eq!(classify(&outcome(ChildExit::Interrupted, &[]), false).0, Status::Interrupted);
        // A bad input: status error, the file and key kept.
        let mut o = outcome(
            ChildExit::Code(1),
            &["error: looks like an allocation: memory allocation of 5 bytes failed"],
        );
        o.events.push(failed(FailureKind::BadInput, "data/x.jsonl: line 3: not valid JSON"));
        let (s, r, f) = classify(&o, false);
        assert_eq!((s, r.as_deref()), (Status::Error, Some("data/x.jsonl: line 3: not valid JSON")));
        assert_eq!(f.unwrap().key.as_deref(), Some("line 3"));
        // An allocation failure reported by the child's allocator, then Rust's abort.
        let mut o = outcome(ChildExit::Signal(libc::SIGABRT), &[]);
        o.events
            .push(failed(FailureKind::OutOfMemory, "memory allocation of 8589934592 bytes failed"));
        assert_eq!(
            classify(&o, false).0,
            Status::Oom,
            "the event says out of memory, whatever the signal"
        );
        // stderr text that looks like an error or an allocation failure is not read for a status.
        let (s, r, f) = classify(&outcome(ChildExit::Code(1), &["memory allocation of 8 bytes failed"]), false);
        assert_eq!(s, Status::Error);
        assert!(f.is_none() && r.unwrap().starts_with("exit code 1 without a failure report"));
        assert_eq!(classify(&outcome(ChildExit::TimedOut, &[]), false).0, Status::Timeout);
        assert_eq!(classify(&outcome(ChildExit::Code(0), &[]), true), (Status::Ok, None, None));
        assert_eq!(classify(&outcome(ChildExit::Code(0), &[]), false).0, Status::Error);
        let (s, r, _) = classify(&outcome(ChildExit::Signal(libc::SIGSEGV), &["boom"]), false);
        assert_eq!(s, Status::Error);
        assert!(r.unwrap().contains("signal 11 without a failure report; its last output: boom"));
        // Nothing on stderr: the reason quotes what the child printed on stdout instead.
        let mut o = outcome(ChildExit::Code(3), &[]);
        o.stray_stdout = vec!["not an event: init failed".into()];
        let (_, r, _) = classify(&o, false);
        assert_eq!(
            r.as_deref(),
            Some("exit code 3 without a failure report; its last output: not an event: init failed")
        );
    }
}
