//! Estimates: an analytic model of a run's peak memory, by component, and hardware profiles
//! that say where a run fits, how long it takes and what it costs.
//!
//! The memory model predicts **tensor bytes at the peak** (what a framework's allocator has
//! handed out: PyTorch's `max_memory_allocated`, candle's pool peak, or ftbench's CPU process
//! RSS above its baseline). A device's "used" view adds the runtime (CUDA context, allocator
//! caching), given separately as `runtime_overhead`.

mod article;
mod cli;
mod hardware;
mod input;
mod memory;
mod zero;

pub use article::{article_input, article_rows, ArticleRow};
pub use cli::{model_config, run as run_estimate, EstimateArgs};
pub use hardware::{load_profiles, profile_for_gpu, HardwareProfile, Profiles, DEFAULT_PROFILES};
pub use input::Shapes;
pub use memory::{adapter_params, estimate, Component, Estimate, EstimateInput, Implementation};
pub use zero::{estimate_zero, largest_module, zero_model_states};
