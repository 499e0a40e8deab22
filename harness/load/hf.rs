//! A Hugging Face model directory: `config.json`, `model.safetensors` or shards listed by
//! `model.safetensors.index.json`, `tokenizer.json`, and `generation_config.json`'s eos ids.
//! Also the writer the tests use to make such a directory from any weights.

use super::hf_config::{config_json, parse_config};
use super::safetensors_source::SafetensorsSource;
use super::tokenizer::Tokenizer;
use crate::model::config::DecoderConfig;
use crate::model::init::Weights;
use anyhow::{bail, Context, Result};
use candle_core::Tensor;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const CONFIG: &str = "config.json";
pub const WEIGHTS: &str = "model.safetensors";
pub const INDEX: &str = "model.safetensors.index.json";
pub const TOKENIZER: &str = "tokenizer.json";
pub const GENERATION_CONFIG: &str = "generation_config.json";

/// A model directory in Hugging Face's layout.
#[derive(Debug, Clone)]
pub struct HfDir {
    pub dir: PathBuf,
}

impl HfDir {
    /// Checks the directory and its config.json exist (nothing is read yet).
    pub fn open(dir: &Path) -> Result<HfDir> {
        super::missing::expect_kind(dir, true, "Hugging Face model directory")?;
        if !dir.join(CONFIG).is_file() {
            bail!(
                "{}: no {CONFIG}: a Hugging Face model directory has config.json, model.safetensors (or shards + {INDEX}) and tokenizer.json",
                dir.display()
            );
        }
        Ok(HfDir { dir: dir.to_path_buf() })
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG)
    }

    pub fn config(&self) -> Result<DecoderConfig> {
        let p = self.config_path();
        let text = std::fs::read_to_string(&p).with_context(|| format!("{}: cannot read", p.display()))?;
        parse_config(&p, &text)
    }

    /// The safetensors files: `model.safetensors`, or the shards the index names (each must
    /// exist). A single file takes precedence over an index, as in transformers.
    pub fn weight_files(&self) -> Result<Vec<PathBuf>> {
        let single = self.dir.join(WEIGHTS);
        if single.is_file() {
            return Ok(vec![single]);
        }
        let index = self.dir.join(INDEX);
        if !index.is_file() {
            bail!(
                "{}: no weights: expected {WEIGHTS}, or shards listed in {INDEX} (.bin/PyTorch checkpoints are not read)",
                self.dir.display()
            );
        }
        let map = self.index_map(&index)?;
        if map.is_empty() {
            bail!(
                "{}: `weight_map` is empty: expected tensor name → shard file entries",
                index.display()
            );
        }
        let files: BTreeSet<&String> = map.values().collect();
        files
            .into_iter()
            .map(|f| {
                let p = self.dir.join(f);
                if p.is_file() {
                    Ok(p)
                } else {
                    bail!("{}: weight_map names shard `{f}`, which is missing", index.display())
                }
            })
            .collect()
    }

    /// The index file's `weight_map` (tensor name → shard file name).
    fn index_map(&self, index: &Path) -> Result<BTreeMap<String, String>> {
        let text = std::fs::read_to_string(index).with_context(|| format!("{}: cannot read", index.display()))?;
        let v: Value = serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", index.display()))?;
        let map = v.get("weight_map").and_then(Value::as_object).with_context(|| {
            format!(
                "{}: missing key `weight_map` (an object of tensor name → shard file)",
                index.display()
            )
        })?;
        map.iter()
            .map(|(k, f)| match f.as_str() {
                Some(s) if !s.contains('/') && !s.contains('\\') => Ok((k.clone(), s.to_string())),
                _ => bail!("{}: key `weight_map.{k}`: expected a shard file name, found {f}", index.display()),
            })
            .collect()
    }

    /// A weight source over the weights for `cfg`; with an index, every tensor must be in the
    /// shard the index names.
    pub fn weights(&self, cfg: &DecoderConfig) -> Result<SafetensorsSource> {
        let files = self.weight_files()?;
        let ignore: &[&str] = if cfg.tie_word_embeddings { &["lm_head.weight"] } else { &[] };
        let src = SafetensorsSource::open(&files, ignore)?;
        let index = self.dir.join(INDEX);
        if files.len() > 1 || !files[0].ends_with(WEIGHTS) {
            for (name, shard) in self.index_map(&index)? {
                match src.file_of(&name) {
                    Some(p) if p.ends_with(&shard) => {}
                    Some(p) => bail!("{}: `{name}` is listed in {shard} but found in {}", index.display(), p.display()),
                    None => bail!("{}: `{name}` is listed in {shard}, which has no such tensor", index.display()),
                }
            }
        }
        Ok(src)
    }

    /// tokenizer.json, checked against the model's vocabulary.
    pub fn tokenizer(&self, cfg: &DecoderConfig) -> Result<Tokenizer> {
        let p = self.dir.join(TOKENIZER);
        if !p.is_file() {
            bail!("{}: no {TOKENIZER} (needed to turn text into token ids)", self.dir.display());
        }
        let t = Tokenizer::from_file(&p)?;
        t.check_fits(cfg.vocab_size, &self.config_path().display().to_string())?;
        Ok(t)
    }

    /// End-of-sequence ids: generation_config.json's `eos_token_id` (a number or a list), else
    /// config.json's.
    pub fn eos_ids(&self) -> Result<Vec<u32>> {
        for name in [GENERATION_CONFIG, CONFIG] {
            let p = self.dir.join(name);
            if !p.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&p).with_context(|| format!("{}: cannot read", p.display()))?;
            let v: Value = serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", p.display()))?;
            let bad = |x: &Value| {
                anyhow::anyhow!(
                    "{}: key `eos_token_id`: expected a token id or a list of them, found {x}",
                    p.display()
                )
            };
            match v.get("eos_token_id") {
                None | Some(Value::Null) => continue,
                Some(Value::Array(a)) => {
                    return a.iter().map(|x| x.as_u64().map(|i| i as u32).ok_or_else(|| bad(x))).collect();
                }
                Some(x) => return Ok(vec![x.as_u64().ok_or_else(|| bad(x))? as u32]),
            }
        }
        Ok(Vec::new())
    }
}

