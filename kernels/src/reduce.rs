//! Reductions that the trainer needs over whole gradient tensors.

use candle_core::backend::BackendStorage;
use candle_core::{Result, Storage, Tensor};
use rayon::prelude::*;

/// Σ x² over every element, accumulated in f64 (for the global gradient norm), without
/// allocating a squared copy of the tensor.
pub fn sum_squares(t: &Tensor) -> Result<f64> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let Some((a, b)) = layout.contiguous_offsets() else {
        candle_core::bail!("sum_squares: tensor is not contiguous");
    };
    match &*storage {
        Storage::Cpu(s) => match s {
            candle_core::CpuStorage::F32(v) => Ok(sum_sq(&v[a..b], |x| x as f64)),
            candle_core::CpuStorage::F64(v) => Ok(sum_sq(&v[a..b], |x| x)),
            candle_core::CpuStorage::BF16(v) => Ok(sum_sq(&v[a..b], |x| x.to_f64())),
            other => candle_core::bail!("sum_squares: unsupported dtype {:?}", other.dtype()),
        },
        #[cfg(feature = "cuda")]
        Storage::Cuda(_) if matches!(t.dtype(), candle_core::DType::F32 | candle_core::DType::BF16) => {
            drop(storage);
            crate::cuda::adamw::sum_squares(&t)
        }
        _ => {
            drop(storage);
            t.to_dtype(candle_core::DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()
        }
    }
}

fn sum_sq<T: Copy + Send + Sync>(v: &[T], f: impl Fn(T) -> f64 + Sync) -> f64 {
    v.par_chunks(1 << 14).map(|c| c.iter().map(|&x| f(x) * f(x)).sum::<f64>()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_naive_sum_on_strided_input() -> Result<()> {
        let v: Vec<f32> = (0..50_000).map(|i| ((i % 97) as f32 - 48.0) / 7.0).collect();
        let naive: f64 = v.iter().map(|&x| (x as f64) * (x as f64)).sum();
        let t = Tensor::from_vec(v, (250, 200), &Device::Cpu)?.t()?;
        let got = sum_squares(&t)?;
        assert!((got - naive).abs() / naive < 1e-12, "{got} vs {naive}");
        Ok(())
    }
}
