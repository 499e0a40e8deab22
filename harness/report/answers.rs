//! Answers side by side: per (model, task) trained and scored, one row per held-out item the
//! records kept a prediction of (the first `eval::SAMPLES_KEPT` items, the same for every run),
//! with each configuration's answer and ✓/✗ (its first seed), and how often the configurations
//! disagree over all the items scored (from the per-item outcomes every record keeps).

use crate::eval::TaskScore;
use crate::record::{Record, Status};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub text: String,
    pub correct: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnswerRow {
    pub id: String,
    /// The prompt's end, cut to a line.
    pub prompt_short: String,
    /// The prompt's end as the record kept it.
    pub prompt: String,
    pub gold: String,
    pub answers: Vec<Answer>,
    /// Whether the configurations' answers differ.
    pub disagree: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnswerTable {
    pub model: String,
    pub task: String,
    /// Column headings: each configuration (method, and its differing knobs where a method has several).
    pub columns: Vec<String>,
    pub rows: Vec<AnswerRow>,
    /// Over every item scored: on how many the configurations' outcomes differ.
    pub disagreement: String,
}

fn cut(s: &str, n: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= n {
        flat
    } else {
        format!(
            "…{}",
            flat.chars()
                .rev()
                .take(n - 1)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<String>()
        )
    }
}

/// The score of `task` in a record (its own task or one it also scored).
fn score<'a>(r: &'a Record, task: &str) -> Option<&'a TaskScore> {
    r.eval
        .iter()
        .filter_map(|e| e.score.as_ref())
        .chain(r.also_eval.iter())
        .find(|s| s.task == task)
}

/// The tables, in the order (model, task) first appear among the records.
pub fn answer_tables(records: &[Record], labels: &[String]) -> Vec<AnswerTable> {
    let ok: Vec<(&Record, &String)> = records.iter().zip(labels).filter(|(r, _)| r.status == Status::Ok).collect();
    let mut keys: Vec<(String, String)> = Vec::new();
    for (r, _) in &ok {
        if r.cell.method.trains() && score(r, &r.cell.knobs.task).is_some() {
            let k = (r.cell.model.clone(), r.cell.knobs.task.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys.into_iter().filter_map(|(model, task)| table(&ok, model, task)).collect()
}

/// The runs of (model, task) to set side by side: one per configuration (its lowest seed) that
/// trained on the task, and the base model; base first, then the registry's order.
fn runs_of<'a>(ok: &[(&'a Record, &'a String)], model: &str, task: &str) -> Vec<(&'a Record, &'a String, &'a TaskScore)> {
    // By configuration id: the run of the lowest seed.
    let mut runs: BTreeMap<String, (&Record, &String, &TaskScore)> = BTreeMap::new();
    for (r, label) in ok {
        let trained_here = !r.cell.method.trains() || r.cell.knobs.task == task;
        let Some(s) = score(r, task).filter(|_| r.cell.model == model && trained_here) else {
            continue;
        };
        let run = runs.entry(super::rows::config_id(r)).or_insert((r, label, s));
        if run.0.cell.seed > r.cell.seed {
            *run = (r, label, s);
        }
    }
    let mut runs: Vec<(&Record, &String, &TaskScore)> = runs.into_values().collect();
    runs.sort_by_key(|(r, _, _)| (r.cell.method.trains(), r.cell.method));
    runs
}

/// One row: an item the first run kept, with every run's answer to it.
fn answer_row(p: &crate::eval::Prediction, runs: &[&(&Record, &String, &TaskScore)]) -> AnswerRow {
    let answers: Vec<Answer> = runs
        .iter()
        .map(|(_, _, s)| match s.samples.iter().find(|q| q.id == p.id) {
            Some(q) => Answer {
                text: q.predicted.clone(),
                correct: q.correct,
            },
            None => Answer {
                text: "–".into(),
                correct: false,
            },
        })
        .collect();
    let disagree = answers.iter().any(|a| a.text != answers[0].text);
    AnswerRow {
        id: p.id.clone(),
        prompt_short: cut(&p.prompt_tail, 90),
        prompt: p.prompt_tail.clone(),
        gold: p.gold.clone(),
        answers,
        disagree,
    }
}

/// The table of (model, task), when at least two runs scored the same items.
fn table(ok: &[(&Record, &String)], model: String, task: String) -> Option<AnswerTable> {
    let runs = runs_of(ok, &model, &task);
    let first = runs.first()?.2;
    let same_items: Vec<&(&Record, &String, &TaskScore)> = runs
        .iter()
        .filter(|(_, _, s)| s.data.held_out_ids == first.data.held_out_ids)
        .collect();
    if same_items.len() < 2 {
        return None;
    }
    let columns = same_items
        .iter()
        .map(|(r, label, _)| {
            let m = r.cell.method.label().to_string();
            let many = same_items.iter().filter(|(x, _, _)| x.cell.method == r.cell.method).count() > 1;
            if many && !label.is_empty() {
                format!("{m} ({label})")
            } else {
                m
            }
        })
        .collect();
    let rows = first.samples.iter().map(|p| answer_row(p, &same_items)).collect();
    let outcomes: Vec<Vec<bool>> = same_items.iter().map(|(_, _, s)| s.outcomes()).collect();
    let n = outcomes.iter().map(Vec::len).min().unwrap_or(0);
    let differ = (0..n).filter(|&i| outcomes.iter().any(|o| o[i] != outcomes[0][i])).count();
    Some(AnswerTable {
        model,
        task,
        columns,
        rows,
        disagreement: format!(
            "Over all {n} items scored, the {} configurations' ✓/✗ differ on {differ} ({:.0}%).",
            same_items.len(),
            if n > 0 { 100.0 * differ as f64 / n as f64 } else { 0.0 }
        ),
    })
}
