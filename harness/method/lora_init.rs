//! How LoRA adapters start (the `lora_init` knob, PEFT's `init_lora_weights`): one trait and one
//! registry ([`LORA_INITS`]). An initialisation gets the dense base weight before the base is
//! stored (and quantized, for an NF4 base), returns A and B, and may return the residual the base
//! keeps instead of the weight (PiSSA moves the principal components into the adapter; QPiSSA is
//! then PiSSA over an NF4 base: the residual is what gets quantized).
//!
//! Adding an initialisation: `harness/method/NAME.rs` with a unit struct implementing
//! [`LoraInit`], declared in method/mod.rs, and one line in `LORA_INITS` (registry.rs).

use crate::model::seeded_values;
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use std::fmt;

/// What an initialisation is given for one adapted linear.
pub struct InitInput<'a> {
    /// The linear's name (`model.layers.0.self_attn.q_proj`): seeds draws per layer.
    pub name: &'a str,
    /// The dense base weight (out × in) as the weight source gave it (host memory, any float dtype).
    pub weight: &'a Tensor,
    pub rank: usize,
    /// The adapter's output scale (α/r, or α/√r with rsLoRA).
    pub scale: f64,
    pub seed: u64,
}

/// A (r × in) and B (out × r) in f32 on the host, and the residual weight the base keeps (None:
/// the base keeps its weight).
pub struct Initial {
    pub a: Tensor,
    pub b: Tensor,
    pub residual: Option<Tensor>,
}

/// One way of starting the adapters.
pub trait LoraInit: Sync + 'static {
    /// The knob's spelling (`lora_init: NAME`).
    fn name(&self) -> &'static str;
    /// What it does and what it trades (`ftbench list`).
    fn doc(&self) -> &'static str;
    /// The knobs it declares for itself (`crate::knob`).
    fn knobs(&self) -> &'static [crate::knob::KnobSpec] {
        &[]
    }
    /// PEFT's `init_lora_weights` for it (`true`, `"gaussian"`, `"pissa"`), written in
    /// adapter_config.json and read back by `load_adapter`.
    fn peft_value(&self) -> serde_json::Value;
    /// The adapter's starting values (and the base's residual).
    fn init(&self, x: &InitInput) -> Result<Initial>;
}

/// A registered initialisation: a copyable handle compared and printed by name.
#[derive(Clone, Copy)]
pub struct Init(pub &'static dyn LoraInit);

impl std::ops::Deref for Init {
    type Target = dyn LoraInit;
    fn deref(&self) -> &Self::Target {
        self.0
    }
}
impl PartialEq for Init {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}
impl fmt::Debug for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// n values of U(−bound, bound) seeded by (seed, tag).
fn uniform(seed: u64, tag: &str, n: usize, bound: f64) -> Result<Vec<f32>> {
    let d = rand_distr::Uniform::new_inclusive(-bound as f32, bound as f32).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(seeded_values(seed, tag, n, d))
}

fn zeros_b(x: &InitInput) -> Result<Tensor> {
    Ok(Tensor::zeros((x.weight.dim(0)?, x.rank), DType::F32, &Device::Cpu)?)
}

/// PEFT's default (`init_lora_weights=True`): A from Kaiming-uniform with a = √5, i.e.
/// U(−1/√in, 1/√in); B zeros, so the adapted model starts equal to the base.
pub struct Kaiming;

impl LoraInit for Kaiming {
    fn name(&self) -> &'static str {
        "default"
    }
    fn doc(&self) -> &'static str {
        "PEFT's default: A Kaiming-uniform U(±1/√in), B zeros: the adapted model starts as the base"
    }
    fn peft_value(&self) -> serde_json::Value {
        serde_json::Value::Bool(true)
    }
    fn init(&self, x: &InitInput) -> Result<Initial> {
        let inp = x.weight.dim(1)?;
        let a = uniform(x.seed, &format!("{}.lora_A", x.name), x.rank * inp, 1.0 / (inp as f64).sqrt())?;
        Ok(Initial {
            a: Tensor::from_vec(a, (x.rank, inp), &Device::Cpu)?,
            b: zeros_b(x)?,
            residual: None,
        })
    }
}

/// PEFT's `init_lora_weights="gaussian"`: A ~ N(0, σ = 1/r), B zeros.
pub struct Gaussian;

impl LoraInit for Gaussian {
    fn name(&self) -> &'static str {
        "gaussian"
    }
    fn doc(&self) -> &'static str {
        "PEFT's gaussian: A ~ N(0, σ = 1/r), B zeros: starts as the base"
    }
    fn peft_value(&self) -> serde_json::Value {
        serde_json::Value::from("gaussian")
    }
    fn init(&self, x: &InitInput) -> Result<Initial> {
        let inp = x.weight.dim(1)?;
        let d = rand_distr::Normal::new(0.0f32, 1.0 / x.rank as f32)?;
        let a = seeded_values(x.seed, &format!("{}.lora_A", x.name), x.rank * inp, d);
        Ok(Initial {
            a: Tensor::from_vec(a, (x.rank, inp), &Device::Cpu)?,
            b: zeros_b(x)?,
            residual: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::LORA_INITS;

    fn input(w: &Tensor) -> InitInput<'_> {
        InitInput {
            name: "m",
            weight: w,
            rank: 4,
            scale: 2.0,
            seed: 1,
        }
    }

    #[test]
    fn the_default_is_peft_kaiming_uniform_a_and_zero_b() {
        let w = Tensor::zeros((6, 100), DType::F32, &Device::Cpu).unwrap();
        let i = Kaiming.init(&input(&w)).unwrap();
        let a: Vec<f32> = i.a.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(i.a.dims(), [4, 100]);
        assert!(a.iter().all(|x| x.abs() <= 0.1), "A within ±1/√in");
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let var = a.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / a.len() as f32;
        assert!((var - 0.01 / 3.0).abs() < 0.0006, "uniform variance bound²/3: {var}");
        assert_eq!(i.b.dims(), [6, 4]);
        assert!(i.b.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|&x| x == 0.0));
        assert!(i.residual.is_none());
    }

    #[test]
    fn gaussian_a_has_peft_standard_deviation_one_over_r() {
        let w = Tensor::zeros((6, 500), DType::F32, &Device::Cpu).unwrap();
        let a: Vec<f32> = Gaussian.init(&input(&w)).unwrap().a.flatten_all().unwrap().to_vec1().unwrap();
        let sd = (a.iter().map(|x| x * x).sum::<f32>() / a.len() as f32).sqrt();
        assert!((sd - 0.25).abs() < 0.01, "σ = 1/r = 0.25, found {sd}");
    }

    #[test]
    fn names_and_peft_values_round_trip() {
        for i in LORA_INITS {
            assert_eq!(Init::lookup(i.name()).unwrap().name(), i.name());
            assert_eq!(Init::of_peft(&i.peft_value()).unwrap().name(), i.name());
        }
        assert!(Init::lookup("kaiming").unwrap_err().contains("expected one of default, gaussian"));
    }
}
