//! `base`: the untouched model, evaluated like every other method (the baseline row of accuracy
//! tables). Nothing trains and no step runs; training knobs are reset before the id is computed.

use super::FineTuning;

pub struct Base;

impl FineTuning for Base {
    fn name(&self) -> &'static str {
        "base"
    }
    fn label(&self) -> &'static str {
        "base model"
    }
    fn doc(&self) -> &'static str {
        "nothing trains: the untouched model, evaluated like the others (the baseline row); frozen weights, no step runs"
    }
    fn trains(&self) -> bool {
        false
    }
    fn color(&self) -> (u8, u8, u8) {
        (0x80, 0x80, 0x80)
    }
}
