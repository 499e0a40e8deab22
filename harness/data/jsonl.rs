//! User datasets, one JSON object per line:
//!
//! - `task: jsonl:PATH` — `{"prompt": "...", "completion": "..."}` (generative: trained on the
//!   completion, scored by exact match of the greedy output against it after normalisation), or
//!   `{"messages": [{"role": ..., "content": ...}, ...]}` whose last message is the assistant's
//!   answer (the turns before it are rendered with the model's chat template). An optional
//!   `"answers": [...]` lists further accepted answers (aliases). The completion is used
//!   verbatim: start it with a space when it continues the prompt after one.
//! - `task: mc-jsonl:PATH` — `{"query": "...", "choices": ["...", ...], "gold": INDEX}`
//!   (multiple choice by log-likelihood); each choice continues the query after one space
//!   (lm-evaluation-harness's target delimiter) unless it starts with whitespace itself.
//!
//! An optional `"id"` (string or integer) names the item; otherwise its line number does. Every
//! bad line is an error naming the file, the line and the field.

use super::item::{Answer, Dataset, Extract, Item, Message, Prompt};
use super::lines::{read_json_lines, Line};
use anyhow::{bail, Result};
use std::collections::BTreeSet;
use std::path::Path;

/// Reads a `jsonl:` (generative) or `mc-jsonl:` (multiple choice) file.
pub fn load(path: &Path, multiple_choice: bool) -> Result<Dataset> {
    let (rows, sha) = read_json_lines(path, "")?;
    let file = path.display().to_string();
    let mut items = Vec::with_capacity(rows.len());
    let mut ids = BTreeSet::new();
    for (no, v) in &rows {
        let line = Line {
            file: &file,
            no: *no,
            value: v,
        };
        if !v.is_object() {
            bail!("{file}: line {no}: expected a JSON object, found {}", v);
        }
        let item = if multiple_choice { mc_item(&line)? } else { gen_item(&line)? };
        if !ids.insert(item.id.clone()) {
            return Err(line.err("id", format!("`{}` is used by an earlier line; ids must be unique", item.id)));
        }
        items.push(item);
    }
    Ok(Dataset {
        name: format!("{}:{file}", if multiple_choice { "mc-jsonl" } else { "jsonl" }),
        split_key: format!(
            "jsonl:{}",
            path.file_name().map_or(file.clone(), |f| f.to_string_lossy().into_owned())
        ),
        files: vec![(file, sha)],
        license: "the user's own".into(),
        items,
        stop: vec!["\n".into()],
        extract: Extract::Whole,
    })
}

fn id_of(line: &Line) -> String {
    line.id("id").unwrap_or_else(|| format!("line{}", line.no))
}

fn gen_item(line: &Line) -> Result<Item> {
    let (prompt, completion) = if line.get("messages").is_some() {
        let list = match line.get("messages") {
            Some(serde_json::Value::Array(a)) if !a.is_empty() => a,
            _ => return Err(line.err("messages", "expected a non-empty list of {\"role\", \"content\"} objects")),
        };
        let mut messages = Vec::with_capacity(list.len());
        for (i, m) in list.iter().enumerate() {
            let l = Line {
                file: line.file,
                no: line.no,
                value: m,
            };
            let field = |f: &str| format!("messages[{i}].{f}");
            let role = l.str("role").map_err(|_| line.err(&field("role"), "expected a string"))?;
            let content = l.str("content").map_err(|_| line.err(&field("content"), "expected a string"))?;
            messages.push(Message {
                role: role.to_string(),
                content: content.to_string(),
            });
        }
        let last = messages.pop().expect("non-empty");
        if last.role != "assistant" {
            return Err(line.err(
                &format!("messages[{}].role", messages.len()),
                format!("the last message is the answer and must be the assistant's, found `{}`", last.role),
            ));
        }
        if messages.is_empty() {
            return Err(line.err("messages", "expected at least one message before the assistant's answer"));
        }
        (Prompt::Messages(messages), last.content)
    } else {
        (Prompt::Text(line.str("prompt")?.to_string()), line.str("completion")?.to_string())
    };
    if completion.trim().is_empty() {
        return Err(line.err("completion", "is empty; an exact-match item needs an answer"));
    }
    let mut answers = vec![completion.trim().to_string()];
    if line.get("answers").is_some() {
        answers.extend(line.strings("answers")?);
    }
    Ok(Item {
        id: id_of(line),
        prompt,
        answer: Answer::Text {
            target: completion,
            answers,
        },
    })
}

fn mc_item(line: &Line) -> Result<Item> {
    let query = line.str("query")?;
    let choices = line.strings("choices")?;
    if choices.len() < 2 {
        return Err(line.err("choices", format!("expected at least two choices, found {}", choices.len())));
    }
    let gold = line.index("gold")?;
    if gold >= choices.len() {
        return Err(line.err(
            "gold",
            format!("expected an index below {} (the number of choices), found {gold}", choices.len()),
        ));
    }
    let choices = choices
        .into_iter()
        .map(|c| if c.starts_with(char::is_whitespace) { c } else { format!(" {c}") })
        .collect();
    Ok(Item {
        id: id_of(line),
        prompt: Prompt::Text(query.to_string()),
        answer: Answer::Choice { choices, gold },
    })
}
