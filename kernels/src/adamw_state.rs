//! Where AdamW keeps its two moments between steps, and the fused step over each kind of state:
//!
//! - `f32`: [`Moments`], the reference (what PyTorch's `torch.optim.AdamW` keeps for f32
//!   parameters): 8 bytes per parameter.
//! - `bf16`: both moments rounded to bfloat16 (round to nearest even) after every step, the update
//!   itself in f32: 4 bytes per parameter.
//! - `8-bit blockwise`: bitsandbytes' `AdamW8bit` state: per block of 256 values an f32 absmax,
//!   and per value an 8-bit code, the first moment on the signed dynamic map, the second on the
//!   unsigned one (`create_dynamic_map(signed=False)`); dequantized, updated in f32, the parameter
//!   stepped with the f32 moments, then requantized to the nearest code with the block's new
//!   absmax, as bitsandbytes' `optimizer_update_8bit_blockwise` does. 2 bytes + 8/256 per
//!   parameter. Parameters under 4096 values keep f32 state (bitsandbytes' `min_8bit_size`).
//!
//! Every kind steps through the same per-element update ([`Param::update`]) on f32 moment
//! values, so the kinds differ only in what is stored between steps.

use crate::adamw::{AdamWHyper, Moments, Param, StepConsts};
use crate::nf4::{dynamic_map, unsigned_dynamic_map};
use half::bf16;
use rayon::prelude::*;

/// Values per block of the 8-bit state (bitsandbytes' `blocksize = 256` for optimizers).
pub const BLOCK_8BIT: usize = 256;
/// Parameters with fewer values keep f32 state under the 8-bit optimizer (bitsandbytes'
/// `min_8bit_size` default).
pub const MIN_8BIT_SIZE: usize = 4096;
/// Values per parallel task (a multiple of [`BLOCK_8BIT`]).
const CHUNK: usize = 1 << 14;

/// The kind of moment state, as a suite names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    F32,
    Bf16,
    Blockwise8,
}

impl StateKind {
    /// The name records and reports use.
    pub fn name(self) -> &'static str {
        match self {
            StateKind::F32 => "f32",
            StateKind::Bf16 => "bf16",
            StateKind::Blockwise8 => "8-bit blockwise",
        }
    }
}

/// Both moments as bfloat16.
#[derive(Debug, Clone)]
pub struct Bf16Moments {
    pub m: Vec<bf16>,
    pub v: Vec<bf16>,
}

impl Bf16Moments {
    pub fn zeros(n: usize) -> Self {
        Bf16Moments {
            m: vec![bf16::ZERO; n],
            v: vec![bf16::ZERO; n],
        }
    }
}

/// Both moments as 8-bit codes with one f32 absmax per block of [`BLOCK_8BIT`] values.
#[derive(Debug, Clone)]
pub struct Blockwise8Moments {
    pub m_codes: Vec<u8>,
    pub v_codes: Vec<u8>,
    pub m_absmax: Vec<f32>,
    pub v_absmax: Vec<f32>,
}

impl Blockwise8Moments {
    /// Zero moments: codes 0 with absmax 0 dequantize to 0 whatever code 0 stands for.
    pub fn zeros(n: usize) -> Self {
        let blocks = n.div_ceil(BLOCK_8BIT);
        Blockwise8Moments {
            m_codes: vec![0; n],
            v_codes: vec![0; n],
            m_absmax: vec![0.0; blocks],
            v_absmax: vec![0.0; blocks],
        }
    }
}

/// One parameter's AdamW state.
#[derive(Debug, Clone)]
pub enum AdamState {
    F32(Moments),
    Bf16(Bf16Moments),
    Blockwise8(Blockwise8Moments),
}

impl From<Moments> for AdamState {
    fn from(m: Moments) -> Self {
        AdamState::F32(m)
    }
}

impl AdamState {
    /// Zero moments of `kind` for a parameter of `n` values (f32 for an 8-bit state of a
    /// parameter under [`MIN_8BIT_SIZE`] values).
    pub fn zeros(kind: StateKind, n: usize) -> Self {
        match kind {
            StateKind::F32 => AdamState::F32(Moments::zeros(n)),
            StateKind::Blockwise8 if n < MIN_8BIT_SIZE => AdamState::F32(Moments::zeros(n)),
            StateKind::Bf16 => AdamState::Bf16(Bf16Moments::zeros(n)),
            StateKind::Blockwise8 => AdamState::Blockwise8(Blockwise8Moments::zeros(n)),
        }
    }

