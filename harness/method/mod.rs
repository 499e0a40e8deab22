//! Fine-tuning methods: which weights train and how each linear layer computes.

mod build;
mod linear;

pub use build::{build, Trainable};
pub use linear::{matmul_t, Linear};
