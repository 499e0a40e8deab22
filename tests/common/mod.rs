//! Helpers the end-to-end tests share: running the binary and reading what it wrote.
#![allow(dead_code)] // each test file uses its own subset

pub mod text_model;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `ftbench ARGS` in `dir`.
pub fn ftbench(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftbench"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("ftbench runs")
}

/// stdout then stderr, as text.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The `*.json` files of a folder, sorted.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}
