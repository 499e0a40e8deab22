//! The serving forms of the trained model (`deploy`): each made from it (crate::deploy), scored
//! on the cell's held-out items, timed like `inference_speed` (batch 1, KV cache), sized, and
//! compared with the model as trained item by item. Forms that do not apply to the cell's
//! method are left out. Files a form writes (GGUF) go to a scratch folder removed afterwards.

use super::build::CellModel;
use super::emit::Emitter;
use super::evaluate::final_held_out;
use super::events::Event;
use super::inference::speed_of;
use crate::deploy::{form, ServeCtx, AS_TRAINED};
use crate::eval::stats::paired_stderr;
use crate::eval::EvalResult;
use crate::model::{dtype_name, Decoder};
use crate::record::{PairedDelta, ServedForm};
use crate::suite::Plan;
use anyhow::{Context, Result};
use std::io::Write;
use std::time::Instant;

pub fn deploy(plan: &Plan, c: &CellModel, trained: &Decoder, trained_eval: &EvalResult, emit: &mut Emitter<impl Write>) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("ftbench-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).with_context(|| format!("{}: cannot create the scratch folder", scratch.display()))?;
    let result = serve_all(plan, c, trained, trained_eval, &scratch, emit);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn serve_all(
    plan: &Plan,
    c: &CellModel,
    trained: &Decoder,
    trained_eval: &EvalResult,
    scratch: &std::path::Path,
    emit: &mut Emitter<impl Write>,
) -> Result<()> {
    let name = plan.model.to_string();
    let ctx = ServeCtx {
        nf4_block_size: plan.method.nf4_block_size,
        nf4_double_quant: plan.method.nf4_double_quant,
        tokenizer: c.tokenizer.as_ref(),
        eos: &c.eos,
        name: &name,
        scratch,
        merged: Default::default(),
    };
    for f in plan.eval.deploy.iter().map(|n| form(n).map_err(anyhow::Error::msg)) {
        let f = f?;
        if f.not_for(plan.method.method).is_some() {
            continue;
        }
        let what = || format!("serving form `{}`", f.name());
        let t = Instant::now();
        let served = f.serve(trained, &ctx).with_context(what)?;
        let make_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let eval = if f.name() == AS_TRAINED {
            trained_eval.clone()
        } else {
            final_held_out(plan, &served.model, &c.task, c.tokenizer.as_ref()).with_context(what)?
        };
        let eval_s = t.elapsed().as_secs_f64();
        let (prefill, decode, _) = speed_of(&served.model).with_context(what)?;
        emit.send(Event::Served {
            form: ServedForm {
                form: f.name().into(),
                compute_dtype: dtype_name(served.model.dtype()),
                delta: paired_delta(trained_eval, &eval),
                delta_loss: Some(eval.loss - trained_eval.loss),
                eval,
                prefill_tokens_per_s: prefill,
                decode_tokens_per_s: decode,
                bytes: served.bytes,
                bytes_of: served.bytes_of.into(),
                make_s,
                eval_s,
            },
        })?;
    }
    Ok(())
}

/// The form's task metric minus the trained model's, paired by item.
fn paired_delta(trained: &EvalResult, served: &EvalResult) -> Option<PairedDelta> {
    let (a, b) = (served.score.as_ref()?, trained.score.as_ref()?);
    let (oa, ob) = (a.outcomes(), b.outcomes());
    let se = paired_stderr(&oa, &ob)?;
    let delta = a.value - b.value;
    Some(PairedDelta {
        metric: a.metric.clone(),
        n: oa.len(),
        delta,
        stderr: se,
        ci95: (delta - 1.96 * se, delta + 1.96 * se),
        items_changed: oa.iter().zip(&ob).filter(|(x, y)| x != y).count(),
    })
}
