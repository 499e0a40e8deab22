//! Suites: the declarative YAML grids (schema v1), their validation and expansion into cells.

mod expand;
mod knobs;
mod load;
mod method_config;
mod schema;

pub use expand::{expand, Cell};
pub use knobs::{Grid, IdKnobs, KnobOverrides, Knobs, Point, Target, EVAL_KNOBS};
pub use load::{load, parse, SuiteError};
pub use schema::{Method, Suite, SUITE_SCHEMA_VERSION};
