//! `galore`: GaLore (Zhao et al. 2024, "GaLore: Memory-Efficient LLM Training by Gradient
//! Low-Rank Projection"). Every weight trains (full-parameter), but the Adam moments of each of
//! the decoder's linear weights (m × n) live in a rank-r space: the gradient is projected on its
//! r leading singular vectors — from the left (Uᵣᵀ·G, r × n) when m < n, from the right (G·Vᵣ,
//! m × r) otherwise — the projector refreshed from the current gradient's SVD every
//! `galore_update_gap` updates; Adam runs on the projection, and its normalised step is projected
//! back and scaled by `galore_scale`. The state of a projected weight is the projector plus two
//! r-wide moments instead of two full ones. Other tensors (embeddings, LM head, norms) get the
//! same Adam step unprojected, as the paper's code does for parameters outside its GaLore group.
//!
//! The update is the authors' own (the `galore-torch` package's GaLoreAdamW, checked against it
//! in the tests below): m ← β₁m + (1−β₁)R, v ← β₂v + (1−β₂)R², W ← W − lr·√(1−β₂ᵗ)/(1−β₁ᵗ) ·
//! back(m / (√v + ε)), then W ← W − lr·λ·W. Moments persist across projector refreshes, as there.
//! The SVD is faer's (nn/svd.rs) on the host; everything else runs where the weights are.

use super::optim::{AdamParams, Optimizer, OptimizerKind, OptimizerSettings};
use crate::knob::{at_least_one, positive, KnobDefault, KnobSpec, KnobValues};
use crate::method::Trainable;
use candle_core::{DType, Result, Tensor};
use std::sync::Arc;

pub struct GaLore;

static KNOBS: [KnobSpec; 3] = [
    KnobSpec {
        name: "galore_rank",
        default: KnobDefault::Count(128),
        doc: "GaLore: rank of the gradient projection; state of an m × n weight is r·(min + 2·max) values instead of 2·m·n. Lower: less memory, a coarser update (the paper: 128 for 60M-130M models, 512 for 1B)",
        check: at_least_one,
    },
    KnobSpec {
        name: "galore_update_gap",
        default: KnobDefault::Count(200),
        doc: "GaLore: updates between refreshes of the projector (an SVD of each linear's gradient). Shorter: the subspace follows the gradient, more SVD time",
        check: at_least_one,
    },
    KnobSpec {
        name: "galore_scale",
        default: KnobDefault::Number(0.25),
        doc: "GaLore: scale of the projected-back update (the paper's α = 0.25); acts like a learning-rate factor on the linear weights",
        check: positive,
    },
];

impl OptimizerKind for GaLore {
    fn name(&self) -> &'static str {
        "galore"
    }
    fn doc(&self) -> &'static str {
        "GaLore: Adam on each linear weight's gradient projected to rank galore_rank (SVD refreshed every galore_update_gap updates): full-parameter training with a fraction of AdamW's state"
    }
    fn knobs(&self) -> &'static [KnobSpec] {
        &KNOBS
    }
    fn settings(&'static self, adam: AdamParams, own: KnobValues) -> std::result::Result<Arc<dyn OptimizerSettings>, (String, String)> {
        Ok(Arc::new(GaLoreSettings {
            adam,
            rank: own.count(&KNOBS[0]) as usize,
            update_gap: own.count(&KNOBS[1]) as u64,
            scale: own.number(&KNOBS[2]),
        }))
    }
}

/// GaLore's settings.
#[derive(Debug, Clone, Copy)]
pub struct GaLoreSettings {
    pub adam: AdamParams,
    pub rank: usize,
    pub update_gap: u64,
    pub scale: f64,
}

/// Whether GaLore projects a tensor: the decoder's linear weights (2-D, `*_proj.weight`).
fn projected(name: &str, dims: &[usize]) -> bool {
    dims.len() == 2 && name.ends_with("_proj.weight")
}

