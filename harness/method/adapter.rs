//! Adapters on disk in PEFT's layout: `adapter_config.json` + `adapter_model.safetensors`
//! with PEFT's key names (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`),
//! so `PeftModel.from_pretrained(base, dir)` loads what ftbench trained; and back into ftbench.
//!
//! ftbench's own facts (base model spec, seed, method, NF4 settings) go in the safetensors
//! header's metadata, which PEFT ignores, so adapter_config.json holds PEFT's keys only.

use super::{BaseFormat, Built, Init, LoraConfig, Method, MethodConfig};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;

const PEFT_PREFIX: &str = "base_model.model.";
const CONFIG: &str = "adapter_config.json";
const WEIGHTS: &str = "adapter_model.safetensors";

/// What an adapter folder says about itself.
#[derive(Debug, Clone)]
pub struct AdapterInfo {
    pub lora: LoraConfig,
    /// ftbench's model spec of the base (e.g. `preset:smollm2-135m`), when ftbench wrote it.
    pub base_model: Option<String>,
    /// Seed of the base's random weights, for presets.
    pub base_seed: Option<u64>,
    /// The method ftbench trained it with (`ftbench_method`), when ftbench wrote it.
    pub method: Option<String>,
    /// PEFT's `use_dora`: the adapter has magnitude vectors (DoRA).
    pub use_dora: bool,
    pub tensors: HashMap<String, Tensor>,
}

/// Writes the adapters of `built` to `dir` (created; replaced whole if it exists).
pub fn save_adapter(dir: &Path, built: &Built, mc: &MethodConfig, base_model: &str) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = built
        .trainable
        .iter()
        .filter(|t| t.name.contains(".lora_"))
        .map(|t| (format!("{PEFT_PREFIX}{}", t.name), t.var.as_tensor().clone()))
        .collect();
    if tensors.is_empty() {
        bail!("this method has no adapters to save");
    }
    let mut config = json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": mc.lora.rank,
        "lora_alpha": mc.lora.alpha,
        "lora_dropout": mc.lora.dropout,
        "target_modules": mc.lora.target_modules(&built.decoder.cfg),
        "use_rslora": mc.lora.rslora,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        // How the adapter started: PEFT re-runs it on load (PiSSA: the SVD that makes the
        // residual base), then takes the trained A and B from the file.
        "init_lora_weights": mc.lora.init.peft_value(),
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "use_dora": false,
        "revision": null,
    });
    if let Some(map) = config.as_object_mut() {
        mc.method.peft_config(map);
    }
    let mut meta = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("ftbench_base_model".to_string(), base_model.to_string()),
        ("ftbench_base_seed".to_string(), mc.seed.to_string()),
        ("ftbench_method".to_string(), mc.method.to_string()),
    ]);
    if mc.method.base_format() == BaseFormat::Nf4 {
        meta.insert("ftbench_nf4_block_size".into(), mc.nf4_block_size.to_string());
        meta.insert("ftbench_nf4_double_quant".into(), mc.nf4_double_quant.to_string());
    }
    // Write beside, then move into place: a reader never sees half an adapter.
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = parent.join(format!(".{}.tmp", dir.file_name().and_then(|n| n.to_str()).unwrap_or("adapter")));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    crate::atomic::write_json(&tmp.join(CONFIG), &config)?;
    let bytes = safetensors::serialize(tensors.iter().map(|(k, t)| (k.as_str(), t)), Some(meta))
        .with_context(|| format!("cannot serialize {}", tmp.join(WEIGHTS).display()))?;
    crate::atomic::write(&tmp.join(WEIGHTS), &bytes)?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir).with_context(|| format!("cannot move the adapter into {}", dir.display()))?;
    Ok(())
}

