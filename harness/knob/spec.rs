//! One declared knob, and typed reads of declared knobs' values.

use serde_json::Value;
use std::collections::BTreeMap;

/// A declared knob's default, which also fixes its type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KnobDefault {
    /// A non-negative integer (`u32`).
    Count(u32),
    /// A number.
    Number(f64),
    Bool(bool),
    Text(&'static str),
}

impl KnobDefault {
    pub fn value(&self) -> Value {
        match *self {
            KnobDefault::Count(n) => Value::from(n),
            KnobDefault::Number(x) => Value::from(x),
            KnobDefault::Bool(b) => Value::from(b),
            KnobDefault::Text(s) => Value::from(s),
        }
    }

    /// The type's name, as `ftbench list` prints knob types.
    pub fn type_name(&self) -> &'static str {
        match self {
            KnobDefault::Count(_) => "u32",
            KnobDefault::Number(_) => "f64",
            KnobDefault::Bool(_) => "bool",
            KnobDefault::Text(_) => "String",
        }
    }
}

/// A knob a registry entry declares: its name (unique among every knob), default, what it trades,
/// and what values it accepts beyond its type.
#[derive(Debug)]
pub struct KnobSpec {
    pub name: &'static str,
    pub default: KnobDefault,
    /// What it trades (`ftbench list`, like the built-in knobs' doc comments).
    pub doc: &'static str,
    /// Checks a value of the right type; the error says what was expected.
    pub check: fn(&Value) -> Result<(), String>,
}

impl KnobSpec {
    /// Checks `v`'s type against the default's, then the knob's own check.
    pub fn validate(&self, v: &Value) -> Result<(), String> {
        let typed = match self.default {
            KnobDefault::Count(_) => v.as_u64().is_some_and(|n| n <= u32::MAX as u64),
            KnobDefault::Number(_) => v.as_f64().is_some(),
            KnobDefault::Bool(_) => v.is_boolean(),
            KnobDefault::Text(_) => v.is_string(),
        };
        if !typed {
            return Err(format!(
                "expected a {} (like the default {}), found {v}",
                self.default.type_name(),
                self.default.value()
            ));
        }
        (self.check)(v)
    }
}

/// The declared knobs' values of one cell, read through their specs (a knob the cell does not
/// set reads as its default). Values were validated when the plan was made.
#[derive(Debug, Clone, Copy)]
pub struct KnobValues<'a>(pub &'a BTreeMap<String, Value>);

impl KnobValues<'_> {
    fn get(&self, spec: &KnobSpec) -> Value {
        self.0.get(spec.name).cloned().unwrap_or_else(|| spec.default.value())
    }

    pub fn count(&self, spec: &KnobSpec) -> u32 {
        self.get(spec).as_u64().unwrap_or(0) as u32
    }

    pub fn number(&self, spec: &KnobSpec) -> f64 {
        self.get(spec).as_f64().unwrap_or(f64::NAN)
    }

    pub fn flag(&self, spec: &KnobSpec) -> bool {
        self.get(spec).as_bool().unwrap_or(false)
    }

    pub fn text(&self, spec: &KnobSpec) -> String {
        self.get(spec).as_str().unwrap_or_default().to_string()
    }
}

/// Checks for a count of at least one.
pub fn at_least_one(v: &Value) -> Result<(), String> {
    match v.as_u64() {
        Some(0) => Err("must be at least 1, found 0".into()),
        _ => Ok(()),
    }
}

/// Checks for a finite positive number.
pub fn positive(v: &Value) -> Result<(), String> {
    match v.as_f64() {
        Some(x) if x.is_finite() && x > 0.0 => Ok(()),
        _ => Err(format!("must be a positive number, found {v}")),
    }
}
