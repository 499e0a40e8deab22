//! Hardware profiles: memory, throughput, bandwidth and rental price of the machines users
//! choose between, read from a YAML file suites share (suites/shared/hardware.yaml).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The profiles shipped with ftbench (the file's text is compiled in; `--hardware FILE` reads another).
pub const DEFAULT_PROFILES: &str = include_str!("../../suites/shared/hardware.yaml");

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HardwareProfile {
    /// Short name used on the command line and in suites.
    pub name: String,
    pub description: String,
    /// Memory the run can use (device memory, or unified/host memory), GB (1e9 bytes).
    pub memory_gb: f64,
    /// Dense bf16 matrix throughput with f32 accumulation, TFLOP/s (f32 for CPUs).
    pub bf16_tflops: f64,
    /// Memory bandwidth, GB/s.
    pub bandwidth_gbs: f64,
    /// Rental price, US$ per hour (indicative), or none where it is bought, not rented.
    pub price_per_hour: Option<f64>,
    /// Whether it is a CUDA GPU (the runtime's context counts against its memory).
    pub gpu: bool,
    /// Where each figure comes from.
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profiles {
    pub schema: u32,
    /// Share of peak throughput a training step reaches (model FLOPs utilisation), used for time
    /// estimates; say what you assume.
    pub assumed_mfu: f64,
    pub profiles: Vec<HardwareProfile>,
}

impl Profiles {
    pub fn get(&self, name: &str) -> Option<&HardwareProfile> {
        self.profiles.iter().find(|p| p.name == name)
    }
}

/// Reads profiles from `path`, or the built-in ones; errors name the file, line and key.
pub fn load_profiles(path: Option<&Path>) -> Result<Profiles> {
    let (text, origin) = match path {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))?,
            p.display().to_string(),
        ),
        None => (DEFAULT_PROFILES.to_string(), "suites/shared/hardware.yaml (built in)".to_string()),
    };
    let profiles: Profiles = serde_norway::from_str(&text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    if profiles.schema != 1 {
        anyhow::bail!("{origin}: schema: expected 1, found {}", profiles.schema);
    }
    for (i, p) in profiles.profiles.iter().enumerate() {
        if !(p.memory_gb > 0.0 && p.bf16_tflops > 0.0 && p.bandwidth_gbs > 0.0) {
            anyhow::bail!(
                "{origin}: profiles[{i}] ({}): memory_gb, bf16_tflops and bandwidth_gbs must be positive",
                p.name
            );
        }
    }
    if !(profiles.assumed_mfu > 0.0 && profiles.assumed_mfu <= 1.0) {
        anyhow::bail!(
            "{origin}: assumed_mfu: expected a fraction in (0, 1], found {}",
            profiles.assumed_mfu
        );
    }
    Ok(profiles)
}

#[cfg(test)]
mod tests {
    #[test]
    fn built_in_profiles_parse_and_cover_the_common_cards() {
        let p = super::load_profiles(None).unwrap();
        for name in [
            "rtx3060-12gb",
            "rtx4060-8gb",
            "rtx3090-24gb",
            "rtx4090-24gb",
            "a100-40gb",
            "a100-80gb",
            "h100-80gb",
            "h200-141gb",
            "apple-m4max-128gb",
            "cpu-2core",
        ] {
            assert!(p.get(name).is_some(), "{name}");
        }
    }
}
