//! The evaluation part of a cell's plan: the task and how it is scored, the evaluation curve and
//! its time-to-quality target, the other tasks scored after training, inference speed.

use super::knobs::{KnobError, Knobs};
use crate::data::{PromptFormat, TaskSpec};

/// What a cell evaluates, typed.
#[derive(Debug, Clone)]
pub struct EvalPlan {
    /// The task trained on and scored.
    pub task: TaskSpec,
    /// Held-out items scored after training.
    pub examples: usize,
    /// Shots and plain or chat prompts (real tasks).
    pub format: PromptFormat,
    pub max_new_tokens: usize,
    /// Other real tasks scored after training (forgetting).
    pub also_eval: Vec<TaskSpec>,
    /// Evaluations during training (`eval_every` > 0).
    pub curve: Option<CurvePlan>,
    pub inference_speed: bool,
    /// Serving forms scored and timed after training (`deploy`), by name, each once, in the
    /// order given; crate::deploy makes them.
    pub deploy: Vec<&'static str>,
}

/// The evaluation curve: every `every` updates, the first `examples` held-out items.
#[derive(Debug, Clone)]
pub struct CurvePlan {
    pub every: u32,
    pub examples: usize,
    pub target: Option<Target>,
}

impl EvalPlan {
    pub fn of(k: &Knobs) -> Result<EvalPlan, KnobError> {
        let bad = |knob: &str, e: String| (knob.to_string(), e);
        let task = TaskSpec::parse(&k.task).map_err(|e| bad("task", e))?;
        let also_eval = k
            .also_eval
            .iter()
            .map(|t| {
                let spec = TaskSpec::parse(t).map_err(|e| bad("also_eval", e))?;
                if !spec.is_text() {
                    return Err(bad(
                        "also_eval",
                        format!("`{t}` is synthetic; also_eval takes real tasks (olmo:NAME, jsonl:PATH, mc-jsonl:PATH, knowledge)"),
                    ));
                }
                Ok(spec)
            })
            .collect::<Result<_, _>>()?;
        let chat = match k.prompt_format.as_str() {
            "plain" => false,
            "chat" => true,
            other => return Err(bad("prompt_format", format!("expected `plain` or `chat`, found `{other}`"))),
        };
        for (knob, v) in [
            ("eval_examples", k.eval_examples),
            ("max_new_tokens", k.max_new_tokens),
            ("curve_examples", k.curve_examples),
        ] {
            if v == 0 {
                return Err(bad(knob, "must be at least 1, found 0".into()));
            }
        }
        let target = (!k.target.is_empty())
            .then(|| Target::parse(&k.target))
            .transpose()
            .map_err(|e| bad("target", e))?;
        if target.is_some() && k.eval_every == 0 {
            return Err(bad(
                "target",
                "needs eval_every > 0: the target is checked at the evaluation points".into(),
            ));
        }
        Ok(EvalPlan {
            task,
            examples: k.eval_examples as usize,
            format: PromptFormat {
                shots: k.shots as usize,
                chat,
            },
            max_new_tokens: k.max_new_tokens as usize,
            also_eval,
            curve: (k.eval_every > 0).then(|| CurvePlan {
                every: k.eval_every,
                examples: k.curve_examples.min(k.eval_examples) as usize,
                target,
            }),
            inference_speed: k.inference_speed,
            deploy: deploy_forms(&k.deploy).map_err(|e| bad("deploy", e))?,
        })
    }

    /// Whether the cell needs the model's tokenizer (a text task, here or in `also_eval`).
    pub fn needs_tokenizer(&self) -> bool {
        self.task.is_text() || !self.also_eval.is_empty()
    }
}

/// The `deploy` list as registered form names; a name twice is an error.
fn deploy_forms(names: &[String]) -> Result<Vec<&'static str>, String> {
    let mut out: Vec<&'static str> = Vec::new();
    for n in names {
        let f = crate::deploy::form(n)?.name();
        if out.contains(&f) {
            return Err(format!("`{n}` is listed twice"));
        }
        out.push(f);
    }
    Ok(out)
}

/// A time-to-quality target: a held-out metric and the value it must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// `loss`, `acc` or `exact_match`.
    pub metric: &'static str,
    pub value: f64,
    /// `loss` must fall to the value; the others must rise to it.
    pub lower_is_better: bool,
}

impl Target {
    /// Parses `loss<=X`, `acc>=X`, `exact_match>=X`.
    pub fn parse(s: &str) -> Result<Target, String> {
        let forms = [("loss", "<=", true), ("acc", ">=", false), ("exact_match", ">=", false)];
        for (metric, op, lower) in forms {
            if let Some(rest) = s.strip_prefix(metric).and_then(|r| r.trim_start().strip_prefix(op)) {
                let value: f64 = rest
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{s}`: expected a number after `{metric}{op}`"))?;
                if !value.is_finite() {
                    return Err(format!("`{s}`: the value must be finite"));
                }
                return Ok(Target {
                    metric,
                    value,
                    lower_is_better: lower,
                });
            }
        }
        Err(format!("`{s}`: expected `loss<=X`, `acc>=X` or `exact_match>=X`"))
    }

    /// Whether `v` meets the target.
    pub fn met(&self, v: f64) -> bool {
        if self.lower_is_better {
            v <= self.value
        } else {
            v >= self.value
        }
    }
}
