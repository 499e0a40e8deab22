//! Suites: the declarative YAML grids (schema v1), their validation and expansion into cells,
//! and each cell's typed plan.
//!
//! `knobs.rs` is the raw layer (every knob as written, serde, hashed into ids); `plan.rs` and
//! `eval_plan.rs` read a cell's knobs once into typed parts, which is what the rest of ftbench
//! consumes.

mod cell;
mod declared;
mod eval_plan;
mod expand;
mod knobs;
mod load;
mod plan;
mod schema;

pub use cell::Cell;
pub use declared::{all as declared_knobs, spec as declared_knob};
pub use eval_plan::{CurvePlan, EvalPlan, Target};
pub use expand::expand;
pub use knobs::{Grid, IdKnobs, KnobError, KnobOverrides, Knobs, Point, EVAL_KNOBS};
pub use load::{load, parse, SuiteError};
pub use plan::{Plan, TrainPlan, ENGINE_NAMES};
pub use schema::{Method, Suite, SUITE_SCHEMA_VERSION};
