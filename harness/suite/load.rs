//! Reading and validating a suite file. Every error names the file and the line/column or the
//! key path, and says what was expected.

use super::cell::Cell;
use super::expand::expand;
use super::schema::{Suite, SUITE_SCHEMA_VERSION};
use std::path::{Path, PathBuf};

/// A suite that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{file}: cannot read: {source}")]
    Io { file: PathBuf, source: std::io::Error },
    #[error("{file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: {key}: {message}")]
    Invalid { file: PathBuf, key: String, message: String },
}

/// Reads, parses and validates the suite at `path`, and expands it into cells.
pub fn load(path: &Path) -> Result<(Suite, Vec<Cell>), SuiteError> {
    let bytes = std::fs::read(path).map_err(|source| SuiteError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let ok = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = ok.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = ok.len() - ok.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        SuiteError::Syntax {
            file: path.to_path_buf(),
            message: format!(
                "not valid UTF-8 at line {line}, column {column} (byte {}): suites are UTF-8 text",
                ok.len()
            ),
        }
    })?;
    parse(&text, path)
}

/// The deepest nesting of flow collections (`[`, `{`) a suite may have; deeper input is
/// refused before the YAML parser sees it (100,000 nested `[` took it 39 s).
const MAX_NESTING: usize = 64;

/// Where the flow nesting of `text` first exceeds [`MAX_NESTING`] (line, column), outside
/// quoted strings and comments.
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (n, line) in text.lines().enumerate() {
        // Quotes are taken to close on their line (an apostrophe in plain text must not hide
        // the rest of the file); a miss only lets the parser see the input.
        let (mut quote, mut comment) = (None::<char>, false);
        for (c, ch) in line.chars().enumerate() {
            match (quote, ch) {
                _ if comment => {}
                (Some(q), x) if x == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(ch),
                (None, '#') => comment = true,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some((n + 1, c + 1));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    None
}

/// The key path of the first non-finite number (`.nan`, `.inf`) in a YAML value: serde would
/// carry it into JSON as `null`, which reads back as "not set".
fn non_finite(v: &serde_norway::Value, path: &str) -> Option<(String, f64)> {
    use serde_norway::Value;
    match v {
        Value::Number(n) => n.as_f64().filter(|x| !x.is_finite()).map(|x| (path.to_string(), x)),
        Value::Sequence(s) => s.iter().enumerate().find_map(|(i, x)| non_finite(x, &format!("{path}[{i}]"))),
        Value::Mapping(m) => m.iter().find_map(|(k, x)| {
            let key = k.as_str().map_or_else(|| format!("{k:?}"), str::to_string);
            non_finite(x, &if path.is_empty() { key } else { format!("{path}.{key}") })
        }),
        Value::Tagged(t) => non_finite(&t.value, path),
        _ => None,
    }
}

/// The longest suite name: it names folders (results/NAME, reports/NAME, logs within).
const MAX_NAME: usize = 128;

/// Parses and validates suite text; `file` only names the source in errors.
pub fn parse(text: &str, file: &Path) -> Result<(Suite, Vec<Cell>), SuiteError> {
    // A byte-order mark some editors write is not part of the YAML.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some((line, column)) = too_deep(text) {
        return Err(SuiteError::Syntax {
            file: file.to_path_buf(),
            message: format!("nested more than {MAX_NESTING} levels deep at line {line}, column {column}"),
        });
    }
    if let Ok(value) = serde_norway::from_str::<serde_norway::Value>(text) {
        if let Some((key, x)) = non_finite(&value, "") {
            return Err(SuiteError::Invalid {
                file: file.to_path_buf(),
                key,
                message: format!("expected a finite number, found {x}"),
            });
        }
    }
    let suite: Suite = serde_norway::from_str(text).map_err(|e| SuiteError::Syntax {
        file: file.to_path_buf(),
        message: syntax_message(&e),
    })?;
    let invalid = |key: &str, message: String| SuiteError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    if suite.schema != SUITE_SCHEMA_VERSION {
        return Err(invalid(
            "schema",
            format!(
                "expected {SUITE_SCHEMA_VERSION} (this ftbench reads suite schema v{SUITE_SCHEMA_VERSION}), found {}",
                suite.schema
            ),
        ));
    }
    if suite.name.is_empty()
        || suite.name.len() > MAX_NAME
        || !suite.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || suite.name.starts_with('.')
    {
        let shown: String = suite.name.chars().take(60).collect();
        return Err(invalid(
            "name",
            format!(
                "expected 1 to {MAX_NAME} letters, digits, '-', '_' or '.' (it names the results folder), found {:?}{} ({} bytes)",
                shown,
                if suite.name.chars().count() > 60 { "…" } else { "" },
                suite.name.len()
            ),
        ));
    }
    let cells = expand(&suite).map_err(|(key, message)| invalid(&key, message))?;
    Ok((suite, cells))
}

/// serde_norway's message already carries "at line L column C"; make a missing or unknown field
/// read as a key path when it can.
fn syntax_message(e: &serde_norway::Error) -> String {
    let msg = e.to_string();
    match e.location() {
        Some(loc) if !msg.contains("line") => format!("{msg} (line {}, column {})", loc.line(), loc.column()),
        _ => msg,
    }
}
