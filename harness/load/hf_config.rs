//! Reading (and writing) a Hugging Face `config.json` for the Llama family: Llama 2/3,
//! Mistral, SmolLM2 and other `LlamaForCausalLM`/`MistralForCausalLM` checkpoints, with the
//! fields Qwen2-style configs use too (GQA, `head_dim` when given, `rope_theta`,
//! `rope_scaling` or transformers 5's `rope_parameters`, `tie_word_embeddings`,
//! `sliding_window`). Anything the decoder cannot compute faithfully is an error naming the key.

use crate::model::config::{LlamaConfig, RopeScaling};
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Architectures the decoder implements (config.json `architectures[0]`).
pub const ARCHITECTURES: &[&str] = &["LlamaForCausalLM", "MistralForCausalLM"];
const MODEL_TYPES: &[&str] = &["llama", "mistral"];

/// A config.json's object, with typed accessors whose errors name the file and key.
struct Fields<'a> {
    path: &'a Path,
    map: &'a Map<String, Value>,
}

impl Fields<'_> {
    /// The value of `key`, `None` when absent or null.
    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn err(&self, key: &str, expected: &str, found: &Value) -> anyhow::Error {
        crate::error::BadInput::new(
            self.path.display(),
            Some(format!("key `{key}`")),
            format!("expected {expected}, found {found}"),
        )
    }

    fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?
            .with_context(|| format!("{}: missing key `{key}`", self.path.display()))
    }

    fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        self.get(key)
            .map(|v| {
                v.as_u64()
                    .map(|x| x as usize)
                    .ok_or_else(|| self.err(key, "a non-negative integer", v))
            })
            .transpose()
    }

    fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        self.get(key)
            .map(|v| v.as_f64().ok_or_else(|| self.err(key, "a number", v)))
            .transpose()
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| v.as_bool().ok_or_else(|| self.err(key, "true or false", v)))
            .transpose()
    }

    fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        self.get(key)
            .map(|v| v.as_str().ok_or_else(|| self.err(key, "a string", v)))
            .transpose()
    }
}

/// Parses config.json text (`path` is for messages) into the decoder's config.
pub fn parse_config(path: &Path, text: &str) -> Result<LlamaConfig> {
    let v: Value = serde_json::from_str(text).with_context(|| format!("{}: not valid JSON", path.display()))?;
    let map = v
        .as_object()
        .with_context(|| format!("{}: expected a JSON object at the top level", path.display()))?;
    let f = Fields { path, map };
    check_architecture(&f)?;
    for key in ["attention_bias", "mlp_bias"] {
        if f.opt_bool(key)? == Some(true) {
            bail!(
                "{}: key `{key}` is true: biases are not supported (the decoder's linears have none)",
                path.display()
            );
        }
    }
    for key in ["hidden_act", "hidden_activation"] {
        if let Some(act) = f.opt_str(key)? {
            if act != "silu" {
                bail!("{}: key `{key}`: expected \"silu\" (SwiGLU), found \"{act}\"", path.display());
            }
        }
    }
    // transformers 5 folds rope_theta and rope_scaling into `rope_parameters`.
    let rope_params = f.get("rope_parameters").filter(|v| v.is_object());
    let rope_theta = match rope_params.and_then(|p| p.get("rope_theta")) {
        Some(t) => Some(t.as_f64().ok_or_else(|| f.err("rope_parameters.rope_theta", "a number", t))?),
        None => f.opt_f64("rope_theta")?,
    };
    let (scaling_key, scaling) = match (f.get("rope_scaling"), rope_params) {
        (Some(s), _) => ("rope_scaling", Some(s)),
        (None, Some(p)) => ("rope_parameters", Some(p)),
        (None, None) => ("rope_scaling", None),
    };
    let rope_scaling = scaling.map(|s| rope_scaling(path, scaling_key, s)).transpose()?.flatten();
    let heads = f.usize("num_attention_heads")?;
    let sliding_window = match f.opt_bool("use_sliding_window")? {
        Some(false) => None,
        _ => f.opt_usize("sliding_window")?,
    };
    let cfg = LlamaConfig {
        vocab_size: f.usize("vocab_size")?,
        hidden_size: f.usize("hidden_size")?,
        intermediate_size: f.usize("intermediate_size")?,
        num_hidden_layers: f.usize("num_hidden_layers")?,
        num_attention_heads: heads,
        num_key_value_heads: f.opt_usize("num_key_value_heads")?.unwrap_or(heads),
        head_dim: f.opt_usize("head_dim")?,
        max_position_embeddings: f.opt_usize("max_position_embeddings")?.unwrap_or(2048),
        rms_norm_eps: f.opt_f64("rms_norm_eps")?.unwrap_or(1e-6),
        rope_theta: rope_theta.unwrap_or(10000.0),
        tie_word_embeddings: f.opt_bool("tie_word_embeddings")?.unwrap_or(false),
        initializer_range: f.opt_f64("initializer_range")?.unwrap_or(0.02),
        rope_scaling,
        sliding_window,
    };
    cfg.check().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(cfg)
}

