//! Suite parsing, validation errors and grid expansion.

use ftbench::suite::{parse, Cell, Method, SuiteError};
use std::path::Path;

fn cells(yaml: &str) -> Vec<Cell> {
    parse(yaml, Path::new("t.yaml")).unwrap_or_else(|e| panic!("{e}")).1
}

fn error(yaml: &str) -> String {
    let e: SuiteError = parse(yaml, Path::new("suites/bad.yaml")).expect_err("suite should be rejected");
    let msg = e.to_string();
    assert!(msg.starts_with("suites/bad.yaml: "), "error names the file: {msg}");
    msg
}

const HEAD: &str = "schema: 1\nname: t\n";

#[test]
fn unknown_keys_are_rejected_with_line_and_column() {
    let m = error(&format!(
        "{HEAD}grid: {{models: [preset:tiny], methods: [full]}}\ndefaults:\n  lrr: 0.1\n"
    ));
    assert!(
        m.contains("defaults: unknown field `lrr`") && m.contains("`lr`") && m.contains("line 5 column 3"),
        "{m}"
    );
    let m = error(&format!("{HEAD}gird: {{}}\n"));
    assert!(m.contains("unknown field `gird`") && m.contains("line 3"), "{m}");
    let m = error(&format!("{HEAD}grid: {{models: [preset:tiny], methods: [full], colour: [red]}}\n"));
    assert!(m.contains("unknown field `colour`"), "{m}");
}

#[test]
fn wrong_types_and_values_name_the_key() {
    let m = error(&format!("{HEAD}grid:\n  models: [preset:tiny]\n  methods: [full]\n  seeds: [a]\n"));
    assert!(
        m.contains("grid.seeds[0]") && m.contains("expected u64") && m.contains("line 6"),
        "{m}"
    );
    let m = error(&format!("{HEAD}grid:\n  models: [preset:tiny]\n  methods: [sgd]\n"));
    assert!(
        m.contains("grid.methods[0]: unknown method `sgd`: expected one of base, full, lora, qlora, dora, qdora, lora-plus"),
        "{m}"
    );
    let m = error(&format!("{HEAD}grid:\n  models: [preset:tiny, preset:gpt5]\n  methods: [full]\n"));
    assert!(
        m.contains("grid.models[1]: unknown preset `gpt5`") && m.contains("smollm2-135m"),
        "{m}"
    );
    let m = error(&format!("{HEAD}grid:\n  models: [tiny]\n  methods: [full]\n"));
    assert!(m.contains("grid.models[0]: expected a model spec `preset:NAME`"), "{m}");
    let m = error(&format!(
        "{HEAD}grid:\n  models: [preset:tiny]\n  methods: [full]\n  hardware: [tpu]\n"
    ));
    assert!(m.contains("grid.hardware[0]: unknown hardware `tpu`"), "{m}");
    let m = error("schema: 2\nname: t\ngrid: {models: [preset:tiny], methods: [full]}\n");
    assert!(m.contains("schema: expected 1"), "{m}");
    let m = error("schema: 1\nname: a/b\ngrid: {models: [preset:tiny], methods: [full]}\n");
    assert!(m.contains("name: expected 1 to 128 letters"), "{m}");
    let m = error("schema: 1\nname: t\ngrid: {models: [preset:tiny], methods: [full]\n");
    assert!(m.contains("line"), "a syntax error gives its position: {m}");
}

#[test]
fn impossible_knob_values_name_the_axis_and_cell() {
    let m = error(&format!(
        "{HEAD}grid:\n  models: [preset:tiny]\n  methods: [full]\n  batch_size: [1, 0]\n"
    ));
    assert!(
        m.contains("grid.batch_size: cell [batch_size=0]: batch_size must be at least 1"),
        "{m}"
    );
    let m = error(&format!(
        "{HEAD}defaults: {{steps: 3, warmup_steps: 5}}\ngrid: {{models: [preset:tiny], methods: [full]}}\n"
    ));
    assert!(
        m.contains("defaults.warmup_steps") && m.contains("must not exceed steps (3)"),
        "{m}"
    );
    let m = error(&format!(
        "{HEAD}defaults: {{task: sorting}}\ngrid: {{models: [preset:tiny], methods: [full]}}\n"
    ));
    assert!(m.contains("unknown task `sorting`") && m.contains("reverse"), "{m}");
}

