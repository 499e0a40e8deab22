//! One fully resolved configuration of the grid, and its stable id.

use super::knobs::{IdKnobs, Knobs};
use crate::method::Method;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One fully resolved configuration of the grid: what one child process runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Stable id: a hash of everything below but `label` (same config, same id, in any suite).
    pub id: String,
    /// The values of the axes that vary in this suite, for people.
    pub label: String,
    pub model: String,
    pub method: Method,
    pub hardware: String,
    pub seed: u64,
    pub knobs: Knobs,
}

/// The parts of a cell that its id hashes, in a fixed order.
#[derive(Serialize)]
struct Identity<'a> {
    model: &'a str,
    method: Method,
    hardware: &'a str,
    seed: u64,
    knobs: IdKnobs<'a>,
}

impl Cell {
    /// A cell outside any suite (`ftbench estimate`, the article's table): knobs normalised for
    /// the method and the id computed, as expansion makes them.
    pub fn new(model: &str, method: Method, hardware: &str, seed: u64, mut knobs: Knobs) -> Cell {
        knobs.normalize_for(method);
        let mut c = Cell {
            id: String::new(),
            label: format!("{model} · {method}"),
            model: model.to_string(),
            method,
            hardware: hardware.to_string(),
            seed,
            knobs,
        };
        c.id = c.compute_id();
        c
    }

    pub(super) fn compute_id(&self) -> String {
        let identity = Identity {
            model: &self.model,
            method: self.method,
            hardware: &self.hardware,
            seed: self.seed,
            knobs: IdKnobs(&self.knobs),
        };
        let bytes = serde_json::to_vec(&identity).expect("cell identity serializes");
        let digest = Sha256::digest(&bytes);
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Cell {
    /// The id this ftbench computes for the cell's configuration as it reads it: `id` itself for
    /// a record of this ftbench; for a record of another version, the configuration with every
    /// knob the record predates at the value that ftbench ran with (`Knobs::before_added`) and
    /// the knobs its method does not read reset. `compare` matches records by it, so a cell is
    /// matched across ftbench versions exactly when the two ran the same configuration.
    pub fn configuration_id(&self) -> String {
        let mut c = self.clone();
        c.knobs.normalize_for(c.method);
        c.compute_id()
    }
}
