//! Knobs that a registry entry declares for itself: an optimizer's, a LoRA initialisation's.
//! The suite stores their values beside the built-in knobs (`suite::Knobs::ext`), checks them
//! with the entry's own check, hashes them into cell ids only when set to something other than
//! their default, and `ftbench list` prints them. Adding an optimizer with settings of its own is
//! then its file and its registry line: no edit of the suite's knob list.

mod spec;

pub use spec::{at_least_one, positive, KnobDefault, KnobSpec, KnobValues};
