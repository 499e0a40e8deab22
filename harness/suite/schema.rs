//! Suite schema v1: the top-level document.

use super::knobs::{Grid, KnobOverrides, Point};
use serde::{Deserialize, Serialize};

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
    /// The most cells the grid may expand to (default 100,000): a typo in an axis should not
    /// plan a billion runs or exhaust memory expanding them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cells: Option<u64>,
}

/// The default bound on a suite's cells (`max_cells`).
pub const DEFAULT_MAX_CELLS: u64 = 100_000;

/// A cell's fine-tuning method: the registry's handle (`crate::method::METHODS`).
pub use crate::method::Method;
