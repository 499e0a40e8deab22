//! A weight source over one or more safetensors files (a model, or the shards of one): the
//! files are memory-mapped and each tensor is read (in its stored dtype, into host memory) only
//! when the method takes it, so loading never holds the model twice.

use crate::model::init::WeightSource;
use anyhow::{bail, Context, Result};
use candle_core::safetensors::{Load, MmapedSafetensors};
use candle_core::{Device, Tensor};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Tensor names a checkpoint may carry that the decoder computes itself (older Llama
/// checkpoints store RoPE's `inv_freq`).
fn derived(name: &str) -> bool {
    name.ends_with(".rotary_emb.inv_freq")
}

/// Safetensors files, each tensor routed to the file that holds it.
pub struct SafetensorsSource {
    files: Vec<(PathBuf, MmapedSafetensors)>,
    /// Tensor name → index in `files`.
    route: BTreeMap<String, usize>,
    taken: HashSet<String>,
    /// Names the model does not use and that are fine to leave (e.g. a tied `lm_head.weight`).
    ignore: HashSet<String>,
}

impl SafetensorsSource {
    /// Maps `files`; every tensor is routed to the file that holds it (a name in two files
    /// is an error). `ignore` lists names that may be left untaken.
    pub fn open(files: &[PathBuf], ignore: &[&str]) -> Result<Self> {
        let mut mapped = Vec::with_capacity(files.len());
        let mut route = BTreeMap::new();
        for (i, path) in files.iter().enumerate() {
            let st = map(path)?;
            for (name, _) in st.tensors() {
                if let Some(j) = route.insert(name.clone(), i) {
                    bail!("tensor `{name}` is in both {} and {}", files[j].display(), path.display());
                }
            }
            mapped.push((path.clone(), st));
        }
        Ok(SafetensorsSource {
            files: mapped,
            route,
            taken: HashSet::new(),
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.route.keys().map(String::as_str)
    }

    /// The file that holds `name`.
    pub fn file_of(&self, name: &str) -> Option<&Path> {
        self.route.get(name).map(|&i| self.files[i].0.as_path())
    }

    fn describe_files(&self) -> String {
        match self.files.as_slice() {
            [(p, _)] => p.display().to_string(),
            fs => format!(
                "{} (and {} more shards)",
                fs.first().map(|(p, _)| p.display().to_string()).unwrap_or_default(),
                fs.len().saturating_sub(1)
            ),
        }
    }
}

/// Memory-maps one safetensors file and checks its header.
fn map(path: &Path) -> Result<MmapedSafetensors> {
    if !path.is_file() {
        bail!("{}: no such file", path.display());
    }
    // SAFETY: the mapping is read-only; as with any mmap, the file must not be truncated or
    // rewritten while ftbench runs (the same contract as candle's and transformers' loaders).
    unsafe { MmapedSafetensors::new(path) }.map_err(|e| anyhow::anyhow!("{}: not a valid safetensors file: {e}", path.display()))
}

impl WeightSource for SafetensorsSource {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let Some(&i) = self.route.get(name) else {
            bail!("{}: missing tensor `{name}` (expected shape {shape:?})", self.describe_files());
        };
        let (path, st) = &self.files[i];
        let view = st
            .get(name)
            .with_context(|| format!("{}: cannot read tensor `{name}`", path.display()))?;
        if view.shape() != shape {
            bail!(
                "{}: tensor `{name}`: expected shape {shape:?}, found {:?}",
                path.display(),
                view.shape()
            );
        }
        use safetensors::Dtype as D;
        if !matches!(view.dtype(), D::F32 | D::F16 | D::BF16 | D::F64) {
            bail!(
                "{}: tensor `{name}`: expected a float dtype (F32, F16, BF16, F64), found {:?}",
                path.display(),
                view.dtype()
            );
        }
        let t = view
            .load(&Device::Cpu)
            .with_context(|| format!("{}: cannot read tensor `{name}`", path.display()))?;
        self.taken.insert(name.to_string());
        Ok(t)
    }

    fn finish(&mut self) -> Result<()> {
        let left: Vec<&String> = self
            .route
            .keys()
            .filter(|n| !self.taken.contains(*n) && !self.ignore.contains(*n) && !derived(n))
            .collect();
        if let Some(first) = left.first() {
            let file = self.file_of(first).map(|p| p.display().to_string()).unwrap_or_default();
            bail!(
                "{file}: unexpected tensor `{first}` ({} left over): this config has no place for it",
                left.len()
            );
        }
        Ok(())
    }
}
