//! Reading a dataset file line by line (plain or gzip), with errors that name the file and
//! the line, and the file's sha256 for the record.

use crate::error::BadInput;
use anyhow::Result;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// A file's JSON lines: (1-based line number, parsed value) for every non-blank line, and the
/// sha256 of the bytes on disk. A `.gz` file is decompressed; a truncated or corrupt stream is
/// an error naming the file and the last line read.
pub fn read_json_lines(path: &Path, missing_hint: &str) -> Result<(Vec<(usize, serde_json::Value)>, String)> {
    let shown = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BadInput::new(&shown, None, format!("no such file{missing_hint}")))
        }
        Err(e) => return Err(BadInput::new(&shown, None, format!("cannot read: {e}"))),
    };
    let sha = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(bytes.as_slice()))
    } else {
        Box::new(bytes.as_slice())
    };
    let mut out = Vec::new();
    let mut line = String::new();
    let mut r = BufReader::new(reader);
    let mut n = 0usize;
    loop {
        line.clear();
        let got = r.read_line(&mut line).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData if !path.extension().is_some_and(|x| x == "gz") => {
                BadInput::new(&shown, Some(format!("line {}", n + 1)), "not valid UTF-8")
            }
            _ => BadInput::new(&shown, None, format!("truncated or corrupt gzip data after line {n}: {e}")),
        })?;
        if got == 0 {
            break;
        }
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line.trim_end_matches(['\n', '\r']))
            .map_err(|e| BadInput::new(&shown, Some(format!("line {n}")), format!("not valid JSON: {e}")))?;
        out.push((n, v));
    }
    if out.is_empty() {
        return Err(BadInput::new(&shown, None, "holds no JSON lines"));
    }
    Ok((out, sha))
}

/// The field errors of one JSON line: `FILE: line N: field `x`: expected ..., found ...`.
pub struct Line<'a> {
    pub file: &'a str,
    pub no: usize,
    pub value: &'a serde_json::Value,
}

impl<'a> Line<'a> {
    pub fn err(&self, field: &str, what: impl std::fmt::Display) -> anyhow::Error {
        BadInput::new(self.file, Some(format!("line {}: field `{field}`", self.no)), what.to_string())
    }

    fn found(v: &serde_json::Value) -> String {
        let s = v.to_string();
        if s.len() > 60 {
            format!("{}…", &s[..s.char_indices().nth(57).map_or(s.len(), |(i, _)| i)])
        } else {
            s
        }
    }

    /// The value at a `/`-separated path (`doc/query`), if present.
    pub fn get(&self, path: &str) -> Option<&'a serde_json::Value> {
        path.split('/').try_fold(self.value, |v, k| v.get(k))
    }

    pub fn str(&self, path: &str) -> Result<&'a str> {
        match self.get(path) {
            None => Err(self.err(path, "missing; expected a string")),
            Some(serde_json::Value::String(s)) => Ok(s),
            Some(v) => Err(self.err(path, format!("expected a string, found {}", Self::found(v)))),
        }
    }

    pub fn index(&self, path: &str) -> Result<usize> {
        match self.get(path) {
            None => Err(self.err(path, "missing; expected a non-negative integer")),
            Some(v) => v
                .as_u64()
                .map(|x| x as usize)
                .ok_or_else(|| self.err(path, format!("expected a non-negative integer, found {}", Self::found(v)))),
        }
    }

    pub fn strings(&self, path: &str) -> Result<Vec<String>> {
        let bad = |v: &serde_json::Value| self.err(path, format!("expected a list of strings, found {}", Self::found(v)));
        match self.get(path) {
            None => Err(self.err(path, "missing; expected a list of strings")),
            Some(serde_json::Value::Array(a)) => a.iter().map(|x| x.as_str().map(str::to_string).ok_or_else(|| bad(x))).collect(),
            Some(v) => Err(bad(v)),
        }
    }

    /// A stable id: a string or integer field as text.
    pub fn id(&self, path: &str) -> Option<String> {
        match self.get(path)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}
