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

/// The built-in GPU profile for a GPU as NVML names it (`NVIDIA H200`, `NVIDIA A100-SXM4-80GB`):
/// a profile matches when its description, up to its first word with a digit (`NVIDIA H200`),
/// begins the name; the longest such match wins (the MFU of a record divides by its peak).
pub fn profile_for_gpu(nvml_name: &str) -> Option<HardwareProfile> {
    let norm = |s: &str| s.to_lowercase().replace('-', " ");
    let name = norm(nvml_name);
    let profiles = load_profiles(None).ok()?;
    profiles
        .profiles
        .into_iter()
        .filter(|p| p.gpu)
        .filter_map(|p| {
            let d = norm(&p.description);
            let mut key = Vec::new();
            for w in d.split_whitespace() {
                key.push(w.to_string());
                if w.chars().any(|c| c.is_ascii_digit()) {
                    break;
                }
            }
            let key = key.join(" ");
            (name == key || name.starts_with(&format!("{key} "))).then_some((key.len(), p))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, p)| p)
}

#[cfg(test)]
mod gpu_name_tests {
    use super::profile_for_gpu;

    #[test]
    fn nvml_names_find_their_profiles() {
        assert_eq!(profile_for_gpu("NVIDIA H200").map(|p| p.name), Some("h200-141gb".into()));
        assert!(profile_for_gpu("NVIDIA H2000").is_none());
        assert!(profile_for_gpu("Some Other GPU").is_none());
    }
}