fn check_architecture(f: &Fields) -> Result<()> {
    let p = f.path.display();
    let arch = match f.get("architectures") {
        None => None,
        Some(Value::Array(a)) => match a.first() {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => bail!(
                "{p}: key `architectures`: expected a list of class names, found {}",
                Value::Array(a.clone())
            ),
        },
        Some(other) => bail!("{p}: key `architectures`: expected a list of class names, found {other}"),
    };
    let model_type = f.opt_str("model_type")?;
    let ok = match (arch, model_type) {
        (Some(a), _) => ARCHITECTURES.contains(&a),
        (None, Some(t)) => MODEL_TYPES.contains(&t),
        (None, None) => bail!("{p}: neither `architectures` nor `model_type` says what model this is"),
    };
    if !ok {
        let what = arch.map_or_else(
            || format!("model_type `{}`", model_type.unwrap_or("?")),
            |a| format!("architecture `{a}`"),
        );
        let why = match model_type {
            Some("qwen2") => " (its q/k/v projections have biases, which the decoder lacks)",
            Some("qwen3") => " (it normalises q and k per head, which the decoder does not)",
            _ => "",
        };
        bail!("{p}: unsupported {what}{why}; supported: {}", ARCHITECTURES.join(", "));
    }
    Ok(())
}

/// transformers' `rope_scaling` object → the decoder's, `None` for plain RoPE. Old configs
/// say `type`, new ones `rope_type`.
fn rope_scaling(path: &Path, key: &str, v: &Value) -> Result<Option<RopeScaling>> {
    let p = path.display();
    let m = v
        .as_object()
        .with_context(|| format!("{p}: key `{key}`: expected an object, found {v}"))?;
    let get = |k: &str| m.get(k).filter(|x| !x.is_null());
    let ty = get("rope_type")
        .or_else(|| get("type"))
        .map(|t| {
            t.as_str()
                .with_context(|| format!("{p}: key `{key}.rope_type`: expected a string, found {t}"))
        })
        .transpose()?
        .unwrap_or("default");
    if ty == "default" {
        return Ok(None);
    }
    let num = |k: &str| -> Result<Option<f64>> {
        get(k)
            .map(|x| {
                x.as_f64()
                    .with_context(|| format!("{p}: key `{key}.{k}`: expected a number, found {x}"))
            })
            .transpose()
    };
    let s = RopeScaling {
        rope_type: ty.to_string(),
        factor: num("factor")?.with_context(|| format!("{p}: key `{key}.factor` is missing"))?,
        low_freq_factor: num("low_freq_factor")?,
        high_freq_factor: num("high_freq_factor")?,
        original_max_position_embeddings: num("original_max_position_embeddings")?.map(|x| x as usize),
    };
    s.check().map_err(|e| anyhow::anyhow!("{p}: key `{key}`: {e}"))?;
    Ok(Some(s))
}

