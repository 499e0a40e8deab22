//! Real-task accuracy: dataset readers (and their errors on bad input), prompt formatting and
//! tokenization, multiple-choice and generative scoring against the model's own forward pass,
//! intervals on known distributions, and a suite end to end with base rows and deltas.

use candle_core::{DType, Device, D};
use ftbench::data::{load_jsonl, load_olmo, Answer, PreparedTask, Prompt, PromptFormat, TaskContext, TaskSpec};
use ftbench::eval::stats::{binomial_stderr, seed_averaged_paired_stderr};
use ftbench::eval::{choice_logprobs, generate_until};
use ftbench::load::{ModelSpec, Tokenizer};
use ftbench::method::{self, MethodConfig};
use ftbench::model::generate::all_logits;
use ftbench::report::paired_delta;
use ftbench::suite::Method;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::io::Write;
use std::path::Path;

mod common;
use common::text_model::{cfg, weights, write_hf};
use common::{ftbench, json_files, text};

fn gz(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut e = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap();
}

fn err_of<T>(r: anyhow::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn jsonl_readers_name_file_line_and_field_on_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("d.jsonl");
    let cases: &[(&str, bool, &str)] = &[
        ("{\"prompt\": \"a\", \"completion\": \" b\"}\n{\"prompt\": \"c\"}\n", false, "d.jsonl: line 2: field `completion`: missing"),
        ("{\"prompt\": 3, \"completion\": \" b\"}\n", false, "line 1: field `prompt`: expected a string, found 3"),
        ("{\"prompt\": \"a\", \"completion\": \"  \"}\n", false, "line 1: field `completion`: is empty"),
        ("\n\n{\"prompt\": \"a\", \"completion\": \"b\"\n", false, "d.jsonl: line 3: not valid JSON"),
        ("[1, 2]\n", false, "line 1: expected a JSON object"),
        ("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n", false, "field `messages[0].role`: the last message is the answer and must be the assistant's, found `user`"),
        ("{\"messages\": [{\"role\": \"user\"}, {\"role\": \"assistant\", \"content\": \"x\"}]}\n", false, "field `messages[0].content`"),
        ("{\"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 2}\n", true, "line 1: field `gold`: expected an index below 2 (the number of choices), found 2"),
        ("{\"query\": \"q\", \"choices\": [\"a\", 5], \"gold\": 0}\n", true, "field `choices`: expected a list of strings, found 5"),
        ("{\"query\": \"q\", \"choices\": [\"a\"], \"gold\": 0}\n", true, "field `choices`: expected at least two choices"),
        ("{\"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": -1}\n", true, "field `gold`: expected a non-negative integer, found -1"),
        ("{\"id\": 1, \"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n{\"id\": \"1\", \"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n", true, "line 2: field `id`: `1` is used by an earlier line"),
        ("", true, "holds no JSON lines"),
    ];
    for (body, mc, want) in cases {
        std::fs::write(&p, body).unwrap();
        let e = err_of(load_jsonl(&p, *mc));
        assert!(e.contains(want) && e.contains("d.jsonl"), "{body:?}: {e}");
    }
    std::fs::write(&p, [0xffu8, 0xfe, b'\n']).unwrap();
    assert!(err_of(load_jsonl(&p, false)).contains("d.jsonl: line 1: not valid UTF-8"));
    assert!(err_of(load_jsonl(&tmp.path().join("nope.jsonl"), false)).contains("nope.jsonl: no such file"));

    // Good lines: ids, aliases, chat messages, the space a choice continues after.
    std::fs::write(
        &p,
        "{\"prompt\": \"2+2=\", \"completion\": \" 4\", \"answers\": [\"four\"]}\n\
         {\"id\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}\n",
    )
    .unwrap();
    let ds = load_jsonl(&p, false).unwrap();
    assert_eq!(ds.items[0].id, "line1");
    assert_eq!(
        ds.items[0].answer,
        Answer::Text {
            target: " 4".into(),
            answers: vec!["4".into(), "four".into()]
        }
    );
    assert!(matches!(&ds.items[1].prompt, Prompt::Messages(m) if m.len() == 1 && m[0].content == "hi"));
    std::fs::write(&p, "{\"query\": \"Sky:\", \"choices\": [\"blue\", \" red\"], \"gold\": 0}\n").unwrap();
    let ds = load_jsonl(&p, true).unwrap();
    assert_eq!(
        ds.items[0].answer,
        Answer::Choice {
            choices: vec![" blue".into(), " red".into()],
            gold: 0
        }
    );
}

