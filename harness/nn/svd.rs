//! The leading singular triplets of a matrix, through `faer` (a kept, pure-Rust linear algebra
//! crate): what GaLore projects gradients on and what PiSSA moves into an adapter. Computed in
//! f32 on the host (as PEFT's and GaLore's own code call `torch.linalg.svd` on f32), whatever the
//! tensor's device and dtype; the results come back on the tensor's device in f32.

use candle_core::{DType, Device, Result, Tensor};

/// The first `r` singular triplets of the (m × n) matrix `w`, largest first: U (m × r), the
/// singular values (r), V (n × r), with w ≈ U · diag(S) · Vᵀ. `r` is at most min(m, n).
pub struct Singular {
    pub u: Tensor,
    pub s: Vec<f32>,
    pub v: Tensor,
}

/// The thin SVD of `w`, cut to its `r` largest singular values.
pub fn top_singular(w: &Tensor, r: usize) -> Result<Singular> {
    let (m, n) = w.dims2()?;
    let r = r.min(m).min(n);
    let host: Vec<f32> = w.to_dtype(DType::F32)?.to_device(&Device::Cpu)?.flatten_all()?.to_vec1()?;
    let a = faer::Mat::<f32>::from_fn(m, n, |i, j| host[i * n + j]);
    let svd = a
        .thin_svd()
        .map_err(|e| candle_core::Error::Msg(format!("SVD of a {m} × {n} matrix did not converge: {e:?}")))?;
    let (u, v, s) = (svd.U(), svd.V(), svd.S().column_vector());
    let take = |x: faer::MatRef<'_, f32>, rows: usize| -> Vec<f32> { (0..rows).flat_map(|i| (0..r).map(move |j| x[(i, j)])).collect() };
    let dev = w.device();
    Ok(Singular {
        u: Tensor::from_vec(take(u, m), (m, r), &Device::Cpu)?.to_device(dev)?,
        s: (0..r).map(|i| s[i]).collect(),
        v: Tensor::from_vec(take(v, n), (n, r), &Device::Cpu)?.to_device(dev)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leading_triplets_reconstruct_a_low_rank_matrix_and_are_orthonormal() -> Result<()> {
        // A rank-2 matrix (5 × 7) from two outer products.
        let a = Tensor::from_vec((0..5).map(|i| i as f32 + 1.0).collect::<Vec<_>>(), (5, 1), &Device::Cpu)?;
        let b = Tensor::from_vec((0..7).map(|j| (j as f32 - 3.0) / 2.0).collect::<Vec<_>>(), (1, 7), &Device::Cpu)?;
        let c = Tensor::from_vec(
            (0..5).map(|i| if i % 2 == 0 { 1.0f32 } else { -1.0 }).collect::<Vec<_>>(),
            (5, 1),
            &Device::Cpu,
        )?;
        let d = Tensor::from_vec((0..7).map(|j| (j * j) as f32 / 10.0).collect::<Vec<_>>(), (1, 7), &Device::Cpu)?;
        let w = (a.matmul(&b)? + c.matmul(&d)?)?;
        let t = top_singular(&w, 2)?;
        assert!(t.s[0] >= t.s[1] && t.s[1] > 0.1);
        let s = Tensor::from_vec(t.s.clone(), 2, &Device::Cpu)?;
        let back = t.u.broadcast_mul(&s.unsqueeze(0)?)?.matmul(&t.v.t()?)?;
        let err = (back - &w)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(err < 1e-4, "U S Vᵀ reconstructs the matrix: {err}");
        let eye = t.u.t()?.matmul(&t.u)?;
        let off = (eye - Tensor::eye(2, DType::F32, &Device::Cpu)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(off < 1e-5, "U has orthonormal columns: {off}");
        assert_eq!(top_singular(&w, 9)?.s.len(), 5, "r is cut to min(m, n)");
        Ok(())
    }
}
