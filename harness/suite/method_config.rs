//! A cell's knobs as the settings a method builds with (the method layer knows nothing of
//! suites; this is where the two meet).

use super::{Cell, Knobs};
use crate::method::{LoraConfig, Method, MethodConfig};

impl MethodConfig {
    /// `method` with every other setting at the suite knobs' defaults.
    pub fn defaults(method: Method, seed: u64) -> Self {
        Self::of_knobs(method, &Knobs::default(), seed)
    }

    /// What `cell` builds with.
    pub fn of_cell(cell: &Cell) -> Self {
        Self::of_knobs(cell.method, &cell.knobs, cell.seed)
    }

    pub fn of_knobs(method: Method, k: &Knobs, seed: u64) -> Self {
        MethodConfig {
            method,
            lora: LoraConfig {
                rank: k.lora_rank as usize,
                alpha: k.lora_alpha,
                dropout: k.lora_dropout,
                targets: k.lora_targets.clone(),
                rslora: k.use_rslora,
            },
            nf4_block_size: k.nf4_block_size as usize,
            nf4_double_quant: k.nf4_double_quant,
            lora_plus_ratio: k.lora_plus_ratio,
            seed,
        }
    }
}
