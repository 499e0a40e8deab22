//! The training loop: the plan's updates over the task's seeded stream, each timed to the end
//! of the device's work, with the evaluation curve at its points.

use super::build::CellModel;
use super::emit::Emitter;
use super::events::{Event, GpuPhase};
use crate::data::{Batch, PreparedTask};
use crate::record::CurvePoint;
use crate::suite::Plan;
use anyhow::{Context, Result};
use std::io::Write;
use std::time::Instant;

/// Runs the plan's updates (none for a method that trains nothing).
pub fn train(plan: &Plan, c: &mut CellModel, emit: &mut Emitter<impl Write>) -> Result<()> {
    let steps = plan.train.steps;
    let curve = match &plan.eval.curve {
        Some(cp) if steps > 0 => Some((
            cp,
            super::open::prepare(plan, &plan.eval.task, cp.examples, &c.cfg, c.tokenizer.as_ref(), &c.eos)?,
        )),
        _ => None,
    };
    let mut stream = c.task.train_stream(plan.seed);
    let (mut tokens_so_far, mut train_s) = (0u64, 0.0f64);
    c.built.dropout.set_training(true);
    for step in 1..=steps {
        let micro: Vec<Batch> = (0..plan.train.grad_accum)
            .map(|_| Batch::new(&stream.by_ref().take(plan.train.batch_size).collect::<Vec<_>>(), &c.device))
            .collect::<candle_core::Result<_>>()?;
        let tokens: u64 = micro.iter().map(|b| b.n_tokens as u64).sum();
        let t = Instant::now();
        let s = c
            .trainer
            .step(&c.built.decoder, &micro)
            .with_context(|| format!("training step {step}"))?;
        // GPU work is asynchronous: the step ends when the device has finished it.
        c.device.synchronize()?;
        let secs = t.elapsed().as_secs_f64();
        tokens_so_far += tokens;
        train_s += secs;
        emit.send(Event::Step {
            step,
            loss: s.loss,
            lr: s.lr,
            grad_norm: s.grad_norm,
            secs,
            tokens,
            rss_bytes: crate::probe::current_rss_bytes(),
        })?;
        if step == 1 {
            gpu_reading(c, GpuPhase::FirstStep, emit)?;
        }
        if let Some((cp, task)) = &curve {
            if step % cp.every == 0 || step == steps {
                c.built.dropout.set_training(false);
                let point = curve_point(plan, c, task, (step, tokens_so_far, train_s))?;
                c.built.dropout.set_training(true);
                emit.send(Event::Curve { point })?;
            }
        }
    }
    c.built.dropout.set_training(false);
    if steps > 0 {
        gpu_reading(c, GpuPhase::Train, emit)?;
    }
    Ok(())
}

fn gpu_reading(c: &CellModel, at: GpuPhase, emit: &mut Emitter<impl Write>) -> Result<()> {
    if let Some(pool) = crate::probe::read_pool(&c.device)? {
        emit.send(Event::Gpu { at, pool })?;
    }
    Ok(())
}

/// An evaluation on the curve's items at (step, tokens so far, training seconds so far).
fn curve_point(plan: &Plan, c: &CellModel, task: &PreparedTask, (step, tokens, train_s): (u32, u64, f64)) -> Result<CurvePoint> {
    let r = super::evaluate::held_out(plan, &c.built.decoder, task, c.tokenizer.as_ref()).context("curve evaluation")?;
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