    /// What this parameter's state actually is.
    pub fn kind(&self) -> StateKind {
        match self {
            AdamState::F32(_) => StateKind::F32,
            AdamState::Bf16(_) => StateKind::Bf16,
            AdamState::Blockwise8(_) => StateKind::Blockwise8,
        }
    }

    /// Values per moment.
    pub fn len(&self) -> usize {
        match self {
            AdamState::F32(m) => m.m.len(),
            AdamState::Bf16(m) => m.m.len(),
            AdamState::Blockwise8(m) => m.m_codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by both moments (codes and block constants included; the shared 256-entry
    /// maps are not counted).
    pub fn bytes(&self) -> usize {
        match self {
            AdamState::F32(m) => m.bytes(),
            AdamState::Bf16(m) => (m.m.len() + m.v.len()) * 2,
            AdamState::Blockwise8(m) => m.m_codes.len() + m.v_codes.len() + (m.m_absmax.len() + m.v_absmax.len()) * 4,
        }
    }

    /// The moments as f32 (tests, and a reader of the state).
    pub fn to_f32(&self) -> (Vec<f32>, Vec<f32>) {
        match self {
            AdamState::F32(m) => (m.m.clone(), m.v.clone()),
            AdamState::Bf16(m) => (m.m.iter().map(|x| x.to_f32()).collect(), m.v.iter().map(|x| x.to_f32()).collect()),
            AdamState::Blockwise8(s) => {
                let deq = |codes: &[u8], absmax: &[f32], map: &[f32; 256]| -> Vec<f32> {
                    codes
                        .iter()
                        .enumerate()
                        .map(|(i, &q)| map[q as usize] * absmax[i / BLOCK_8BIT])
                        .collect()
                };
                (
                    deq(&s.m_codes, &s.m_absmax, dynamic_map()),
                    deq(&s.v_codes, &s.v_absmax, unsigned_dynamic_map()),
                )
            }
        }
    }
}

/// A sorted 256-entry code with a lookup table for finding the code nearest to a value in O(1):
/// per bucket of the f32 bit pattern's top 16 bits (sign, exponent, 7 mantissa bits: 0.8% of a
/// value wide) the last code not above the bucket's smallest value; at most `steps` codes lie
/// inside one bucket, so that many branch-free steps find the last code not above the value.
/// (A binary search costs eight dependent loads per value, and branches a predictor cannot
/// learn on real moments: it made the 8-bit step 5× slower than f32 AdamW's.)
pub struct CodeIndex {
    map: &'static [f32; 256],
    lower: Vec<u8>,
    steps: usize,
}

impl CodeIndex {
    pub fn new(map: &'static [f32; 256]) -> Self {
        let last_not_above = |x: f32| map.partition_point(|&c| c <= x).saturating_sub(1);
        let mut lower = vec![0u8; 1 << 16];
        let mut steps = 0;
        for (b, slot) in lower.iter_mut().enumerate() {
            let (lo_bits, hi_bits) = ((b as u32) << 16, ((b as u32) << 16) | 0xFFFF);
            // Negative floats grow more negative as their bits grow.
            let (lo, hi) = if b & 0x8000 != 0 {
                (f32::from_bits(hi_bits), f32::from_bits(lo_bits))
            } else {
                (f32::from_bits(lo_bits), f32::from_bits(hi_bits))
            };
            if lo.is_nan() || hi.is_nan() {
                continue;
            }
            let i = last_not_above(lo);
            *slot = i as u8;
            steps = steps.max(last_not_above(hi) - i);
        }
        CodeIndex { map, lower, steps }
    }

    /// The index of the code nearest to `x` (ties to the lower index, as `torch.argmin` in
    /// bitsandbytes' reference quantizer).
    #[inline]
    pub fn nearest(&self, x: f32) -> u8 {
        let map = self.map;
        let mut i = self.lower[(x.to_bits() >> 16) as usize] as usize;
        for _ in 0..self.steps {
            let next = (i + 1).min(255);
            i += (map[next] <= x) as usize & (i < 255) as usize;
        }
        let next = (i + 1).min(255);
        i += ((map[next] - x).abs() < (x - map[i]).abs()) as usize;
        i as u8
    }
}

fn signed_index() -> &'static CodeIndex {
    static INDEX: std::sync::OnceLock<CodeIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| CodeIndex::new(dynamic_map()))
}

fn unsigned_index() -> &'static CodeIndex {
    static INDEX: std::sync::OnceLock<CodeIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| CodeIndex::new(unsigned_dynamic_map()))
}