impl OptimizerSettings for GaLoreSettings {
    fn kind(&self) -> &'static dyn OptimizerKind {
        &GaLore
    }
    /// The state is allocated here, at its full size (the projectors are filled at the first
    /// update), so the bytes a record reports after loading are what training holds.
    fn build(&self, params: &[Trainable]) -> Result<Box<dyn Optimizer>> {
        let states = params.iter().map(|p| State::new(p, self.rank)).collect::<Result<_>>()?;
        Ok(Box::new(GaLoreOptimizer {
            s: *self,
            states,
            piece: PIECE,
        }))
    }
    /// f32 moments; a projected m × n weight keeps its projector (r·min(m, n)) and two moments of
    /// r·max(m, n) values.
    fn state_bytes(&self, name: &str, dims: &[u64], _master: DType) -> f64 {
        let n: u64 = dims.iter().product();
        let d: Vec<usize> = dims.iter().map(|&x| x as usize).collect();
        if !projected(name, &d) {
            return 8.0 * n as f64;
        }
        let (small, large) = (dims[0].min(dims[1]), dims[0].max(dims[1]));
        let r = (self.rank as u64).min(small);
        4.0 * (r * small + 2 * r * large) as f64
    }
    fn describe(&self) -> String {
        format!(
            "rank {}, projector refreshed every {} updates, scale {}",
            self.rank, self.update_gap, self.scale
        )
    }
}

/// A projector: Uᵣ (m × r) applied from the left, or Vᵣᵀ (r × n) from the right.
#[derive(Debug, Clone)]
enum Projector {
    Left(Tensor),
    Right(Tensor),
}

impl Projector {
    /// From the gradient's SVD: left when the weight is wider than tall (as galore-torch's `std`).
    fn of(g: &Tensor, rank: usize) -> Result<Projector> {
        let (m, n) = g.dims2()?;
        let t = crate::nn::top_singular(g, rank)?;
        Ok(if m >= n {
            Projector::Right(t.v.t()?.contiguous()?)
        } else {
            Projector::Left(t.u)
        })
    }
    fn project(&self, g: &Tensor) -> Result<Tensor> {
        match self {
            Projector::Left(p) => p.t()?.matmul(g),
            Projector::Right(p) => g.matmul(&p.t()?),
        }
    }
    fn back(&self, r: &Tensor) -> Result<Tensor> {
        match self {
            Projector::Left(p) => p.matmul(r),
            Projector::Right(p) => r.matmul(p),
        }
    }
    fn bytes(&self) -> usize {
        match self {
            Projector::Left(p) | Projector::Right(p) => 4 * p.elem_count(),
        }
    }
}

/// One parameter's state.
#[derive(Debug, Default)]
struct State {
    projected: bool,
    projector: Option<Projector>,
    m: Option<Tensor>,
    v: Option<Tensor>,
    /// Updates this parameter has had.
    step: u64,
}

impl State {
    /// Zero moments (and, for a projected weight, a zero projector) of the shapes training uses:
    /// an m × n weight projected from the right (m ≥ n) keeps Vᵣᵀ (r × n) and m × r moments, from
    /// the left Uᵣ (m × r) and r × n moments; r at most min(m, n).
    fn new(p: &Trainable, rank: usize) -> Result<State> {
        let t = p.var.as_tensor();
        let zeros = |shape: (usize, usize)| Tensor::zeros(shape, DType::F32, t.device());
        let (projector, moments) = match t.dims() {
            &[m, n] if projected(&p.name, t.dims()) => {
                let r = rank.min(m).min(n);
                if m >= n {
                    (Some(Projector::Right(zeros((r, n))?)), zeros((m, r))?)
                } else {
                    (Some(Projector::Left(zeros((m, r))?)), zeros((r, n))?)
                }
            }
            _ => (None, Tensor::zeros(t.shape(), DType::F32, t.device())?),
        };
        Ok(State {
            projected: projector.is_some(),
            projector,
            v: Some(moments.zeros_like()?),
            m: Some(moments),
            step: 0,
        })
    }
}

pub struct GaLoreOptimizer {
    s: GaLoreSettings,
    states: Vec<State>,
    /// Values per piece of an unprojected update ([`PIECE`]).
    piece: usize,
}

/// Values per piece of an unprojected tensor's update: its temporaries (a handful of tensors of
/// this size) stay bounded whatever the tensor (an embedding has tens of millions of values).
const PIECE: usize = 1 << 22;

