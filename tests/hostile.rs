//! Hostile and broken input gets a clear error naming the file and the key, line or position,
//! in bounded time — never a panic, a silently different cell, or a wrong number.

mod common;

use common::{ftbench, text};
use ftbench::suite::{load, parse};
use std::path::Path;
use std::time::Instant;

const HEAD: &str = "schema: 1\nname: t\n";

fn error(yaml: &str) -> String {
    parse(yaml, Path::new("bad.yaml"))
        .expect_err("suite should be rejected")
        .to_string()
}

#[test]
fn non_finite_numbers_are_rejected_wherever_they_appear() {
    for (yaml, key) in [
        ("grid: {models: [preset:tiny], methods: [full], lr: [.nan, .inf]}", "grid.lr[0]"),
        (
            "grid: {models: [preset:tiny], methods: [full], together: {x: [{lr: .inf}]}}",
            "grid.together.x[0].lr",
        ),
        (
            "defaults: {weight_decay: -.inf}\ngrid: {models: [preset:tiny], methods: [full]}",
            "defaults.weight_decay",
        ),
        (
            "grid: {models: [preset:tiny], methods: [full]}\nexclude: [{lr: .nan}]",
            "exclude[0].lr",
        ),
    ] {
        let m = error(&format!("{HEAD}{yaml}\n"));
        assert!(m.contains(&format!("{key}: expected a finite number")), "{m}");
    }
}

#[test]
fn grids_are_bounded_and_expand_in_linear_time() {
    let seeds: Vec<String> = (0..20_000).map(|i| i.to_string()).collect();
    let steps: Vec<String> = (1..=10_000).map(|i| i.to_string()).collect();
    let yaml = format!(
        "{HEAD}grid:\n  models: [preset:tiny]\n  methods: [full]\n  seeds: [{}]\n  steps: [{}]\n",
        seeds.join(","),
        steps.join(",")
    );
    let t = Instant::now();
    let m = error(&yaml);
    assert!(
        m.contains("grid: expands to 200000000 cells") && m.contains("more than max_cells = 100000"),
        "{m}"
    );
    assert!(t.elapsed().as_secs_f64() < 5.0, "the bound is checked before expanding");
    // max_cells raises the bound; a duplicate value is found by a hash, not by pairs.
    let ok = format!(
        "{HEAD}max_cells: 200000\ngrid:\n  models: [preset:tiny]\n  methods: [full]\n  seeds: [{}]\n",
        seeds.join(",")
    );
    assert_eq!(parse(&ok, Path::new("ok.yaml")).unwrap().1.len(), 20_000);
    let dup = format!(
        "{HEAD}grid:\n  models: [preset:tiny]\n  methods: [full]\n  seeds: [{},7]\n",
        seeds.join(",")
    );
    assert!(error(&dup).contains("grid.seeds[20000]: this value is listed twice (first at [7])"));
    // Deep nesting is refused before the parser sees it.
    let deep = format!("{HEAD}grid: {}\n", "[".repeat(100_000));
    assert!(error(&deep).contains("nested more than 64 levels deep at line 3"));
}

#[test]
fn encodings_names_and_knob_bounds() {
    // A byte-order mark is not part of the YAML.
    let bom = format!("\u{feff}{HEAD}grid: {{models: [preset:tiny], methods: [full]}}\n");
    assert!(parse(&bom, Path::new("bom.yaml")).is_ok());
    // Invalid UTF-8: the position, once.
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("latin1.yaml");
    std::fs::write(&p, b"schema: 1\nname: caf\xe9\ngrid: {}\n").unwrap();
    let m = load(&p).unwrap_err().to_string();
    assert!(m.contains("not valid UTF-8 at line 2, column 10"), "{m}");
    // A name that could not be a folder name.
    let m = error(&format!(
        "schema: 1\nname: {}\ngrid: {{models: [preset:tiny], methods: [full]}}\n",
        "a".repeat(300)
    ));
    assert!(m.contains("name: expected 1 to 128") && m.contains("(300 bytes)"), "{m}");
    // Threads, and a weight decay that would flip the weights' sign every step.
    let m = error(&format!(
        "{HEAD}defaults: {{threads: 1000000}}\ngrid: {{models: [preset:tiny], methods: [full]}}\n"
    ));
    assert!(m.contains("threads must be at most 1024"), "{m}");
    let m = error(&format!(
        "{HEAD}defaults: {{weight_decay: 1.0e19}}\ngrid: {{models: [preset:tiny], methods: [full]}}\n"
    ));
    assert!(m.contains("lr × weight_decay must be below 1"), "{m}");
}

#[test]
fn the_cli_on_closed_pipes_bad_files_and_impossible_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A closed stdout ends `list` quietly (SIGPIPE), not with a panic.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ftbench"))
        .arg("list")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // validate checks every file and names each bad one.
    std::fs::write(
        dir.join("a.yaml"),
        format!("{HEAD}grid: {{models: [preset:tiny], methods: [full]}}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("b.yaml"),
        format!("{HEAD}grid: {{models: [preset:tiny], methods: [sft]}}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("c.yaml"),
        format!("{HEAD}grid: {{models: [preset:tiny], methods: [full], lr: [.nan]}}\n"),
    )
    .unwrap();
    let v = ftbench(dir, &["validate", "b.yaml", "a.yaml", "c.yaml"]);
    let t = text(&v);
    assert!(!v.status.success());
    assert!(
        t.contains("b.yaml: grid.methods[0]: unknown method `sft`") && t.contains("a.yaml: ok"),
        "{t}"
    );
    assert!(
        t.contains("c.yaml: grid.lr[0]: expected a finite number") && t.contains("2 of 3 suite files are invalid"),
        "{t}"
    );
    // A device, a directory or a FIFO where a GGUF file is expected is named as what it is.
    std::fs::create_dir(dir.join("d.gguf")).unwrap();
    for (spec, what) in [("gguf:/dev/zero", "is a device"), ("gguf:d.gguf", "is a directory")] {
        let o = ftbench(dir, &["estimate", "--model", spec]);
        assert!(text(&o).contains(&format!("{what}, not a GGUF file")), "{}", text(&o));
    }
    // Sizes whose counts would wrap are refused, not printed small.
    let o = ftbench(dir, &["estimate", "--model", "preset:llama2-7b", "--batch", "9223372036854775807"]);
    assert!(!o.status.success() && text(&o).contains("too large to estimate"), "{}", text(&o));
    let cfg = r#"{"architectures": ["LlamaForCausalLM"], "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5, "head_dim": 0}"#;
    std::fs::write(dir.join("config.json"), cfg).unwrap();
    let o = ftbench(dir, &["estimate", "--model", "config.json"]);
    assert!(text(&o).contains("head_dim: must be positive, found 0"), "{}", text(&o));
    std::fs::write(
        dir.join("config.json"),
        cfg.replace("\"head_dim\": 0", "\"head_dim\": 128")
            .replace("\"hidden_size\": 4096", "\"hidden_size\": 4611686018427387904"),
    )
    .unwrap();
    let o = ftbench(dir, &["estimate", "--model", "config.json"]);
    assert!(text(&o).contains("more than 2^50"), "{}", text(&o));
}