/// Quantizes one block of f32 values to codes with the block's absmax; returns it.
fn quantize_block(values: &[f32], index: &CodeIndex, codes: &mut [u8]) -> f32 {
    let absmax = values.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    if absmax == 0.0 {
        codes.fill(index.nearest(0.0));
        return 0.0;
    }
    let inv = 1.0 / absmax;
    for (q, &v) in codes.iter_mut().zip(values) {
        *q = index.nearest(v * inv);
    }
    absmax
}

/// One AdamW step of `param` with its state of any kind (see [`crate::adamw::step_slices`] for
/// the update itself).
pub fn step_state<T: Param>(param: &mut [T], grad: &[T], state: &mut AdamState, h: &AdamWHyper) {
    let n = param.len();
    assert!(grad.len() == n && state.len() == n, "adamw: length mismatch");
    let c = StepConsts::of(h);
    match state {
        AdamState::F32(m) => crate::adamw::step_slices(param, grad, m, h),
        AdamState::Bf16(s) => param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(s.m.par_chunks_mut(CHUNK))
            .zip(s.v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m16), v16)| {
                let mut m: Vec<f32> = m16.iter().map(|x| x.to_f32()).collect();
                let mut v: Vec<f32> = v16.iter().map(|x| x.to_f32()).collect();
                T::update(p, g, &mut m, &mut v, &c);
                for (d, s) in m16.iter_mut().zip(&m) {
                    *d = bf16::from_f32(*s);
                }
                for (d, s) in v16.iter_mut().zip(&v) {
                    *d = bf16::from_f32(*s);
                }
            }),
        AdamState::Blockwise8(s) => {
            let (smap, umap) = (dynamic_map(), unsigned_dynamic_map());
            let (sidx, uidx) = (signed_index(), unsigned_index());
            const BLOCKS: usize = CHUNK / BLOCK_8BIT;
            param
                .par_chunks_mut(CHUNK)
                .zip(grad.par_chunks(CHUNK))
                .zip(s.m_codes.par_chunks_mut(CHUNK).zip(s.v_codes.par_chunks_mut(CHUNK)))
                .zip(s.m_absmax.par_chunks_mut(BLOCKS).zip(s.v_absmax.par_chunks_mut(BLOCKS)))
                .for_each(|(((p, g), (mq, vq)), (ma, va))| {
                    let (mut m, mut v) = ([0f32; BLOCK_8BIT], [0f32; BLOCK_8BIT]);
                    for (b, (ma, va)) in ma.iter_mut().zip(va.iter_mut()).enumerate() {
                        let r = b * BLOCK_8BIT..((b + 1) * BLOCK_8BIT).min(p.len());
                        let len = r.len();
                        let (m, v) = (&mut m[..len], &mut v[..len]);
                        for (i, j) in r.clone().enumerate() {
                            m[i] = smap[mq[j] as usize] * *ma;
                            v[i] = umap[vq[j] as usize] * *va;
                        }
                        T::update(&mut p[r.clone()], &g[r.clone()], m, v, &c);
                        *ma = quantize_block(m, sidx, &mut mq[r.clone()]);
                        *va = quantize_block(v, uidx, &mut vq[r]);
                    }
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hyper(step: u64) -> AdamWHyper {
        AdamWHyper {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
            step,
            grad_scale: 1.0,
        }
    }

    fn grad(step: u64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7 + step as usize * 13) % 53) as f32 - 26.0) / 10.0 * (1.0 + (i % 5) as f32))
            .collect()
    }

    /// Ten steps with state `kind` beside f32 state from the same start: the mean parameter
    /// difference relative to the mean distance the parameters moved, and the state's bytes.
    fn against_f32(kind: StateKind, n: usize) -> (f64, usize) {
        let p0: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let (mut p, mut pr) = (p0.clone(), p0.clone());
        let (mut s, mut sr) = (AdamState::zeros(kind, n), AdamState::zeros(StateKind::F32, n));
        for t in 1..=10 {
            let g = grad(t, n);
            step_state(&mut p, &g, &mut s, &hyper(t));
            step_state(&mut pr, &g, &mut sr, &hyper(t));
        }
        let mean_abs = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs() as f64).sum::<f64>() / n as f64;
        (mean_abs(&p, &pr) / mean_abs(&pr, &p0), s.bytes())
    }

    #[test]
    fn bf16_state_follows_f32_state_in_half_the_bytes() {
        let n = 20_000;
        let (rel, bytes) = against_f32(StateKind::Bf16, n);
        // bf16 keeps 8 significant bits: the moments are off by up to 2^-9 relative each step.
        assert!(rel < 0.01, "bf16 state drifted {rel} of the distance moved");
        assert!(rel > 0.0, "bf16 state must round");
        assert_eq!(bytes, 4 * n);
    }

    #[test]
    fn blockwise_8bit_state_follows_f32_state_in_about_a_quarter_of_the_bytes() {
        let n = 20_000; // 79 blocks, the last one partial; several parallel chunks
        let (rel, bytes) = against_f32(StateKind::Blockwise8, n);
        assert!(rel < 0.05, "8-bit state drifted {rel} of the distance moved");
        assert!(rel > 0.0, "8-bit state must quantize");
        assert_eq!(bytes, 2 * n + 2 * 4 * n.div_ceil(BLOCK_8BIT));
    }

    #[test]
    fn small_parameters_keep_f32_state_under_the_8bit_optimizer() {
        assert_eq!(AdamState::zeros(StateKind::Blockwise8, MIN_8BIT_SIZE - 1).kind(), StateKind::F32);
        assert_eq!(AdamState::zeros(StateKind::Blockwise8, MIN_8BIT_SIZE).kind(), StateKind::Blockwise8);
    }

    #[test]
    fn the_8bit_step_is_bitsandbytes_dequantize_update_requantize() {
        // One block by hand: dequantize the state, the f32 update, the nearest codes with the new
        // absmax; the kernel must agree exactly.
        let n = 300; // one whole block and a partial one
        let mut s = AdamState::Blockwise8(Blockwise8Moments::zeros(n));
        let p0: Vec<f32> = (0..n).map(|i| (i as f32 - 150.0) / 75.0).collect();
        let mut p = p0.clone();
        for t in 1..=3 {
            let g = grad(t, n);
            let (mut m, mut v) = s.to_f32();
            let mut pr = p.clone();
            let c = StepConsts::of(&hyper(t));
            f32::update(&mut pr, &g, &mut m, &mut v, &c);
            step_state(&mut p, &g, &mut s, &hyper(t));
            assert_eq!(p, pr, "step {t}: the parameter steps with the f32 moments");
            let AdamState::Blockwise8(ref b) = s else { panic!() };
            for (blk, r) in [(0, 0..256), (1, 256..n)] {
                let am = m[r.clone()].iter().fold(0f32, |a, x| a.max(x.abs()));
                let av = v[r.clone()].iter().fold(0f32, |a, x| a.max(x.abs()));
                assert_eq!((b.m_absmax[blk], b.v_absmax[blk]), (am, av));
                for i in r {
                    assert_eq!(b.m_codes[i], brute_nearest(dynamic_map(), m[i] * (1.0 / am)));
                    assert_eq!(b.v_codes[i], brute_nearest(unsigned_dynamic_map(), v[i] * (1.0 / av)));
                }
            }
        }
        assert_ne!(p, p0);
    }

    /// The nearest code by exhaustive search, ties to the lower index (`torch.argmin`).
    fn brute_nearest(map: &[f32; 256], x: f32) -> u8 {
        (0..256)
            .min_by(|&a, &b| (x - map[a]).abs().total_cmp(&(x - map[b]).abs()).then(a.cmp(&b)))
            .unwrap() as u8
    }

    #[test]
    fn the_code_index_finds_the_nearest_code_exactly() {
        for (map, index, lo) in [
            (dynamic_map(), signed_index(), -1.0f32),
            (unsigned_dynamic_map(), unsigned_index(), 0.0),
        ] {
            assert!(index.steps <= 3, "{} steps", index.steps);
            let mut xs: Vec<f32> = map.to_vec();
            // Every code, both midpoints around it and values a hair either side of those.
            for w in map.windows(2) {
                let mid = 0.5 * (w[0] + w[1]);
                xs.extend([mid, f32::from_bits(mid.to_bits() + 1), f32::from_bits(mid.to_bits().max(1) - 1)]);
            }
            // Pseudo-random values over the range, and values near 0 on a log scale.
            let mut r = 0x9E3779B97F4A7C15u64;
            for _ in 0..200_000 {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                let u = (r >> 40) as f32 / (1u64 << 24) as f32;
                xs.push(lo + (1.0 - lo) * u);
                xs.push((if lo < 0.0 && r & 1 == 1 { -1.0 } else { 1.0 }) * 10f32.powf(-9.0 * u));
            }
            xs.extend([0.0, -0.0, 1.0]);
            for &x in xs.iter().filter(|x| (lo..=1.0).contains(*x)) {
                assert_eq!(index.nearest(x), brute_nearest(map, x), "x = {x:e}");
            }
        }
    }
}
