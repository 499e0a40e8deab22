//! Items of real text tasks: a prompt and its answer, as a dataset file gives them, before any
//! prompt format or tokenizer is applied.

use serde::{Deserialize, Serialize};

/// A chat turn (`{"role": ..., "content": ...}`), as chat templates take them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// What the model is shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Plain text; the answer continues it directly.
    Text(String),
    /// Chat turns before the answer (rendered with the model's chat template).
    Messages(Vec<Message>),
}

/// What counts as the right answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Multiple choice: each choice is a continuation of the prompt, scored by its
    /// log-likelihood (`gold` indexes `choices`).
    Choice { choices: Vec<String>, gold: usize },
    /// Generative: `target` is the continuation trained on (verbatim: it carries its own leading
    /// space); greedy output is right when it matches any of `answers` after normalisation.
    Text { target: String, answers: Vec<String> },
}

/// One item of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Stable id within the dataset (the source's own id where it has one, else the line number):
    /// the split and the record's list of held-out items use it.
    pub id: String,
    pub prompt: Prompt,
    pub answer: Answer,
}

impl Item {
    /// The continuation trained on: the gold choice, or the generative target.
    pub fn target(&self) -> &str {
        match &self.answer {
            Answer::Choice { choices, gold } => &choices[*gold],
            Answer::Text { target, .. } => target,
        }
    }
}

/// How a generative answer is pulled out of the model's output before normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Extract {
    /// The output up to the first stop sequence, whole.
    Whole,
    /// GSM8K: the number after `####`, else after "the answer is", else the last number.
    Number,
}

/// A dataset as read from its file(s).
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The task spec that named it (`olmo:sciq`, `jsonl:PATH`, ...).
    pub name: String,
    /// What the held-out split hashes with each item id: the task's name, or for your files
    /// their file name (so moving a file keeps its split).
    pub split_key: String,
    /// The file(s) read, with their sha256.
    pub files: Vec<(String, String)>,
    /// Upstream licence, as far as known.
    pub license: String,
    pub items: Vec<Item>,
    /// Generative tasks: output stops at the first of these (and at an end-of-sequence token).
    pub stop: Vec<String>,
    pub extract: Extract,
}

impl Dataset {
    /// Multiple choice when every item is (a dataset file is one kind throughout).
    pub fn is_multiple_choice(&self) -> bool {
        self.items.first().is_some_and(|i| matches!(i.answer, Answer::Choice { .. }))
    }
}
