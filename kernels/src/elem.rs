//! What the fused ops share: the float types they run on (f32 for training, f64 for the
//! finite-difference tests) and zero-copy access to a contiguous CPU tensor's values.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Result, Shape, Storage, Tensor, WithDType};

/// A float type the fused CPU ops are written for.
pub trait Elem: WithDType + num_traits::Float + std::iter::Sum + Send + Sync + 'static {
    /// The values of a CPU storage of this type, or None for another dtype.
    fn values(s: &CpuStorage) -> Option<&[Self]>;
    fn storage(v: Vec<Self>) -> CpuStorage;
    fn of(x: f64) -> Self {
        <Self as WithDType>::from_f64(x)
    }
    fn f64(self) -> f64 {
        <Self as WithDType>::to_f64(self)
    }
    fn maximum(self, other: Self) -> Self {
        num_traits::Float::max(self, other)
    }
}

impl Elem for f32 {
    fn values(s: &CpuStorage) -> Option<&[f32]> {
        match s {
            CpuStorage::F32(v) => Some(v),
            _ => None,
        }
    }
    fn storage(v: Vec<f32>) -> CpuStorage {
        CpuStorage::F32(v)
    }
}

impl Elem for f64 {
    fn values(s: &CpuStorage) -> Option<&[f64]> {
        match s {
            CpuStorage::F64(v) => Some(v),
            _ => None,
        }
    }
    fn storage(v: Vec<f64>) -> CpuStorage {
        CpuStorage::F64(v)
    }
}

/// The values a storage and layout address, which must be contiguous and of type T.
pub fn slice<'a, T: Elem>(op: &str, what: &str, s: &'a CpuStorage, l: &Layout) -> Result<&'a [T]> {
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: `{what}` must be contiguous");
    };
    match T::values(s) {
        Some(v) => Ok(&v[a..b]),
        None => candle_core::bail!("{op}: `{what}` is {:?}, expected {:?}", s.dtype(), <T as WithDType>::DTYPE),
    }
}

/// The u32 values of a contiguous storage (token ids, targets).
pub fn slice_u32<'a>(op: &str, what: &str, s: &'a CpuStorage, l: &Layout) -> Result<&'a [u32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::U32(v), Some((a, b))) => Ok(&v[a..b]),
        (CpuStorage::U32(_), None) => candle_core::bail!("{op}: `{what}` must be contiguous"),
        (other, _) => candle_core::bail!("{op}: `{what}` is {:?}, expected u32", other.dtype()),
    }
}

/// The u8 values of contiguous CPU storage (packed NF4 codes).
pub fn slice_u8<'a>(op: &str, what: &str, s: &'a CpuStorage, l: &Layout) -> Result<&'a [u8]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::U8(v), Some((a, b))) => Ok(&v[a..b]),
        (CpuStorage::U8(_), None) => candle_core::bail!("{op}: `{what}` must be contiguous"),
        (other, _) => candle_core::bail!("{op}: `{what}` is {:?}, expected u8", other.dtype()),
    }
}

/// Runs `f` over the values of a CPU tensor (made contiguous first; no copy when it already is).
pub fn with_values<T: Elem, R>(op: &str, what: &str, t: &Tensor, f: impl FnOnce(&[T]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => f(slice::<T>(op, what, s, layout)?),
        _ => candle_core::bail!("{op}: `{what}` is not on the CPU; this op has a CPU kernel only"),
    }
}

/// [`with_values`] for u32 tensors.
pub fn with_u32<R>(op: &str, what: &str, t: &Tensor, f: impl FnOnce(&[u32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => f(slice_u32(op, what, s, layout)?),
        _ => candle_core::bail!("{op}: `{what}` is not on the CPU; this op has a CPU kernel only"),
    }
}

/// A CPU tensor that takes ownership of `v` (no copy).
pub fn tensor<T: Elem>(v: Vec<T>, shape: impl Into<Shape>) -> Result<Tensor> {
    Tensor::from_vec(v, shape, &candle_core::Device::Cpu)
}

/// Dispatches a generic body over the dtype of a CPU storage (f32 or f64).
macro_rules! per_float {
    ($op:expr, $dtype:expr, $f:ident :: <T> ( $($arg:expr),* $(,)? )) => {
        match $dtype {
            candle_core::DType::F32 => $f::<f32>($($arg),*),
            candle_core::DType::F64 => $f::<f64>($($arg),*),
            other => candle_core::bail!("{}: dtype {:?} is not supported (f32 or f64)", $op, other),
        }
    };
}
pub(crate) use per_float;

/// A tensor copied from any float storage and contiguous layout (for ops that run candle ops
/// on their input inside `cpu_fwd`).
pub fn cpu_tensor(op: &str, s: &CpuStorage, l: &Layout) -> Result<Tensor> {
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: the input must be contiguous");
    };
    let dev = candle_core::Device::Cpu;
    match s {
        CpuStorage::F32(v) => Tensor::from_slice(&v[a..b], l.shape(), &dev),
        CpuStorage::F64(v) => Tensor::from_slice(&v[a..b], l.shape(), &dev),
        CpuStorage::BF16(v) => Tensor::from_slice(&v[a..b], l.shape(), &dev),
        CpuStorage::F16(v) => Tensor::from_slice(&v[a..b], l.shape(), &dev),
        other => candle_core::bail!("{op}: unsupported input dtype {:?}", other.dtype()),
    }
}

/// A tensor copied from contiguous u32 CPU storage (token ids).
pub fn cpu_tensor_u32(op: &str, s: &CpuStorage, l: &Layout) -> Result<Tensor> {
    let v = slice_u32(op, "ids", s, l)?;
    Tensor::from_slice(v, l.shape(), &candle_core::Device::Cpu)
}

/// The storage of a freshly computed, contiguous CPU tensor, as a custom op's output.
pub fn cpu_output(y: Tensor, op: &str) -> Result<(CpuStorage, Shape)> {
    let y = y.contiguous()?;
    let shape = y.shape().clone();
    let (storage, layout) = y.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (Storage::Cpu(cs), Some((0, n))) if n == shape.elem_count() => Ok((cs.clone(), shape)),
        _ => candle_core::bail!("{op}: unexpected output layout"),
    }
}