#[test]
fn olmo_reader_pools_requests_and_rejects_corrupt_files() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("sciq/rc_0shot/requests.jsonl.gz");
    let row = |doc: u64, idx: u64, cont: &str, label: u64| {
        format!(
            "{{\"doc\": {{\"question\": \"q{doc}\"}}, \"request\": {{\"context\": \"Question: q{doc}\\nAnswer:\", \"continuation\": \"{cont}\"}}, \"idx\": {idx}, \"doc_id\": {doc}, \"native_id\": {doc}, \"label\": {label}}}\n"
        )
    };
    let mut body = String::new();
    for (doc, label) in [(0u64, 1u64), (1, 0)] {
        for (i, c) in [" x", " y", " z"].iter().enumerate() {
            body += &row(doc, i as u64, c, label);
        }
    }
    body += &row(1_000_000, 0, " x", 1); // the unconditional copy: dropped
    gz(&f, &body);
    let ds = load_olmo("sciq", tmp.path()).unwrap();
    assert_eq!(ds.items.len(), 2);
    assert_eq!(ds.items[0].prompt, Prompt::Text("Question: q0\nAnswer:".into()));
    assert_eq!(
        ds.items[0].answer,
        Answer::Choice {
            choices: vec![" x".into(), " y".into(), " z".into()],
            gold: 1
        }
    );
    assert!(ds.files[0].1.len() == 64, "the file's sha256 is recorded");

    // Truncated gzip: the error names the file and the last line read.
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let e = err_of(load_olmo("sciq", tmp.path()));
    assert!(e.contains("requests.jsonl.gz: truncated or corrupt gzip data after line"), "{e}");
    // A label out of range, a missing field.
    gz(&f, &row(0, 0, " x", 5));
    assert!(err_of(load_olmo("sciq", tmp.path())).contains("line 1: field `label`: expected a choice index below 1, found 5"));
    gz(
        &f,
        "{\"doc_id\": 0, \"idx\": 0, \"label\": 0, \"doc\": {\"question\": \"q\"}, \"request\": {\"context\": \"c\"}}\n",
    );
    assert!(err_of(load_olmo("sciq", tmp.path())).contains("line 1: field `request/continuation`: missing"));
    // Missing data says which script fetches it; an unknown task lists the known ones.
    let e = err_of(load_olmo("arc_easy", tmp.path()));
    assert!(e.contains("no such file") && e.contains("scripts/fetch-data.sh"), "{e}");
    assert!(err_of(load_olmo("nope", tmp.path())).contains("expected one of: sciq, arc_easy"));
}

/// The tiny text model (HF directory) with its tokenizer, and a decoder built as `method`.
fn tiny_model(dir: &Path, method: Method) -> (ftbench::method::Built, Tokenizer) {
    let c = cfg(false);
    write_hf(dir, &c, &weights(&c), None);
    let open = ModelSpec::parse(&format!("hf:{}", dir.display())).unwrap().open().unwrap();
    let tok = open.tokenizer().unwrap();
    let mut src = open.weights(0).unwrap();
    let built = method::build(&c, src.as_mut(), &MethodConfig::defaults(method, 0), DType::F32, &Device::Cpu).unwrap();
    (built, tok)
}

fn mc_file(dir: &Path, n: usize) -> std::path::PathBuf {
    let p = dir.join("mc.jsonl");
    let mut s = String::new();
    for i in 0..n {
        s += &format!("{{\"query\": \"Which is number {i}?\", \"choices\": [\"the first one\", \"two\", \"a third, longer answer\"], \"gold\": {}}}\n", i % 3);
    }
    std::fs::write(&p, s).unwrap();
    p
}