/// The config.json transformers would write for `cfg` (LlamaForCausalLM, f32), with optional
/// bos/eos ids.
pub fn config_json(cfg: &LlamaConfig, bos: Option<u32>, eos: Option<u32>) -> Value {
    let mut v = serde_json::to_value(cfg).expect("the config serializes");
    let m = v.as_object_mut().expect("an object");
    m.insert("architectures".into(), json!(["LlamaForCausalLM"]));
    m.insert("model_type".into(), json!("llama"));
    m.insert("hidden_act".into(), json!("silu"));
    m.insert("attention_bias".into(), json!(false));
    m.insert("mlp_bias".into(), json!(false));
    m.insert("torch_dtype".into(), json!("float32"));
    if let Some(b) = bos {
        m.insert("bos_token_id".into(), json!(b));
    }
    if let Some(e) = eos {
        m.insert("eos_token_id".into(), json!(e));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<LlamaConfig> {
        parse_config(Path::new("dir/config.json"), &v.to_string())
    }

    #[test]
    fn mistral_and_llama3_configs() {
        // Mistral-7B-v0.1's config.json (fields as published).
        let m = parse(json!({
            "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_act": "silu",
            "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
            "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768,
            "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false,
            "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2
        }))
        .unwrap();
        assert_eq!(m.sliding_window, Some(4096));
        assert_eq!(m.num_parameters(), 7_241_732_096);
        // Llama-3.1's rope_scaling; transformers 5's rope_parameters; an explicit head_dim; old `type`.
        let l = parse(json!({
            "architectures": ["LlamaForCausalLM"], "vocab_size": 128256, "hidden_size": 4096,
            "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072,
            "rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
            "mlp_bias": false, "attention_bias": false
        }))
        .unwrap();
        assert_eq!(l.rope_scaling.as_ref().unwrap().rope_type, "llama3");
        assert_eq!(l.head_dim(), 128);
        let t5 = parse(json!({
            "model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4,
            "rope_parameters": {"rope_theta": 1000.0, "rope_type": "linear", "factor": 2.0}
        }))
        .unwrap();
        assert_eq!((t5.rope_theta, t5.num_key_value_heads, t5.tie_word_embeddings), (1000.0, 4, false));
        assert_eq!(t5.rope_scaling.unwrap().factor, 2.0);
        let old = parse(json!({
            "model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4, "rope_scaling": {"type": "linear", "factor": 2.0},
            "use_sliding_window": false, "sliding_window": 4096, "head_dim": null
        }))
        .unwrap();
        assert_eq!(
            (old.rope_scaling.unwrap().rope_type.as_str(), old.sliding_window, old.head_dim),
            ("linear", None, None)
        );
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let base = json!({"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4});
        let err = |patch: Value| {
            let mut v = base.clone();
            for (k, x) in patch.as_object().unwrap() {
                v[k] = x.clone();
            }
            format!("{:#}", parse(v).unwrap_err())
        };
        assert!(err(json!({"num_attention_heads": 3})).contains("dir/config.json: hidden_size"));
        assert!(err(json!({"hidden_act": "gelu"})).contains("key `hidden_act`: expected \"silu\""));
        assert!(err(json!({"model_type": "gpt2"})).contains("unsupported model_type `gpt2`"));
        assert!(err(json!({"rope_scaling": {"rope_type": "linear"}})).contains("rope_scaling.factor` is missing"));
        assert!(err(json!({"num_key_value_heads": 3})).contains("num_key_value_heads"));
        let mut v = base.clone();
        v.as_object_mut().unwrap().remove("vocab_size");
        assert!(format!("{:#}", parse(v).unwrap_err()).contains("dir/config.json: missing key `vocab_size`"));
        assert!(parse_config(Path::new("c.json"), "{")
            .unwrap_err()
            .to_string()
            .contains("c.json: not valid JSON"));
    }
}