impl GaLoreOptimizer {
    fn update(&self, st: &mut State, p: &Trainable, g: &Tensor, lr: f64, grad_scale: f64) -> Result<()> {
        let g = (g.to_dtype(DType::F32)? * grad_scale)?;
        let r = if st.projected {
            if st.step % self.s.update_gap == 0 {
                st.projector = Some(Projector::of(&g, self.s.rank)?);
            }
            st.projector.as_ref().expect("set above").project(&g)?
        } else {
            g
        };
        st.step += 1;
        let (m, v) = (st.m.as_ref().expect("set above"), st.v.as_ref().expect("set above"));
        let w = p.var.as_tensor();
        match &st.projector {
            Some(pr) => {
                let (m1, v1, n) = self.adam(m, v, &r)?;
                let w1 = self.apply(w, &(pr.back(&n)? * self.s.scale)?, lr, st.step)?;
                p.var.set(&w1)?;
                (st.m, st.v) = (Some(m1), Some(v1));
            }
            // Unprojected: piece by piece along the first dimension, written back in place.
            None => {
                let rows = r.dim(0)?;
                let per = (self.piece / (r.elem_count() / rows.max(1)).max(1)).max(1);
                for a in (0..rows).step_by(per) {
                    let k = per.min(rows - a);
                    let (mc, vc, n) = self.adam(&m.narrow(0, a, k)?, &v.narrow(0, a, k)?, &r.narrow(0, a, k)?)?;
                    m.slice_set(&mc, 0, a)?;
                    v.slice_set(&vc, 0, a)?;
                    w.slice_set(&self.apply(&w.narrow(0, a, k)?, &n, lr, st.step)?, 0, a)?;
                }
            }
        }
        Ok(())
    }

    /// Adam on the (projected) gradient `r`: the new moments and m / (√v + ε).
    fn adam(&self, m: &Tensor, v: &Tensor, r: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let a = self.s.adam;
        let m1 = ((m * a.beta1)? + (r * (1.0 - a.beta1))?)?;
        let v1 = ((v * a.beta2)? + (r.sqr()? * (1.0 - a.beta2))?)?;
        let n = (&m1 / (v1.sqrt()? + a.eps)?)?;
        Ok((m1, v1, n))
    }

    /// The weights after the step `n` (full size): W − lr·√(1−β₂ᵗ)/(1−β₁ᵗ)·n, then decoupled
    /// weight decay W ← W − lr·λ·W, in f32, back in W's dtype.
    fn apply(&self, w: &Tensor, n: &Tensor, lr: f64, step: u64) -> Result<Tensor> {
        let a = self.s.adam;
        let t = step as i32;
        let step_size = lr * (1.0 - a.beta2.powi(t)).sqrt() / (1.0 - a.beta1.powi(t));
        let mut w32 = (w.to_dtype(DType::F32)? - (n * step_size)?)?;
        if a.weight_decay > 0.0 {
            w32 = (&w32 - (&w32 * (lr * a.weight_decay))?)?;
        }
        w32.to_dtype(w.dtype())
    }
}