#[test]
fn prepared_text_has_loss_on_the_answer_only_and_a_stable_disjoint_split() {
    let tmp = tempfile::tempdir().unwrap();
    let (built, tok) = tiny_model(&tmp.path().join("m"), Method::named("lora"));
    let spec = format!("mc-jsonl:{}", mc_file(tmp.path(), 40).display());
    let cx = |shots| TaskContext {
        seq_len: 160,
        vocab_size: built.decoder.cfg.vocab_size,
        tokenizer: Some(&tok),
        eos: &[2],
        format: PromptFormat { shots, chat: false },
        eval_examples: 100,
    };
    let PreparedTask::Text(t) = TaskSpec::parse(&spec).unwrap().prepare(&cx(0)).unwrap() else {
        panic!()
    };
    assert_eq!(t.info.train_items + t.info.held_out_items, 40);
    assert!(t.info.held_out_items > 0 && t.info.train_items > 0);
    let PreparedTask::Text(t2) = TaskSpec::parse(&spec).unwrap().prepare(&cx(0)).unwrap() else {
        panic!()
    };
    assert_eq!(t.info.held_out_ids, t2.info.held_out_ids, "the split is deterministic");
    for e in &t.train {
        // The answer's tokens are the masked tail; the prompt carries no loss.
        let n = e.loss_mask.iter().filter(|&&m| m).count();
        assert!(n > 0 && e.loss_mask.iter().rev().take(n).all(|&m| m), "loss on a tail only");
        assert!(!e.loss_mask[0]);
        let answer = tok.decode(&e.tokens[e.tokens.len() - n..]).unwrap();
        assert!(
            ["the first one", "two", "a third, longer answer"].contains(&answer.trim()),
            "{answer:?}"
        );
    }
    // Two shots: each prompt starts with two solved training items.
    let PreparedTask::Text(s) = TaskSpec::parse(&spec).unwrap().prepare(&cx(2)).unwrap() else {
        panic!()
    };
    assert_eq!(s.eval[0].context.matches("Which is number").count(), 3, "{}", s.eval[0].context);
    // A chat format without a template is refused by name.
    let e = err_of(TaskSpec::parse(&spec).unwrap().prepare(&TaskContext {
        format: PromptFormat { shots: 0, chat: true },
        ..cx(0)
    }));
    assert!(e.contains("needs the model's chat template") && e.contains("tokenizer.json"), "{e}");
}

#[test]
fn chat_template_renders_turns_and_opens_the_assistant() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    let (_, _) = tiny_model(&dir, Method::named("base"));
    std::fs::write(
        dir.join("tokenizer_config.json"),
        r#"{"chat_template": "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"}"#,
    )
    .unwrap();
    let (built, tok) = {
        let open = ModelSpec::parse(&format!("hf:{}", dir.display())).unwrap().open().unwrap();
        let tok = open.tokenizer().unwrap();
        let c = cfg(false);
        let mut src = open.weights(0).unwrap();
        (
            method::build(
                &c,
                src.as_mut(),
                &MethodConfig::defaults(Method::named("base"), 0),
                DType::F32,
                &Device::Cpu,
            )
            .unwrap(),
            tok,
        )
    };
    let p = tmp.path().join("chat.jsonl");
    let mut s = String::new();
    for i in 0..12 {
        s += &format!(
            "{{\"messages\": [{{\"role\": \"user\", \"content\": \"say {i}\"}}, {{\"role\": \"assistant\", \"content\": \"{i}\"}}]}}\n"
        );
    }
    std::fs::write(&p, s).unwrap();
    let cx = TaskContext {
        seq_len: 64,
        vocab_size: built.decoder.cfg.vocab_size,
        tokenizer: Some(&tok),
        eos: &[2],
        format: PromptFormat { shots: 0, chat: false },
        eval_examples: 10,
    };
    let PreparedTask::Text(t) = TaskSpec::parse(&format!("jsonl:{}", p.display())).unwrap().prepare(&cx).unwrap() else {
        panic!()
    };
    let c = &t.eval[0].context;
    assert!(
        c.starts_with("<|im_start|>user\nsay ") && c.ends_with("<|im_end|>\n<|im_start|>assistant\n"),
        "{c:?}"
    );
    // The answer is trained without a leading space and ends with the end-of-turn id.
    let e = &t.train[0];
    assert_eq!(*e.tokens.last().unwrap(), 2);
    let _ = built;
}

