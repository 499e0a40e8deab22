//! A fuzz test of suite parsing: valid suites (every file in suites/ and a few written here)
//! mutated at random — bytes flipped, spans cut, repeated or swapped, numbers replaced by
//! extremes, keys by others — and each result parsed and validated. Whatever the input, the
//! result must be a suite or an error: no panic, no abort, no hang (each input gets
//! [`HANG_S`] seconds on its own thread).
//!
//! `cargo test --release --test fuzz -- --ignored` runs 20,000 inputs (README gives the last
//! counts); the CI run does 2,000 of them.

use ftbench::suite::parse;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HANG_S: u64 = 30;

fn seeds() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("suites"))
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "yaml").then(|| std::fs::read_to_string(p).unwrap())
        })
        .collect();
    v.push("schema: 1\nname: t\ngrid: {models: [preset:tiny], methods: [full, lora], seeds: [0, 1], lr: [1.0e-3, 2.0e-3]}\nexclude: [{method: lora, lr: 2.0e-3}]\n".into());
    v.push("schema: 1\nname: t\ndefaults: {steps: 3, task: olmo:sciq, also_eval: [olmo:arc_easy], target: acc>=0.5, eval_every: 1}\ngrid:\n  models: [gguf:models/x.gguf]\n  methods: [base, dora]\n  together:\n    shape:\n      - {batch_size: 1, seq_len: 128}\n      - {batch_size: 4, seq_len: 32}\n".into());
    v
}

const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "-1e308",
    "18446744073709551616",
    "4294967296",
    ".nan",
    ".inf",
    "-.inf",
    "1e-320",
    "\"\"",
    "null",
    "[]",
    "{}",
    "~",
    "'",
    "\"",
    "[",
    "{",
    "&a",
    "*a",
    "!!binary AAAA",
    "0x7fffffff",
    "9223372036854775807",
];
const KEYS: &[&str] = &[
    "schema",
    "name",
    "grid",
    "defaults",
    "exclude",
    "together",
    "models",
    "methods",
    "seeds",
    "hardware",
    "lr",
    "steps",
    "seq_len",
    "batch_size",
    "max_cells",
    "lora_rank",
    "task",
    "optimizer",
    "threads",
    "nf4_block_size",
    "<<",
];

fn mutate(seed: &str, rng: &mut StdRng) -> Vec<u8> {
    let mut b = seed.as_bytes().to_vec();
    for _ in 0..rng.random_range(1..=4) {
        if b.is_empty() {
            b.extend_from_slice(b"schema: 1\n");
        }
        let i = rng.random_range(0..b.len());
        let j = (i + rng.random_range(0..=32)).min(b.len());
        match rng.random_range(0..9) {
            0 => b[i] ^= 1 << rng.random_range(0..8),
            1 => {
                b.drain(i..j);
            }
            2 => {
                let span = b[i..j].to_vec();
                for _ in 0..rng.random_range(1..=50) {
                    b.splice(i..i, span.iter().copied());
                }
            }
            3 => b.insert(i, rng.random()),
            4 => {
                // a number → an extreme value
                let at = b[i..].iter().position(u8::is_ascii_digit).map(|p| p + i).unwrap_or(i);
                let end = b[at..]
                    .iter()
                    .position(|c| !(c.is_ascii_digit() || *c == b'.' || *c == b'e' || *c == b'-'))
                    .map_or(b.len(), |p| p + at);
                let x = EXTREMES[rng.random_range(0..EXTREMES.len())];
                b.splice(at..end, x.bytes());
            }
            5 => {
                let k = KEYS[rng.random_range(0..KEYS.len())];
                b.splice(i..i, format!("\n{k}: ").bytes());
            }
            6 => {
                // swap two lines
                let text = String::from_utf8_lossy(&b).to_string();
                let mut lines: Vec<&str> = text.lines().collect();
                if lines.len() > 1 {
                    let (x, y) = (rng.random_range(0..lines.len()), rng.random_range(0..lines.len()));
                    lines.swap(x, y);
                }
                b = lines.join("\n").into_bytes();
            }
            7 => b.truncate(i),
            _ => {
                // a long list where a value was
                let n = rng.random_range(1..2000);
                let list = format!("[{}]", (0..n).map(|k| k.to_string()).collect::<Vec<_>>().join(","));
                b.splice(i..j, list.bytes());
            }
        }
    }
    b
}

/// (inputs, accepted, rejected, panics, hangs).
fn fuzz(n: usize, seed: u64) -> (usize, usize, usize, Vec<String>, Vec<String>) {
    let seeds = seeds();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut ok, mut err, mut panics, mut hangs) = (0, 0, Vec::new(), Vec::new());
    let started = Instant::now();
    for k in 0..n {
        let input = mutate(&seeds[k % seeds.len()], &mut rng);
        let text = String::from_utf8_lossy(&input).to_string();
        let (tx, rx) = mpsc::channel();
        let t = text.clone();
        std::thread::spawn(move || {
            let r = std::panic::catch_unwind(|| parse(&t, Path::new("fuzz.yaml")).is_ok());
            let _ = tx.send(r);
        });
        match rx.recv_timeout(Duration::from_secs(HANG_S)) {
            Ok(Ok(true)) => ok += 1,
            Ok(Ok(false)) => err += 1,
            Ok(Err(_)) => panics.push(text),
            Err(_) => hangs.push(text),
        }
    }
    eprintln!(
        "fuzz: {n} inputs in {:.1} s: {ok} valid, {err} rejected, {} panics, {} hangs",
        started.elapsed().as_secs_f64(),
        panics.len(),
        hangs.len()
    );
    (n, ok, err, panics, hangs)
}

fn check(n: usize, seed: u64) {
    // Panics are caught per input; keep their messages out of the test's output.
    std::panic::set_hook(Box::new(|_| {}));
    let (_, ok, err, panics, hangs) = fuzz(n, seed);
    let _ = std::panic::take_hook();
    assert!(panics.is_empty(), "{} inputs panicked, e.g.:\n{}", panics.len(), panics[0]);
    assert!(hangs.is_empty(), "{} inputs ran past {HANG_S} s, e.g.:\n{}", hangs.len(), hangs[0]);
    assert!(ok > 0 && err > 0, "the mutations reach both outcomes ({ok} valid, {err} rejected)");
}

#[test]
fn mutated_suites_parse_or_fail_cleanly() {
    check(2000, 1);
}

#[test]
#[ignore = "20,000 inputs: run with --release --ignored"]
fn twenty_thousand_mutated_suites_parse_or_fail_cleanly() {
    check(20_000, 2);
}