#[test]
fn missing_and_conflicting_axes() {
    let m = error(&format!("{HEAD}grid: {{methods: [full]}}\n"));
    assert!(m.contains("grid.models: missing"), "{m}");
    let m = error(&format!("{HEAD}grid:\n  models: [preset:tiny]\n  methods: [full]\n  lr: []\n"));
    assert!(m.contains("grid.lr: expected at least one value"), "{m}");
    let m = error(&format!(
        "{HEAD}grid:\n  models: [preset:tiny]\n  methods: [full]\n  seeds: [1, 1]\n"
    ));
    assert!(m.contains("grid.seeds[1]: this value is listed twice"), "{m}");
    let m = error(&format!(
        "{HEAD}grid:\n  models: [preset:tiny]\n  methods: [full]\n  together:\n    m: [{{method: full, lr: 0.1}}]\n"
    ));
    assert!(m.contains("grid.together.m: `method` is already set by grid.methods"), "{m}");
    let m = error(&format!(
        "{HEAD}grid:\n  models: [preset:tiny]\n  methods: [full]\n  lr: [0.1]\n  together:\n    m: [{{lr: 0.2}}]\n"
    ));
    assert!(m.contains("`lr` is already set"), "{m}");
    let m = error(&format!(
        "{HEAD}grid:\n  models: [preset:tiny]\n  methods: [full]\n  together:\n    m: [{{lr: 0.1, steps: 3}}, {{lr: 0.2}}]\n"
    ));
    assert!(
        m.contains("grid.together.m[1]: every point of a together axis must set the same fields"),
        "{m}"
    );
    let m = error(&format!(
        "{HEAD}grid: {{models: [preset:tiny], methods: [full]}}\nexclude:\n  - {{seed: 3}}\n"
    ));
    assert!(m.contains("exclude[0]: this pattern matches no cell"), "{m}");
    let m = error(&format!(
        "{HEAD}grid: {{models: [preset:tiny], methods: [full]}}\nexclude:\n  - {{method: full}}\n"
    ));
    assert!(m.contains("every cell of the grid is excluded"), "{m}");
}

#[test]
fn grid_is_the_product_of_its_axes_less_exclusions() {
    let c = cells(&format!(
        "{HEAD}defaults: {{steps: 4, lr: 0.01}}\ngrid:\n  models: [preset:tiny, preset:smollm2-135m]\n  methods: [full]\n  seq_len: [16, 32]\n  seeds: [0, 1, 2]\nexclude:\n  - {{model: preset:smollm2-135m, seq_len: 32}}\n"
    ));
    assert_eq!(c.len(), 2 * 2 * 3 - 3);
    // seeds innermost, models outermost
    assert_eq!(c.iter().map(|c| c.seed).take(3).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert!(c[..6].iter().all(|c| c.model == "preset:tiny"));
    assert!(c[6..].iter().all(|c| c.model == "preset:smollm2-135m" && c.knobs.seq_len == 16));
    assert!(c
        .iter()
        .all(|c| c.knobs.steps == 4 && c.knobs.lr == 0.01 && c.method == Method::named("full") && c.hardware == "cpu"));
    assert_eq!(c[4].label, "preset:tiny · seq_len=32 · seed=1");
    let mut ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), c.len(), "ids are distinct");
}

#[test]
fn together_axes_move_values_in_step() {
    let c = cells(&format!(
        "{HEAD}grid:\n  models: [preset:tiny]\n  methods: [full]\n  together:\n    shape:\n      - {{batch_size: 1, seq_len: 64}}\n      - {{batch_size: 4, seq_len: 16}}\n"
    ));
    let pairs: Vec<(u32, u32)> = c.iter().map(|c| (c.knobs.batch_size, c.knobs.seq_len)).collect();
    assert_eq!(pairs, vec![(1, 64), (4, 16)]);
    assert_eq!(c[1].label, "batch_size=4,seq_len=16");
}

#[test]
fn ids_are_stable_and_follow_the_configuration() {
    let a = cells(&format!("{HEAD}grid: {{models: [preset:tiny], methods: [full]}}\n"));
    let b = cells("schema: 1\nname: other-suite\ndescription: same cell\ngrid: {models: [preset:tiny], methods: [full], seeds: [0]}\n");
    assert_eq!(a[0].id, b[0].id, "the same configuration has the same id in any suite");
    let c = cells(&format!(
        "{HEAD}defaults: {{lr: 0.5}}\ngrid: {{models: [preset:tiny], methods: [full]}}\n"
    ));
    assert_ne!(a[0].id, c[0].id, "any knob changes the id");
    assert_eq!(a[0].id.len(), 16);
}

#[test]
fn a_knob_added_later_leaves_ids_unchanged_at_its_default() {
    // The published accuracy run's records were written before the `optimizer` knob existed;
    // its cells must keep their ids (else `run` redoes them and `report` cannot match them).
    let (_, accuracy_cells) = ftbench::suite::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/suites/accuracy.yaml"))).unwrap();
    for published in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/results/accuracy")).unwrap() {
        let name = published.unwrap().file_name().into_string().unwrap();
        if let Some(id) = name.strip_suffix(".json") {
            assert!(
                accuracy_cells.iter().any(|c| c.id == id),
                "published record {name} has no cell in suites/accuracy.yaml"
            );
        }
    }
    let grid = "grid: {models: [preset:tiny], methods: [full]}\n";
    let unset = cells(&format!("{HEAD}{grid}"));
    let default = cells(&format!("{HEAD}defaults: {{optimizer: adamw}}\n{grid}"));
    let other = cells(&format!("{HEAD}defaults: {{optimizer: adamw-8bit}}\n{grid}"));
    assert_eq!(unset[0].id, default[0].id, "a knob at its default is left out of the id");
    assert_ne!(unset[0].id, other[0].id, "a knob set to another value enters the id");
    assert!(error(&format!("{HEAD}defaults: {{optimizer: sgd}}\n{grid}")).contains("unknown optimizer `sgd`"));
}

#[test]
fn shipped_suites_validate() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/suites")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            ftbench::suite::load(&path).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