#[test]
fn choice_scores_equal_the_teacher_forced_log_likelihood() {
    let tmp = tempfile::tempdir().unwrap();
    let (built, _) = tiny_model(&tmp.path().join("m"), Method::named("lora"));
    let model = &built.decoder;
    let ctx = [5u32, 17, 3, 200, 42];
    let conts = vec![vec![9u32], vec![11, 12, 13], vec![7, 8]];
    let got = choice_logprobs(model, &ctx, &conts).unwrap();
    for (c, g) in conts.iter().zip(&got) {
        let ids: Vec<u32> = ctx.iter().chain(c).copied().collect();
        let lp = candle_nn::ops::log_softmax(&all_logits(model, &ids).unwrap().to_dtype(DType::F64).unwrap(), D::Minus1).unwrap();
        let lp: Vec<Vec<f64>> = lp.to_vec2().unwrap();
        let want: f64 = c.iter().enumerate().map(|(j, &t)| lp[ctx.len() - 1 + j][t as usize]).sum();
        assert!((g - want).abs() < 1e-4, "{g} vs {want}");
    }
}

#[test]
fn generation_stops_at_stop_sequences_eos_and_the_token_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let (built, tok) = tiny_model(&tmp.path().join("m"), Method::named("base"));
    let model = &built.decoder;
    let ctx = tok.encode("the cat in").unwrap();
    let free = generate_until(model, Some(&tok), &ctx, 12, &[], &[]).unwrap();
    assert_eq!(free.new_tokens, 12);
    assert_eq!(free.ended, ftbench::eval::Ended::MaxNewTokens);
    // A stop sequence taken from the free output cuts it at its first occurrence (an ASCII
    // character: random weights also emit bytes of incomplete UTF-8 sequences).
    let stop = free
        .text
        .chars()
        .find(|c| c.is_ascii_graphic())
        .expect("some ASCII in 12 random tokens")
        .to_string();
    let cut = generate_until(model, Some(&tok), &ctx, 12, &[stop.clone()], &[]).unwrap();
    assert_eq!(cut.ended, ftbench::eval::Ended::Stop);
    assert_eq!(cut.text, free.text[..free.text.find(&stop).unwrap()], "cut at the first {stop:?}");
    // The first generated id as eos: nothing is generated, and an empty answer never matches.
    let first = ftbench::model::greedy(model, &ctx, 1, &[]).unwrap()[0];
    let none = generate_until(model, Some(&tok), &ctx, 12, &[], &[first]).unwrap();
    assert_eq!((none.text.as_str(), none.ended), ("", ftbench::eval::Ended::Eos));
    assert!(!ftbench::eval::normalize::matches_any(&none.text, &["".into()]));
}

#[test]
fn stderr_and_paired_intervals_cover_at_their_nominal_rate() {
    let mut rng = StdRng::seed_from_u64(1);
    // A run's accuracy on n items drawn with p = 0.6: p̂ ± 1.96·se covers p ~95% of the time.
    let (n, trials, p) = (200, 2000, 0.6);
    let mut covered = 0;
    for _ in 0..trials {
        let right = (0..n).filter(|_| rng.random::<f64>() < p).count();
        let se = binomial_stderr(right, n).unwrap();
        let est = right as f64 / n as f64;
        covered += usize::from((est - 1.96 * se..=est + 1.96 * se).contains(&p));
    }
    let rate = covered as f64 / trials as f64;
    assert!((0.93..=0.965).contains(&rate), "binomial coverage {rate}");
    // Three seeds whose differences are N(0.05, 0.02²) with no item noise: the t-interval covers
    // 0.05 ~95% of the time (a normal quantile would cover ~80%).
    let mut covered = 0;
    for _ in 0..trials {
        let pairs: Vec<(f64, f64, Option<f64>)> = (0..3)
            .map(|_| {
                let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng);
                (0.5 + 0.05 + 0.02 * z, 0.5, Some(0.0))
            })
            .collect();
        let d = paired_delta(&pairs).unwrap();
        covered += usize::from(d.low <= 0.05 && 0.05 <= d.high);
    }
    let rate = covered as f64 / trials as f64;
    assert!((0.93..=0.97).contains(&rate), "t coverage {rate}");
}

