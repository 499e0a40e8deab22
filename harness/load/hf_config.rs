//! Reading (and writing) a Hugging Face `config.json` for every family the decoder implements
//! (model/config.rs `Family`): Llama 2/3, Mistral, SmolLM2, Qwen2/2.5, Qwen3, Gemma 2, Gemma 3
//! (text), Phi-3. Fields as transformers 4 and 5 write them: GQA, `head_dim`, `rope_theta` and
//! `rope_scaling` or transformers 5's `rope_parameters` (per layer type for Gemma 3),
//! `layer_types` or the older sliding-window patterns, soft caps, `query_pre_attn_scalar`.
//! Anything the decoder cannot compute faithfully is an error naming the file and key.

use crate::model::config::{Activation, DecoderConfig, Family, LayerAttention, RopeScaling};
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Architectures the decoder implements (config.json `architectures[0]`).
pub fn architectures() -> Vec<&'static str> {
    Family::ALL.iter().map(|f| f.architecture()).collect()
}

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
pub fn parse_config(path: &Path, text: &str) -> Result<DecoderConfig> {
    let v: Value = serde_json::from_str(text).with_context(|| format!("{}: not valid JSON", path.display()))?;
    let map = v
        .as_object()
        .with_context(|| format!("{}: expected a JSON object at the top level", path.display()))?;
    let f = Fields { path, map };
    let family = family(&f)?;
    check_unsupported(&f, family)?;
    let rope = Rope::read(&f, family)?;
    let heads = f.usize("num_attention_heads")?;
    let sliding_window = match f.opt_bool("use_sliding_window")? {
        Some(false) => None,
        _ => f.opt_usize("sliding_window")?,
    };
    let layers = f.usize("num_hidden_layers")?;
    let gemma = matches!(family, Family::Gemma2 | Family::Gemma3);
    let cfg = DecoderConfig {
        vocab_size: f.usize("vocab_size")?,
        hidden_size: f.usize("hidden_size")?,
        intermediate_size: f.usize("intermediate_size")?,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: f.opt_usize("num_key_value_heads")?.unwrap_or(heads),
        head_dim: f.opt_usize("head_dim")?,
        max_position_embeddings: f.opt_usize("max_position_embeddings")?.unwrap_or(2048),
        rms_norm_eps: f.opt_f64("rms_norm_eps")?.unwrap_or(1e-6),
        rope_theta: rope.theta.unwrap_or(10000.0),
        // Gemma ties by default (transformers' Gemma configs say so when the key is absent).
        tie_word_embeddings: f.opt_bool("tie_word_embeddings")?.unwrap_or(gemma),
        initializer_range: f.opt_f64("initializer_range")?.unwrap_or(0.02),
        rope_scaling: rope.scaling,
        sliding_window,
        layer_types: layer_types(&f, family, layers)?,
        rope_local_theta: rope.local_theta,
        pad_token_id: f.opt_usize("pad_token_id")?,
        query_pre_attn_scalar: if gemma {
            Some(f.opt_usize("query_pre_attn_scalar")?.unwrap_or(256))
        } else {
            None
        },
        attn_logit_softcapping: if family == Family::Gemma2 {
            f.opt_f64("attn_logit_softcapping")?
        } else {
            None
        },
        final_logit_softcapping: if family == Family::Gemma2 {
            f.opt_f64("final_logit_softcapping")?
        } else {
            None
        },
        ..family.configure(DecoderConfig::llama())
    };
    cfg.check().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(cfg)
}