/// Reads an adapter folder written by ftbench or PEFT (LoRA, and DoRA's `use_dora`).
pub fn load_adapter(dir: &Path) -> Result<AdapterInfo> {
    let cfg_path = dir.join(CONFIG);
    let text = std::fs::read_to_string(&cfg_path).with_context(|| format!("{}: cannot read", cfg_path.display()))?;
    let c: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", cfg_path.display()))?;
    let field = |k: &str| c.get(k).with_context(|| format!("{}: missing key `{k}`", cfg_path.display()));
    if field("peft_type")?.as_str() != Some("LORA") {
        bail!("{}: peft_type: expected \"LORA\", found {}", cfg_path.display(), c["peft_type"]);
    }
    let rank = field("r")?
        .as_u64()
        .with_context(|| format!("{}: r: expected a positive integer", cfg_path.display()))? as usize;
    let alpha = field("lora_alpha")?
        .as_f64()
        .with_context(|| format!("{}: lora_alpha: expected a number", cfg_path.display()))?;
    let targets: Vec<String> = match field("target_modules")? {
        serde_json::Value::String(s) if s == "all-linear" => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        other => bail!(
            "{}: target_modules: expected a list of module names, found {other}",
            cfg_path.display()
        ),
    };
    LoraConfig::check_targets(&targets).map_err(|e| anyhow::anyhow!("{}: target_modules: {e}", cfg_path.display()))?;
    let lora = LoraConfig {
        rank,
        alpha,
        dropout: c.get("lora_dropout").and_then(|v| v.as_f64()).unwrap_or(0.0),
        targets,
        rslora: c.get("use_rslora").and_then(|v| v.as_bool()).unwrap_or(false),
        // PEFT's default when the key is absent is `true`.
        init: Init::of_peft(c.get("init_lora_weights").unwrap_or(&serde_json::Value::Bool(true)))
            .map_err(|e| anyhow::anyhow!("{}: init_lora_weights: {e}", cfg_path.display()))?,
    };
    let w_path = dir.join(WEIGHTS);
    let bytes = std::fs::read(&w_path).with_context(|| format!("{}: cannot read", w_path.display()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a safetensors file: {e}", w_path.display()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .with_context(|| format!("{}: cannot read tensors", w_path.display()))?;
    Ok(AdapterInfo {
        lora,
        base_model: meta.get("ftbench_base_model").cloned(),
        base_seed: meta.get("ftbench_base_seed").and_then(|s| s.parse().ok()),
        method: meta.get("ftbench_method").cloned(),
        use_dora: c.get("use_dora").and_then(|v| v.as_bool()).unwrap_or(false),
        tensors,
    })
}

impl AdapterInfo {
    /// The method to build the model with: the one ftbench recorded, or for an adapter PEFT
    /// wrote, the first registered adapter method over a dense base with the same `use_dora`.
    pub fn method(&self) -> Result<Method> {
        if let Some(name) = &self.method {
            let m = Method::lookup(name).map_err(anyhow::Error::msg)?;
            if !m.has_adapters() {
                bail!("method `{name}` has no adapter to apply");
            }
            return Ok(m);
        }
        Method::all()
            .find(|m| {
                let mut c = serde_json::Map::new();
                m.peft_config(&mut c);
                let dora = c.get("use_dora").and_then(|v| v.as_bool()).unwrap_or(false);
                m.has_adapters() && m.base_format() == BaseFormat::Dense && dora == self.use_dora
            })
            .context("no registered method reads this adapter")
    }

    /// Copies the adapter's tensors into a model built with the same LoRA configuration.
    /// Every adapter of the model must be in the file, with its shape, and nothing else.
    pub fn apply(&self, built: &Built) -> Result<()> {
        let mut used = 0;
        for t in built.trainable.iter().filter(|t| t.name.contains(".lora_")) {
            let key = format!("{PEFT_PREFIX}{}", t.name);
            let v = self.tensors.get(&key).with_context(|| format!("adapter has no tensor `{key}`"))?;
            if v.dims() != t.var.dims() {
                bail!("adapter tensor `{key}`: expected shape {:?}, found {:?}", t.var.dims(), v.dims());
            }
            t.var.set(&v.to_dtype(t.var.dtype())?)?;
            used += 1;
        }
        if used != self.tensors.len() {
            let extra = self
                .tensors
                .keys()
                .find(|k| !built.trainable.iter().any(|t| format!("{PEFT_PREFIX}{}", t.name) == **k));
            bail!(
                "adapter has tensors this model has no place for, e.g. `{}`",
                extra.map(String::as_str).unwrap_or("?")
            );
        }
        Ok(())
    }
}
