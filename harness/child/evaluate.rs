//! After training: the held-out evaluation of the task (teacher-forced loss, perplexity and token
//! accuracy, and on real tasks the task's own score) and the other tasks scored (`also_eval`).
//! A fully fine-tuned model is evaluated as the checkpoint a user deploys: plain frozen weights.

use super::build::CellModel;
use super::emit::Emitter;
use super::events::Event;
use crate::data::PreparedTask;
use crate::eval::{score_task, Answerer, EvalResult};
use crate::load::Tokenizer;
use crate::method::frozen_copy;
use crate::model::Decoder;
use crate::suite::Plan;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::time::Instant;

/// Evaluates the trained model; returns it as evaluated (for inference speed and the serving
/// forms) with its held-out result.
pub fn evaluate(plan: &Plan, c: &CellModel, emit: &mut Emitter<impl Write>) -> Result<(Decoder, EvalResult)> {
    // Adapters are evaluated as trained (unmerged); a full fine-tune as frozen weights, not
    // autograd-tracked Vars.
    let model = if plan.method.method.trains_base() {
        frozen_copy(&c.built.decoder)?
    } else {
        c.built.decoder.clone()
    };
    let t = Instant::now();
    let result = final_held_out(plan, &model, &c.task, c.tokenizer.as_ref())?;
    emit.send(Event::Eval {
        result: result.clone(),
        secs: t.elapsed().as_secs_f64(),
    })?;
    for other in &plan.eval.also_eval {
        let prepared = super::open::prepare(plan, other, plan.eval.examples, &c.cfg, c.tokenizer.as_ref(), &c.eos)
            .with_context(|| format!("also_eval task `{other}`"))?;
        let PreparedTask::Text(tt) = prepared else {
            bail!("also_eval task `{other}` is synthetic");
        };
        let tok = c.tokenizer.as_ref().context("text tasks load the tokenizer")?;
        let (score, _) =
            score_task(&model, &tt, tok, plan.eval.max_new_tokens).with_context(|| format!("scoring also_eval task `{other}`"))?;
        emit.send(Event::AlsoEval { score })?;
    }
    Ok((model, result))
}

/// The evaluation after training ([`held_out`]); a non-finite loss fails the cell.
pub fn final_held_out(plan: &Plan, model: &dyn Answerer, task: &PreparedTask, tok: Option<&Tokenizer>) -> Result<EvalResult> {
    let result = held_out(plan, model, task, tok)?;
    if !result.loss.is_finite() {
        bail!(
            "the held-out loss is not finite ({}): training diverged (lr {}, optimizer {}); a record cannot call this ok",
            result.loss,
            plan.train.schedule.peak,
            plan.optimizer.kind().name(),
        );
    }
    Ok(result)
}

/// The held-out evaluation of a prepared task: teacher-forced loss, perplexity and token
/// accuracy, and on real tasks the task's own score (multiple choice gives both in one pass).
pub fn held_out(plan: &Plan, model: &dyn Answerer, task: &PreparedTask, tok: Option<&Tokenizer>) -> Result<EvalResult> {
    let batch = plan.train.batch_size;
    let (PreparedTask::Text(tt), Some(tok)) = (task, tok) else {
        return model.forced(&task.eval_examples(), batch).context("evaluation");
    };
    let (score, forced) = score_task(model, tt, tok, plan.eval.max_new_tokens).context("scoring the held-out items")?;
    let mut result = match forced {
        Some(r) => r,
        None => model.forced(&task.eval_examples(), batch).context("evaluation")?,
    };
    result.score = Some(score);
    Ok(result)
}
