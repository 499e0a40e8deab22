//! Reading and validating a suite file. Every error names the file and the line/column or the
//! key path, and says what was expected.

use super::expand::{expand, Cell};
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
    let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and validates suite text; `file` only names the source in errors.
pub fn parse(text: &str, file: &Path) -> Result<(Suite, Vec<Cell>), SuiteError> {
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
    if suite.name.is_empty() || !suite.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || suite.name.starts_with('.') {
        return Err(invalid(
            "name",
            format!(
                "expected a non-empty name of letters, digits, '-', '_' or '.' (it names the results folder), found {:?}",
                suite.name
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
