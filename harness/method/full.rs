//! `full`: full fine-tuning. Every weight is a `Var` with a gradient and optimizer state;
//! the linears are plain matmuls.

use super::{FineTuning, Published};

pub struct Full;

impl FineTuning for Full {
    fn name(&self) -> &'static str {
        "full"
    }
    fn label(&self) -> &'static str {
        "Full fine-tuning"
    }
    fn doc(&self) -> &'static str {
        "every weight trains: weights + gradients + the optimizer's state for each (`optimizer`: f32, bf16 or 8-bit moments)"
    }
    fn trains_base(&self) -> bool {
        true
    }
    fn knobs(&self) -> Vec<&'static str> {
        vec!["save_checkpoint"]
    }
    fn published(&self) -> Option<&'static Published> {
        Some(&Published {
            params_updated: "100%",
            vram_gb: (100.0, 120.0),
            accuracy_loss: "none (baseline)",
            accuracy_delta_points: None,
            params_updated_percent: (100.0, 100.0),
            hardware: "multiple A100/H100",
        })
    }
    fn color(&self) -> (u8, u8, u8) {
        (0xc4, 0x3c, 0x39)
    }
}
