//! Numeric precision of a run (the `precision` knob): the dtype the decoder computes in, the
//! dtype trainable weights are kept in (the optimizer updates these "master" copies), and the
//! dtype frozen dense weights are stored in. One registry; the record says which one ran, and the
//! estimator derives its model of memory from these dtypes (estimate/memory.rs).

use candle_core::DType;

/// One precision setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Precision {
    /// The knob's spelling.
    pub name: &'static str,
    /// Activations and matmuls.
    pub compute: DType,
    /// Trainable weights (full fine-tuning's weights, adapters) and so their gradients.
    pub master: DType,
    /// Frozen dense weights (the base under LoRA, embeddings and norms that do not train).
    pub frozen: DType,
    /// What it trades (`ftbench list`).
    pub doc: &'static str,
}

/// Every precision a suite can name; the first is the default.
pub static PRECISIONS: &[Precision] = &[
    Precision {
        name: "f32",
        compute: DType::F32,
        master: DType::F32,
        frozen: DType::F32,
        doc: "everything in f32: the CPU default (candle's CPU bf16 matmul is slow); on a GPU, twice the weight memory of bf16 and no tensor-core speed",
    },
    Precision {
        name: "bf16-mixed",
        compute: DType::BF16,
        master: DType::F32,
        frozen: DType::BF16,
        doc: "bf16 compute with f32 master weights and f32 gradients (PyTorch autocast): frozen bases in bf16, each trainable weight cast to bf16 at its use; the optimizer updates f32",
    },
    Precision {
        name: "bf16",
        compute: DType::BF16,
        master: DType::BF16,
        frozen: DType::BF16,
        doc: "pure bf16: weights, gradients and activations in bf16 (pair with optimizer adamw-bf16 for bf16 moments): half the memory of bf16-mixed's weights and gradients, updates rounded to 8 bits of mantissa",
    },
];

impl From<DType> for Precision {
    /// Everything in one dtype (tests and the f64 gradient checks).
    fn from(d: DType) -> Self {
        let name = match d {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::BF16 => "bf16",
            DType::F16 => "f16",
            _ => "other",
        };
        Precision {
            name,
            compute: d,
            master: d,
            frozen: d,
            doc: "one dtype throughout",
        }
    }
}

impl From<&Precision> for Precision {
    fn from(p: &Precision) -> Self {
        *p
    }
}

/// The registered precision called `name`.
pub fn precision(name: &str) -> Result<&'static Precision, String> {
    PRECISIONS.iter().find(|p| p.name == name).ok_or_else(|| {
        let known: Vec<&str> = PRECISIONS.iter().map(|p| p.name).collect();
        format!("unknown precision `{name}`: expected one of {}", known.join(", "))
    })
}

/// candle's dtype as records spell it (`f32`, `bf16`).
pub fn dtype_name(d: DType) -> String {
    format!("{d:?}").to_lowercase()
}
