//! Knobs declared by registry entries (`crate::knob`): which exist (every optimizer's and LoRA
//! initialisation's). Reading a suite refuses any key that is neither a built-in nor a declared
//! knob, and a cell keeps only the declared knobs its optimizer and initialisation read (knobs.rs).

use crate::knob::KnobSpec;

/// Every declared knob, with the registry entry that declares it.
pub fn all() -> Vec<(&'static KnobSpec, String)> {
    let opt = crate::train::OPTIMIZERS
        .iter()
        .flat_map(|o| o.knobs().iter().map(move |k| (k, format!("optimizer {}", o.name()))));
    let init = crate::method::LORA_INITS
        .iter()
        .flat_map(|i| i.knobs().iter().map(move |k| (k, format!("lora_init {}", i.name()))));
    opt.chain(init).collect()
}

/// The declared knob called `name`.
pub fn spec(name: &str) -> Option<&'static KnobSpec> {
    all().into_iter().map(|(s, _)| s).find(|s| s.name == name)
}