/// Refuses what the family's config may ask for that the decoder does not compute, naming the key.
fn check_unsupported(f: &Fields, family: Family) -> Result<()> {
    let p = f.path.display();
    for key in ["attention_bias", "mlp_bias"] {
        if f.opt_bool(key)? == Some(true) {
            bail!("{p}: key `{key}` is true: biases on these projections are not supported");
        }
    }
    let expected = match family.configure(DecoderConfig::llama()).activation {
        Activation::Silu => "silu",
        Activation::GeluTanh => "gelu_pytorch_tanh",
    };
    // Gemma reads `hidden_activation` (its `hidden_act` is the legacy key it ignores).
    let keys: &[&str] = if expected == "silu" {
        &["hidden_act", "hidden_activation"]
    } else {
        &["hidden_activation"]
    };
    for &key in keys {
        if let Some(act) = f.opt_str(key)? {
            if act != expected {
                bail!(
                    "{p}: key `{key}`: expected \"{expected}\" for {}, found \"{act}\"",
                    family.architecture()
                );
            }
        }
    }
    if let Some(r) = f.opt_f64("partial_rotary_factor")? {
        if r != 1.0 {
            bail!("{p}: key `partial_rotary_factor`: expected 1.0 (RoPE over the whole head), found {r}");
        }
    }
    if f.opt_bool("use_bidirectional_attention")? == Some(true) {
        bail!("{p}: key `use_bidirectional_attention` is true: the decoder is causal");
    }
    Ok(())
}

fn family(f: &Fields) -> Result<Family> {
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
    if arch.is_none() && model_type.is_none() {
        bail!("{p}: neither `architectures` nor `model_type` says what model this is");
    }
    if let Some(family) = Family::of_hf(arch, model_type) {
        return Ok(family);
    }
    let what = arch.map_or_else(
        || format!("model_type `{}`", model_type.unwrap_or("?")),
        |a| format!("architecture `{a}`"),
    );
    let why = match arch {
        Some("Gemma3ForConditionalGeneration") => " (the multimodal Gemma 3; its text model is Gemma3ForCausalLM)",
        _ => "",
    };
    bail!("{p}: unsupported {what}{why}; supported: {}", architectures().join(", "))
}

/// The RoPE settings: the global base and scaling, and Gemma 3's local base.
struct Rope {
    theta: Option<f64>,
    scaling: Option<RopeScaling>,
    local_theta: Option<f64>,
}

impl Rope {
    /// transformers 5 folds rope_theta and rope_scaling into `rope_parameters`, per layer type
    /// for Gemma 3 (`full_attention`, `sliding_attention`); transformers 4 wrote `rope_theta`,
    /// `rope_scaling` and Gemma 3's `rope_local_base_freq`.
    fn read(f: &Fields, family: Family) -> Result<Rope> {
        let params = f.get("rope_parameters").filter(|v| v.is_object());
        let per_type = params.and_then(|p| p.get("full_attention")).is_some();
        let (global_key, global) = match (f.get("rope_scaling"), params) {
            (Some(s), _) => ("rope_scaling", Some(s)),
            (None, Some(p)) if per_type => ("rope_parameters.full_attention", p.get("full_attention")),
            (None, Some(p)) => ("rope_parameters", Some(p)),
            (None, None) => ("rope_scaling", None),
        };
        let theta_of = |key: &str, v: Option<&Value>| -> Result<Option<f64>> {
            match v.and_then(|v| v.get("rope_theta")) {
                Some(t) => Ok(Some(t.as_f64().ok_or_else(|| f.err(&format!("{key}.rope_theta"), "a number", t))?)),
                None => Ok(None),
            }
        };
        let theta = match theta_of(global_key, global)? {
            Some(t) => Some(t),
            None => f.opt_f64("rope_theta")?,
        };
        let scaling = global.map(|s| rope_scaling(f.path, global_key, s)).transpose()?.flatten();
        let local_theta = if family != Family::Gemma3 {
            None
        } else if per_type {
            let key = "rope_parameters.sliding_attention";
            let local = params.and_then(|p| p.get("sliding_attention"));
            if let Some(s) = local.map(|s| rope_scaling(f.path, key, s)).transpose()?.flatten() {
                bail!(
                    "{}: key `{key}`: the local layers' RoPE must be plain, found {}",
                    f.path.display(),
                    s.rope_type
                );
            }
            Some(theta_of(key, local)?.unwrap_or(10000.0))
        } else {
            Some(f.opt_f64("rope_local_base_freq")?.unwrap_or(10000.0))
        };
        Ok(Rope {
            theta,
            scaling,
            local_theta,
        })
    }
}

