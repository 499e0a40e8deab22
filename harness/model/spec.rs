//! Model specs as suites write them: `preset:NAME` (more sources come with the loaders).

use super::config::{preset, LlamaConfig, PRESETS};
use std::fmt;

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// A built-in shape with seeded random weights.
    Preset(String),
}

impl ModelSpec {
    /// Parses `preset:NAME`; the error says what was expected.
    pub fn parse(s: &str) -> Result<ModelSpec, String> {
        let names = || PRESETS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        match s.split_once(':') {
            Some(("preset", name)) => {
                if preset(name).is_none() {
                    return Err(format!("unknown preset `{name}`; expected one of: {}", names()));
                }
                Ok(ModelSpec::Preset(name.to_string()))
            }
            _ => Err(format!("expected a model spec `preset:NAME` (presets: {}), found `{s}`", names())),
        }
    }

    pub fn config(&self) -> LlamaConfig {
        match self {
            ModelSpec::Preset(name) => preset(name).expect("checked in parse"),
        }
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Preset(n) => write!(f, "preset:{n}"),
        }
    }
}
