//! Suite schema v1: the top-level document.

use super::knobs::{Grid, KnobOverrides, Point};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The suite schema this ftbench reads.
pub const SUITE_SCHEMA_VERSION: u32 = 1;

/// A suite file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Schema version of the file; must be 1.
    pub schema: u32,
    /// Name of the suite: results go to results/NAME, the report to reports/NAME.
    pub name: String,
    /// What the suite measures, shown in reports.
    #[serde(default)]
    pub description: String,
    /// Knob values for every cell, unless an axis or a `together` point sets them.
    #[serde(default)]
    pub defaults: KnobOverrides,
    /// The axes whose cartesian product gives the cells.
    pub grid: Grid,
    /// Patterns of cells to leave out: a cell is left out when it matches every field a pattern sets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<Point>,
}

/// A fine-tuning method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The untouched base model: nothing trains; evaluated like every other method (the
    /// baseline row of accuracy tables). Training knobs do not apply.
    Base,
    /// Full fine-tuning: every weight trains, f32 AdamW state for each.
    Full,
    /// LoRA: the base is frozen (no weight gradients); low-rank adapters on the target linears train.
    Lora,
    /// QLoRA: the base linears are quantized to NF4 at load time and frozen; LoRA adapters on top.
    Qlora,
}

impl Method {
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Base => "base",
            Method::Full => "full",
            Method::Lora => "lora",
            Method::Qlora => "qlora",
        }
    }
}

impl Method {
    /// Whether the method trains anything (every method but `base`).
    pub fn trains(&self) -> bool {
        *self != Method::Base
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) fn default_hardware() -> Vec<String> {
    Vec::new()
}

pub(crate) fn default_seeds() -> Vec<u64> {
    Vec::new()
}