impl Optimizer for GaLoreOptimizer {
    fn step(&mut self, params: &[Trainable], grads: &[Tensor], lr: f64, grad_scale: f64) -> Result<()> {
        let mut states = std::mem::take(&mut self.states);
        let done = params
            .iter()
            .zip(grads)
            .zip(states.iter_mut())
            .try_for_each(|((p, g), st)| self.update(st, p, g, lr * p.lr_scale, grad_scale));
        self.states = states;
        done
    }
    fn state_bytes(&self) -> usize {
        let t = |x: &Option<Tensor>| x.as_ref().map_or(0, |t| 4 * t.elem_count());
        self.states
            .iter()
            .map(|s| t(&s.m) + t(&s.v) + s.projector.as_ref().map_or(0, Projector::bytes))
            .sum()
    }
    fn state_dtype(&self) -> String {
        format!(
            "f32, projected to rank {} ({} tensors)",
            self.s.rank,
            self.states.iter().filter(|s| s.projected).count()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// galore-torch's GaLoreAdamW on a 12 × 20 weight (left projection), a 20 × 12 one (right)
    /// and a vector (unprojected), three steps (tests/data/galore_adamw_1.safetensors, made by
    /// tests/scripts/galore_known_answer.py): the same weights after every step.
    #[test]
    fn three_steps_equal_galore_torch() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/galore_adamw_1.safetensors");
        let d = candle_core::safetensors::load(path, &Device::Cpu).unwrap();
        let names = ["w_left", "w_right", "bias"];
        let params: Vec<Trainable> = names
            .iter()
            .map(|n| Trainable {
                // Names as the decoder's: the two matrices are linear weights, the vector is not.
                name: if *n == "bias" {
                    "model.norm.weight".into()
                } else {
                    format!("model.layers.0.{n}_proj.weight")
                },
                var: Var::from_tensor(&d[&format!("{n}_0")]).unwrap(),
                lr_scale: 1.0,
            })
            .collect();
        let adam = AdamParams {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.1,
        };
        let s = GaLoreSettings {
            adam,
            rank: 4,
            update_gap: 200,
            scale: 0.25,
        };
        let mut opt = s.build(&params).unwrap();
        let allocated = opt.state_bytes();
        for step in 1..=3 {
            let grads: Vec<Tensor> = names.iter().map(|n| d[&format!("grad_{step}_{n}")].clone()).collect();
            opt.step(&params, &grads, 0.01, 1.0).unwrap();
            for (p, n) in params.iter().zip(names) {
                let want = &d[&format!("{n}_{step}")];
                let diff = (p.var.as_tensor() - want)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(diff < 2e-6, "step {step}, {n}: differs from galore-torch by {diff}");
            }
        }
        // State: projector + two rank-4 moments per matrix, two full moments for the vector.
        assert_eq!(opt.state_bytes(), 4 * (12 * 4 + 2 * 4 * 20) * 2 + 4 * 2 * 12);
        assert_eq!(allocated, opt.state_bytes(), "allocated at build, as training holds it");
        assert_eq!(
            opt.state_bytes() as f64,
            {
                let dims = [
                    (params[0].name.clone(), vec![12u64, 20]),
                    (params[1].name.clone(), vec![20, 12]),
                    (params[2].name.clone(), vec![12]),
                ];
                dims.iter().map(|(n, d)| s.state_bytes(n, d, DType::F32)).sum::<f64>()
            },
            "the estimator's model counts what the optimizer holds"
        );
    }

    #[test]
    fn the_projector_is_refreshed_every_update_gap_updates() {
        let w = Var::from_tensor(&Tensor::zeros((6, 10), DType::F32, &Device::Cpu).unwrap()).unwrap();
        let p = vec![Trainable {
            name: "x.q_proj.weight".into(),
            var: w,
            lr_scale: 1.0,
        }];
        let s = GaLoreSettings {
            adam: AdamParams::default(),
            rank: 2,
            update_gap: 2,
            scale: 1.0,
        };
        let mut opt = GaLoreOptimizer {
            s,
            states: vec![State::new(&p[0], 2).unwrap()],
            piece: PIECE,
        };
        let grad = |k: usize| {
            let v: Vec<f32> = (0..60).map(|i| (((i * (7 + 2 * k)) % 13) as f32 - 6.0) / 3.0).collect();
            Tensor::from_vec(v, (6, 10), &Device::Cpu).unwrap()
        };
        let proj = |o: &GaLoreOptimizer| match o.states[0].projector.as_ref().unwrap() {
            Projector::Left(t) | Projector::Right(t) => t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        };
        opt.step(&p, &[grad(0)], 1e-3, 1.0).unwrap();
        let first = proj(&opt);
        opt.step(&p, &[grad(1)], 1e-3, 1.0).unwrap();
        assert_eq!(proj(&opt), first, "kept between refreshes");
        opt.step(&p, &[grad(2)], 1e-3, 1.0).unwrap();
        assert_ne!(proj(&opt), first, "refreshed from the third update's gradient");
        assert!(matches!(opt.states[0].projector, Some(Projector::Left(_))), "6 × 10: from the left");
        assert_eq!(opt.states[0].m.as_ref().unwrap().dims(), [2, 10]);
    }

    /// An unprojected tensor updated piece by piece (bounded temporaries) is updated exactly as
    /// in one piece.
    #[test]
    fn a_piecewise_update_equals_the_whole() {
        let values = |k: usize| -> Vec<f32> { (0..35 * 6).map(|i| (((i * (5 + k)) % 17) as f32 - 8.0) / 9.0).collect() };
        let run = |piece: usize| {
            let w = Var::from_tensor(&Tensor::from_vec(values(0), (35, 6), &Device::Cpu).unwrap()).unwrap();
            let p = vec![Trainable {
                name: "model.embed_tokens.weight".into(),
                var: w,
                lr_scale: 1.0,
            }];
            let s = GaLoreSettings {
                adam: AdamParams {
                    weight_decay: 0.1,
                    ..AdamParams::default()
                },
                rank: 2,
                update_gap: 2,
                scale: 1.0,
            };
            let mut opt = GaLoreOptimizer {
                s,
                states: vec![State::new(&p[0], 2).unwrap()],
                piece,
            };
            for k in 1..4 {
                let g = Tensor::from_vec(values(k), (35, 6), &Device::Cpu).unwrap();
                opt.step(&p, &[g], 1e-2, 0.5).unwrap();
            }
            p[0].var.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        assert_eq!(run(6 * 4), run(1 << 22), "7 pieces of 4 rows (and a short one) against one");
    }
}