/// Writes `weights` for `cfg` as a Hugging Face directory: config.json and model.safetensors,
/// or — with `shard_bytes` — shards `model-0000i-of-0000n.safetensors` of at most that many
/// bytes each (a tensor is never split) plus model.safetensors.index.json. Tensors are written
/// in their own dtype.
pub fn save_hf_dir(dir: &Path, cfg: &DecoderConfig, weights: &Weights, shard_bytes: Option<usize>, eos: Option<u32>) -> Result<()> {
    crate::atomic::write_json(&dir.join(CONFIG), &config_json(cfg, None, eos))?;
    let bytes = |t: &Tensor| t.elem_count() * t.dtype().size_in_bytes();
    let mut shards: Vec<Vec<(&String, &Tensor)>> = vec![Vec::new()];
    let mut size = 0;
    for (name, t) in weights {
        let full = shard_bytes.is_some_and(|max| size > 0 && size + bytes(t) > max);
        if full {
            shards.push(Vec::new());
            size = 0;
        }
        size += bytes(t);
        shards.last_mut().expect("one shard").push((name, t));
    }
    let write = |file: &Path, tensors: &[(&String, &Tensor)]| -> Result<()> {
        let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        let bytes = safetensors::serialize(tensors.iter().map(|(k, t)| (k.as_str(), *t)), Some(meta))
            .with_context(|| format!("cannot serialize {}", file.display()))?;
        crate::atomic::write(file, &bytes)
    };
    if shard_bytes.is_none() {
        return write(&dir.join(WEIGHTS), &shards[0]);
    }
    let n = shards.len();
    let mut weight_map = serde_json::Map::new();
    for (i, shard) in shards.iter().enumerate() {
        let name = format!("model-{:05}-of-{n:05}.safetensors", i + 1);
        write(&dir.join(&name), shard)?;
        for (k, _) in shard {
            weight_map.insert((*k).clone(), Value::String(name.clone()));
        }
    }
    let total: usize = weights.values().map(bytes).sum();
    let index = serde_json::json!({"metadata": {"total_size": total}, "weight_map": weight_map});
    crate::atomic::write_json(&dir.join(INDEX), &index)
}
