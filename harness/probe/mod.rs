//! Measurement: process memory (RSS) and the environment a number was measured in.

mod alloc;
mod env;
mod rss;
mod stats;

pub use alloc::keep_freed_memory;
pub use env::{Environment, PARK_AT_ONCE, THREAD_COUNT_VARS};
pub use rss::{current_rss_bytes, peak_rss_bytes};
pub use stats::{summarize, Summary};