/// The interval the report gives a difference of two methods scored on the same n items over k
/// seeds (seeds' t-term and the seed-averaged item term) covers the true difference — over the
/// population of items and of training seeds — at least ~95% of the time, in a model where
/// items differ in difficulty, seeds shift a method's accuracy, and each run misses items of
/// its own.
#[test]
fn the_two_way_interval_covers_the_population_difference() {
    let mut rng = StdRng::seed_from_u64(7);
    let normal = |rng: &mut StdRng| -> f64 { rand_distr::Distribution::sample(&rand_distr::StandardNormal, rng) };
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    // Logit of a right answer: item difficulty u ~ N(0, 1.5²), method effect (A is 0.15 lower
    // than B), seed effect N(0, 0.25²) per run, and the run's own noise N(0, 0.8²) per item.
    let (n, k, trials) = (250, 5, 600);
    let p = |u: f64, method: f64, seed: f64, own: f64| sigmoid(u + method + seed + own);
    // The population difference, by Monte Carlo over items, seeds and noise (common draws).
    let mut truth = 0.0;
    let draws = 400_000;
    for _ in 0..draws {
        let (u, sa, sb, ea, eb) = (
            1.5 * normal(&mut rng),
            0.25 * normal(&mut rng),
            0.25 * normal(&mut rng),
            0.8 * normal(&mut rng),
            0.8 * normal(&mut rng),
        );
        truth += p(u, -0.15, sa, ea) - p(u, 0.0, sb, eb);
    }
    truth /= draws as f64;
    let mut covered = 0;
    for _ in 0..trials {
        let items: Vec<f64> = (0..n).map(|_| 1.5 * normal(&mut rng)).collect();
        let runs: Vec<(Vec<bool>, Vec<bool>)> = (0..k)
            .map(|_| {
                let (sa, sb) = (0.25 * normal(&mut rng), 0.25 * normal(&mut rng));
                let a = items
                    .iter()
                    .map(|&u| rng.random::<f64>() < p(u, -0.15, sa, 0.8 * normal(&mut rng)))
                    .collect();
                let b = items
                    .iter()
                    .map(|&u| rng.random::<f64>() < p(u, 0.0, sb, 0.8 * normal(&mut rng)))
                    .collect();
                (a, b)
            })
            .collect();
        let se = seed_averaged_paired_stderr(&runs).unwrap();
        let acc = |v: &Vec<bool>| v.iter().filter(|&&x| x).count() as f64 / n as f64;
        let pairs: Vec<(f64, f64, Option<f64>)> = runs.iter().map(|(a, b)| (acc(a), acc(b), Some(se))).collect();
        let d = paired_delta(&pairs).unwrap();
        covered += usize::from(d.low <= truth && truth <= d.high);
    }
    let rate = covered as f64 / trials as f64;
    eprintln!("two-way interval coverage {rate:.3} over {trials} trials (population difference {truth:.4})");
    assert!((0.93..=0.995).contains(&rate), "two-way coverage {rate} (truth {truth:.4})");
}

const SUITE: &str = r#"
schema: 1
name: acc
description: real-task scoring end to end on a tiny model
defaults: {steps: 3, timing_warmup_steps: 1, warmup_steps: 1, batch_size: 4, seq_len: 48, eval_examples: 8, lr: 0.01, max_new_tokens: 4}
grid:
  models: [hf:m]
  methods: [base, full, lora]
  seeds: [0, 1]
  together:
    task:
      - {task: "mc-jsonl:mc.jsonl", also_eval: ["jsonl:gen.jsonl"], inference_speed: true, eval_every: 2, target: "loss<=100"}
      - {task: "jsonl:gen.jsonl", also_eval: [], eval_every: 0, target: "", inference_speed: false}
exclude:
  - {method: base, seed: 1}
"#;

