//! Model specs as suites write them: `preset:NAME` (a built-in shape with seeded random
//! weights), `hf:DIR` (a Hugging Face model directory), `gguf:FILE` (a llama.cpp GGUF file).
//! Relative paths are relative to the current directory (the repository root for suites).
//!
//! Parsing reads no file: a suite validates anywhere, and a missing model file becomes an
//! error when the cell runs, in the cell's record.

use super::gguf::GgufModel;
use super::hf::HfDir;
use super::tokenizer::Tokenizer;
use crate::model::config::DecoderConfig;
use crate::model::init::{RandomInit, WeightSource};
use crate::model::presets::{preset, PRESETS};
use anyhow::{Context, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// A built-in shape with seeded random weights.
    Preset(String),
    /// A Hugging Face model directory (config.json, *.safetensors, tokenizer.json).
    Hf(PathBuf),
    /// A GGUF file (metadata, quantized tensors dequantized at load, tokenizer).
    Gguf(PathBuf),
}

impl ModelSpec {
    /// Parses `preset:NAME`, `hf:DIR` or `gguf:FILE`; the error says what was expected.
    pub fn parse(s: &str) -> Result<ModelSpec, String> {
        let names = || PRESETS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        let path = |kind: &str, p: &str| {
            if p.trim().is_empty() {
                Err(format!("`{kind}:` needs a path, found `{s}`"))
            } else {
                Ok(PathBuf::from(p))
            }
        };
        match s.split_once(':') {
            Some(("preset", name)) => {
                if preset(name).is_none() {
                    return Err(format!("unknown preset `{name}`; expected one of: {}", names()));
                }
                Ok(ModelSpec::Preset(name.to_string()))
            }
            Some(("hf", p)) => path("hf", p).map(ModelSpec::Hf),
            Some(("gguf", p)) => path("gguf", p).map(ModelSpec::Gguf),
            _ => Err(format!(
                "expected a model spec `preset:NAME` (presets: {}), `hf:DIR` or `gguf:FILE`, found `{s}`",
                names()
            )),
        }
    }

    /// Opens the model's files and reads its configuration.
    pub fn open(&self) -> Result<OpenModel> {
        let what = || format!("model {self}");
        Ok(match self {
            ModelSpec::Preset(name) => {
                let cfg = preset(name).with_context(|| format!("unknown preset `{name}`"))?;
                OpenModel {
                    spec: self.clone(),
                    cfg,
                    files: Files::Preset,
                }
            }
            ModelSpec::Hf(dir) => {
                let hf = HfDir::open(dir).with_context(what)?;
                let cfg = hf.config().with_context(what)?;
                OpenModel {
                    spec: self.clone(),
                    cfg,
                    files: Files::Hf(hf),
                }
            }
            ModelSpec::Gguf(file) => {
                let g = GgufModel::open(file).with_context(what)?;
                let cfg = g.config().with_context(what)?;
                OpenModel {
                    spec: self.clone(),
                    cfg,
                    files: Files::Gguf(Box::new(g)),
                }
            }
        })
    }

    /// The model's configuration (opens its files; a preset's needs none).
    pub fn config(&self) -> Result<DecoderConfig> {
        Ok(self.open()?.cfg)
    }
}

/// An opened model: its configuration, and its weights and tokenizer on demand.
pub struct OpenModel {
    pub spec: ModelSpec,
    pub cfg: DecoderConfig,
    files: Files,
}

enum Files {
    Preset,
    Hf(HfDir),
    Gguf(Box<GgufModel>),
}

impl OpenModel {
    /// The weights, one tensor at a time, in host memory: seeded random values (seeded by
    /// `seed`, f32) for a preset, the files' tensors as stored (GGUF: dequantized to f32)
    /// otherwise. The method's builder casts and places each (method/build.rs).
    pub fn weights(self, seed: u64) -> Result<Box<dyn WeightSource>> {
        let what = format!("model {}", self.spec);
        Ok(match self.files {
            Files::Preset => Box::new(RandomInit::new(&self.cfg, seed)),
            Files::Hf(hf) => Box::new(hf.weights(&self.cfg).context(what)?),
            Files::Gguf(g) => Box::new(super::GgufSource::new(*g, &self.cfg).context(what)?),
        })
    }

    /// The tokenizer (checked to fit the vocabulary); presets have none.
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        match &self.files {
            Files::Preset => anyhow::bail!(
                "model {} has no tokenizer (presets are random weights over raw token ids)",
                self.spec
            ),
            Files::Hf(hf) => hf.tokenizer(&self.cfg),
            Files::Gguf(g) => {
                let t = g.tokenizer()?;
                t.check_fits(self.cfg.vocab_size, &g.path.display().to_string())?;
                Ok(t)
            }
        }
    }

    /// End-of-sequence ids for generation (none for presets).
    pub fn eos_ids(&self) -> Result<Vec<u32>> {
        match &self.files {
            Files::Preset => Ok(Vec::new()),
            Files::Hf(hf) => hf.eos_ids(),
            Files::Gguf(g) => g.eos_ids(),
        }
    }
}

impl ModelSpec {
    /// The file or folder the spec reads (None for a preset).
    pub fn path(&self) -> Option<&Path> {
        match self {
            ModelSpec::Preset(_) => None,
            ModelSpec::Hf(p) | ModelSpec::Gguf(p) => Some(p),
        }
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Preset(n) => write!(f, "preset:{n}"),
            ModelSpec::Hf(p) => write!(f, "hf:{}", p.display()),
            ModelSpec::Gguf(p) => write!(f, "gguf:{}", p.display()),
        }
    }
}