/// Per layer, full or sliding: config.json's `layer_types`, else the family's older fixed
/// pattern (Gemma 2: even layers slide; Gemma 3: every `sliding_window_pattern`-th layer is
/// global), else empty (every layer slides when `sliding_window` is set).
fn layer_types(f: &Fields, family: Family, layers: usize) -> Result<Vec<LayerAttention>> {
    if let Some(v) = f.get("layer_types") {
        return serde_json::from_value(v.clone())
            .map_err(|_| f.err("layer_types", "a list of \"full_attention\" or \"sliding_attention\"", v));
    }
    let every = match family {
        // Even layers slide: every second layer is global.
        Family::Gemma2 => 2,
        Family::Gemma3 => {
            let key = ["sliding_window_pattern", "_sliding_window_pattern"]
                .into_iter()
                .find(|k| f.get(k).is_some());
            key.map(|k| f.usize(k)).transpose()?.unwrap_or(6).max(1)
        }
        _ => return Ok(Vec::new()),
    };
    Ok(LayerAttention::one_global_in(every, layers))
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
    if !crate::model::ROPE_TYPES.contains(&ty) {
        bail!(
            "{p}: key `{key}`: rope_type `{ty}` is not supported; expected one of: {}",
            crate::model::ROPE_TYPES.join(", ")
        );
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

/// The decoder's own option keys, which follow from the family (`Family::configure`) and are
/// not transformers' fields.
const OWN_KEYS: &[&str] = &[
    "family",
    "qkv_bias",
    "qk_norm",
    "norm_plus_one",
    "scale_embeddings",
    "activation",
    "sandwich_norms",
    "fused_projections",
];

/// The config.json transformers would write for `cfg` (its family's class, f32), with
/// optional bos/eos ids.
pub fn config_json(cfg: &DecoderConfig, bos: Option<u32>, eos: Option<u32>) -> Value {
    let mut v = serde_json::to_value(cfg).expect("the config serializes");
    let m = v.as_object_mut().expect("an object");
    for k in OWN_KEYS {
        m.remove(*k);
    }
    let family = cfg.family;
    m.insert("architectures".into(), json!([family.architecture()]));
    m.insert("model_type".into(), json!(family.model_type()));
    match cfg.activation {
        Activation::Silu => m.insert("hidden_act".into(), json!("silu")),
        Activation::GeluTanh => m.insert("hidden_activation".into(), json!("gelu_pytorch_tanh")),
    };
    m.insert("attention_bias".into(), json!(false));
    m.insert("mlp_bias".into(), json!(false));
    if cfg.sliding_window.is_some() && matches!(family, Family::Qwen2 | Family::Qwen3) {
        m.insert("use_sliding_window".into(), json!(true));
    }
    if matches!(family, Family::Gemma2 | Family::Gemma3) {
        // Gemma's configs default to soft caps and a window; say explicitly there are none.
        for k in ["attn_logit_softcapping", "final_logit_softcapping", "sliding_window"] {
            m.entry(k).or_insert(Value::Null);
        }
        let kinds: Vec<LayerAttention> = (0..cfg.num_hidden_layers)
            .map(|i| {
                if cfg.layer_window(i).is_some() {
                    LayerAttention::Sliding
                } else {
                    LayerAttention::Full
                }
            })
            .collect();
        m.insert("layer_types".into(), json!(kinds));
    }
    // Absent, transformers would take the family's default (Phi-3's is 32000).
    m.entry("pad_token_id").or_insert(Value::Null);
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

    fn parse(v: Value) -> Result<DecoderConfig> {
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
        assert!(err(json!({"rope_scaling": {"type": "longrope", "short_factor": [1.0]}})).contains("rope_type `longrope` is not supported"));
        assert!(err(json!({"partial_rotary_factor": 0.75})).contains("key `partial_rotary_factor`"));
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