#[test]
fn a_suite_scores_real_tasks_with_base_rows_and_deltas() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let c = cfg(false);
    write_hf(&dir.join("m"), &c, &weights(&c), None);
    mc_file(dir, 60);
    let mut g = String::new();
    for i in 0..60 {
        g += &format!("{{\"prompt\": \"Repeat {i}:\", \"completion\": \" {i}\"}}\n");
    }
    std::fs::write(dir.join("gen.jsonl"), g).unwrap();
    std::fs::write(dir.join("acc.yaml"), SUITE).unwrap();
    let run = ftbench(dir, &["run", "acc.yaml"]);
    let out = text(&run);
    assert!(run.status.success() && out.contains("10 cells run (10 ok, 0 failed)"), "{out}");

    let recs: Vec<serde_json::Value> = json_files(&dir.join("results/acc"))
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect();
    for r in &recs {
        let s = &r["eval"]["score"];
        assert_eq!(s["n"], 8, "{r}");
        assert_eq!(s["correct"].as_str().unwrap().len(), 8);
        assert_eq!(s["data"]["held_out_ids"].as_array().unwrap().len(), 8);
        let base = r["cell"]["method"] == "base";
        assert_eq!(r["conditions"]["steps"], if base { 0 } else { 3 }, "steps as they ran");
        assert_eq!(r["artifact"].is_null(), base);
        if r["cell"]["knobs"]["task"] == "mc-jsonl:mc.jsonl" {
            assert_eq!(s["kind"], "multiple_choice");
            assert!(s["acc_norm"].is_number());
            assert_eq!(r["also_eval"][0]["kind"], "generative");
            assert!(r["inference"]["decode_tokens_per_s"].as_f64().unwrap() > 0.0);
            if !base {
                assert_eq!(r["curve"].as_array().unwrap().len(), 2, "steps 2 and 3");
                assert_eq!(r["target_reached"]["step"], 2);
            }
        } else {
            assert_eq!(s["kind"], "generative");
        }
        if r["cell"]["method"] == "lora" && r["inference"].is_object() {
            assert!(r["inference"]["merged_decode_tokens_per_s"].is_number(), "LoRA merged speed");
        }
    }
    let mut rd = csv::Reader::from_path(dir.join("reports/acc/accuracy.csv")).unwrap();
    let head = rd.headers().unwrap().clone();
    let rows: Vec<std::collections::HashMap<String, String>> = rd
        .records()
        .map(|r| head.iter().map(String::from).zip(r.unwrap().iter().map(String::from)).collect())
        .collect();
    // base + full + lora on each task as trained; full + lora on the gen task after mc training
    // (forgetting); one base row per scoring, though two base cells scored the gen task.
    assert_eq!(rows.len(), 3 + 3 + 2, "{rows:?}");
    let lora_mc = rows
        .iter()
        .find(|r| r["eval_task"] == "mc-jsonl:mc.jsonl" && r["method"] == "lora")
        .unwrap();
    assert_eq!(lora_mc["seeds"], "2");
    for col in [
        "base",
        "vs_base",
        "vs_base_low",
        "vs_full",
        "vs_full_high",
        "vs_full_verdict",
        "vs_full_mde",
        "ci95_low",
    ] {
        assert!(!lora_mc[col].is_empty(), "{col}: {lora_mc:?}");
    }
    let forgetting = rows
        .iter()
        .filter(|r| r["eval_task"] == "jsonl:gen.jsonl" && r["trained_on"] == "mc-jsonl:mc.jsonl")
        .count();
    assert_eq!(forgetting, 2);
    let html = std::fs::read_to_string(dir.join("reports/acc/index.html")).unwrap();
    for s in [
        "accuracy-table",
        "answers-table",
        "speed-table",
        "artifact-table",
        "quality-table",
        "— (untrained)",
    ] {
        assert!(html.contains(s), "{s}");
    }
    // The evaluations during training (eval_every: 2) as a chart of the methods overlaid.
    let eval = std::fs::read_to_string(dir.join("reports/acc/eval-1.svg")).unwrap();
    assert!(
        eval.contains("during training") && eval.contains("full") && eval.contains("lora"),
        "{eval}"
    );
}
