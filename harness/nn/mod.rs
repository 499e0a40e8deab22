//! The layers a decoder is built from and a method chooses: bias-free linears (trainable, frozen,
//! or a frozen base with a method's adapter) and seeded dropout. Below the model and the methods:
//! the decoder runs any `Linear` without knowing which method built it. And the leading singular
//! triplets of a weight or a gradient (svd.rs), which some methods and optimizers start from.

mod dropout;
mod ggml;
mod linear;
mod svd;

pub use dropout::Dropout;
pub use ggml::GgmlWeight;
pub use linear::{matmul_t, Adapter, Linear};
pub use svd::{top_singular, Singular};
