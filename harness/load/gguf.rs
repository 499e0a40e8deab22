//! GGUF models (llama.cpp's format; architectures llama, qwen2, qwen3, gemma2, gemma3, phi3):
//! metadata → config,
//! tensors dequantized to f32 one at a time (candle's `gguf_file` + `QTensor::dequantize`),
//! llama.cpp's Q/K row permutation undone so the weights are in Hugging Face's layout (the
//! decoder's RoPE is transformers' half-split `rotate_half`), and the tokenizer rebuilt from
//! the metadata. The weight source (names, Q/K permutation) is in gguf_source.rs.

use super::tokenizer::{byte_level_bpe, Tokenizer};
use crate::model::config::{DecoderConfig, Family, LayerAttention, RopeScaling};
use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file::{Content, Value};

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// `general.architecture` values the loader reads (Mistral's files say `llama`).
pub fn gguf_architectures() -> Vec<&'static str> {
    let mut v: Vec<&str> = Family::ALL.iter().map(|f| f.gguf_architecture()).collect();
    v.dedup();
    v
}

/// An opened GGUF file: its metadata and tensor directory (tensor data is read on demand).
pub struct GgufModel {
    pub path: PathBuf,
    pub(super) content: Content,
}

impl GgufModel {
    /// Reads the header and checks every tensor lies inside the file, so a truncated file
    /// fails here, before anything is built.
    pub fn open(path: &Path) -> Result<GgufModel> {
        super::missing::expect_kind(path, false, "GGUF file")?;
        let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        let len = file.metadata().with_context(|| format!("{}: cannot stat", path.display()))?.len();
        let content = Content::read(&mut std::io::BufReader::new(file))
            .map_err(|e| anyhow::anyhow!("{}: not a valid GGUF file: {e}", path.display()))?;
        let mut infos: Vec<_> = content.tensor_infos.iter().collect();
        infos.sort_by_key(|(_, info)| info.offset);
        for (name, info) in infos {
            let (elems, block) = (info.shape.elem_count(), info.ggml_dtype.block_size());
            if elems % block != 0 {
                bail!(
                    "{}: tensor `{name}`: {elems} elements are not a whole number of {:?} blocks of {block}",
                    path.display(),
                    info.ggml_dtype
                );
            }
            let bytes = (elems / block * info.ggml_dtype.type_size()) as u64;
            let start = content.tensor_data_offset.saturating_add(info.offset);
            if start.saturating_add(bytes) > len {
                bail!(
                    "{}: tensor `{name}` needs bytes {start}..{} but the file has {len}: the file is truncated or corrupt",
                    path.display(),
                    start.saturating_add(bytes)
                );
            }
        }
        Ok(GgufModel {
            path: path.to_path_buf(),
            content,
        })
    }

    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.content.metadata
    }

    /// The tensor `name` as stored (quantized, in llama.cpp's row order), read from the file.
    pub fn qtensor(&self, name: &str) -> Result<candle_core::quantized::QTensor> {
        let p = self.path.display();
        let info = self
            .content
            .tensor_infos
            .get(name)
            .with_context(|| format!("{p}: missing tensor `{name}`"))?;
        let mut f = std::io::BufReader::new(File::open(&self.path).with_context(|| format!("{p}: cannot open"))?);
        info.read(&mut f, self.content.tensor_data_offset, &candle_core::Device::Cpu)
            .with_context(|| format!("{p}: cannot read tensor `{name}`"))
    }

    /// GGUF tensor names, sorted.
    pub fn tensor_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.content.tensor_infos.keys().map(String::as_str).collect();
        v.sort();
        v
    }

    /// The decoder configuration from the `<arch>.*` metadata (transformers' GGUF loader reads
    /// the same keys); the LM head is tied when the file has no `output.weight`. What llama.cpp
    /// does not write down but fixes per architecture is fixed here as llama.cpp does: Gemma 2's
    /// alternating and Gemma 3's one-in-six global layers, Gemma 3's local RoPE base 10000, and
    /// Gemma's attention scale (hidden / heads for the 27B models, head_dim otherwise).
    pub fn config(&self) -> Result<DecoderConfig> {
        let p = self.path.display();
        let (arch, family) = self.family()?;
        if self.content.tensor_infos.contains_key("rope_freqs.weight") {
            bail!("{p}: tensor `rope_freqs.weight` (RoPE frequency factors: llama3 or longrope scaling) is not supported");
        }
        let key = |k: &str| format!("{arch}.{k}");
        let hidden = self.req_usize(&key("embedding_length"))?;
        let heads = self.req_usize(&key("attention.head_count"))?;
        let kv_heads = self.opt_usize(&key("attention.head_count_kv"))?.unwrap_or(heads);
        let head_dim = self.opt_usize(&key("attention.key_length"))?;
        let hd = self.check_rotary(arch, head_dim.unwrap_or(hidden.checked_div(heads).unwrap_or(0)))?;
        let embd = self.tensor_dims("token_embd.weight")?;
        let vocab = match self.opt_usize(&key("vocab_size"))? {
            Some(v) => v,
            None => embd.first().copied().unwrap_or(0),
        };
        let rope_scaling = self.rope_scaling(arch)?;
        let layers = self.req_usize(&key("block_count"))?;
        let gemma = matches!(family, Family::Gemma2 | Family::Gemma3);
        let layer_types = self.layer_types(family, arch, layers)?;
        let big = matches!((family, layers), (Family::Gemma2, 46) | (Family::Gemma3, 62));
        let cfg = DecoderConfig {
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: self.req_usize(&key("feed_forward_length"))?,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim: head_dim.filter(|&d| hidden.checked_div(heads) != Some(d)),
            max_position_embeddings: self.req_usize(&key("context_length"))?,
            rms_norm_eps: self
                .opt_f64(&key("attention.layer_norm_rms_epsilon"))?
                .unwrap_or(if gemma { 1e-6 } else { 1e-5 }),
            rope_theta: self.opt_f64(&key("rope.freq_base"))?.unwrap_or(10000.0),
            tie_word_embeddings: !self.content.tensor_infos.contains_key("output.weight"),
            initializer_range: 0.02,
            rope_scaling,
            sliding_window: match family {
                Family::Gemma2 | Family::Gemma3 | Family::Phi3 => self.opt_usize(&key("attention.sliding_window"))?,
                _ => None,
            },
            layer_types,
            rope_local_theta: (family == Family::Gemma3).then_some(10000.0),
            query_pre_attn_scalar: gemma.then(|| if big { hidden / heads.max(1) } else { hd }),
            attn_logit_softcapping: self.opt_f64(&key("attn_logit_softcapping"))?.filter(|_| family == Family::Gemma2),
            final_logit_softcapping: self.opt_f64(&key("final_logit_softcapping"))?.filter(|_| family == Family::Gemma2),
            pad_token_id: self.opt_usize("tokenizer.ggml.padding_token_id")?,
            ..family.configure(DecoderConfig::llama())
        };
        cfg.check()
            .map_err(|e| anyhow::anyhow!("{p}: metadata gives an invalid config: {e}"))?;
        if embd != [cfg.vocab_size, cfg.hidden_size] {
            bail!(
                "{p}: tensor `token_embd.weight`: expected shape [{}, {}] (vocab_size, embedding_length), found {embd:?}",
                cfg.vocab_size,
                cfg.hidden_size
            );
        }
        Ok(cfg)
    }

    /// `general.architecture` and the family it names.
    fn family(&self) -> Result<(&str, Family)> {
        let arch = self.req_str("general.architecture")?;
        // Mistral's files say `llama`: the first family with that name is Llama's, the same model.
        match Family::ALL.into_iter().find(|f| f.gguf_architecture() == arch) {
            Some(family) => Ok((arch, family)),
            None => bail!(
                "{}: metadata `general.architecture` = `{arch}` is not supported; expected one of: {}",
                self.path.display(),
                gguf_architectures().join(", ")
            ),
        }
    }

    /// `hd`, once `<arch>.rope.dimension_count` (when given) says RoPE covers the whole head.
    fn check_rotary(&self, arch: &str, hd: usize) -> Result<usize> {
        let key = format!("{arch}.rope.dimension_count");
        match self.opt_usize(&key)? {
            Some(rot) if rot != hd => bail!(
                "{}: metadata `{key}` = {rot}: partial rotary embeddings are not supported (head_dim is {hd})",
                self.path.display()
            ),
            _ => Ok(hd),
        }
    }

    /// `<arch>.rope.scaling.*`: none or linear.
    fn rope_scaling(&self, arch: &str) -> Result<Option<RopeScaling>> {
        let key = |k: &str| format!("{arch}.{k}");
        Ok(match self.opt_str(&key("rope.scaling.type"))? {
            None | Some("none") => None,
            Some("linear") => Some(RopeScaling {
                rope_type: "linear".into(),
                factor: self.opt_f64(&key("rope.scaling.factor"))?.unwrap_or(1.0),
                low_freq_factor: None,
                high_freq_factor: None,
                original_max_position_embeddings: self.opt_usize(&key("rope.scaling.original_context_length"))?,
            }),
            Some(other) => bail!(
                "{}: metadata `{}` = `{other}` is not supported; expected none or linear",
                self.path.display(),
                key("rope.scaling.type")
            ),
        })
    }

    /// llama.cpp's fixed layer patterns: Gemma 2 slides on even layers, Gemma 3 on five of six
    /// (or every `attention.sliding_window_pattern`-th layer is global where a file says).
    fn layer_types(&self, family: Family, arch: &str, layers: usize) -> Result<Vec<LayerAttention>> {
        let every = match family {
            Family::Gemma2 => 2,
            Family::Gemma3 => self
                .opt_usize(&format!("{arch}.attention.sliding_window_pattern"))?
                .unwrap_or(6)
                .max(1),
            _ => return Ok(Vec::new()),
        };
        Ok(LayerAttention::one_global_in(every, layers))
    }

    /// End-of-sequence ids: `tokenizer.ggml.eos_token_id` and `eot_token_id` when present.
    pub fn eos_ids(&self) -> Result<Vec<u32>> {
        let mut v = Vec::new();
        for k in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"] {
            if let Some(id) = self.opt_usize(k)? {
                if !v.contains(&(id as u32)) {
                    v.push(id as u32);
                }
            }
        }
        Ok(v)
    }

    /// The tokenizer stored in the metadata: byte-level BPE (`tokenizer.ggml.model = gpt2`,
    /// tokens and merges), or Gemma's SentencePiece-style BPE (`llama` in a gemma2/gemma3 file;
    /// gemma_tokenizer.rs).
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        let p = self.path.display();
        let model = self
            .opt_str("tokenizer.ggml.model")?
            .with_context(|| format!("{p}: has no tokenizer (metadata `tokenizer.ggml.model` is missing)"))?;
        let arch = self.req_str("general.architecture")?;
        let inner = match (model, arch) {
            ("gpt2", _) => self.byte_level_tokenizer()?,
            ("llama", "gemma2" | "gemma3") => {
                let tokens = self.str_array("tokenizer.ggml.tokens")?;
                let types = self.int_array("tokenizer.ggml.token_type")?;
                if types.len() != tokens.len() {
                    bail!("{p}: metadata `tokenizer.ggml.token_type` has {} entries for {} tokens", types.len(), tokens.len());
                }
                super::gemma_tokenizer::gemma_tokenizer(&tokens, &types).with_context(|| format!("{p}: tokenizer metadata"))?
            }
            _ => bail!(
                "{p}: metadata `tokenizer.ggml.model` = `{model}` in a `{arch}` file: ftbench rebuilds byte-level BPE (`gpt2`) tokenizers and Gemma's; use the model's tokenizer.json (an hf: directory) instead"
            ),
        };
        let add_bos = match self.metadata().get("tokenizer.ggml.add_bos_token") {
            Some(Value::Bool(true)) => Some(
                self.opt_usize("tokenizer.ggml.bos_token_id")?
                    .with_context(|| format!("{p}: add_bos_token is set but `tokenizer.ggml.bos_token_id` is missing"))?
                    as u32,
            ),
            _ => None,
        };
        let mut tok = Tokenizer::from_inner(inner, format!("{p} (GGUF metadata)"), add_bos);
        tok.chat_template = self.opt_str("tokenizer.chat_template")?.map(str::to_string);
        Ok(tok)
    }

    /// Byte-level BPE from the tokens and merges the file lists.
    fn byte_level_tokenizer(&self) -> Result<tokenizers::Tokenizer> {
        let p = self.path.display();
        let tokens = self.str_array("tokenizer.ggml.tokens")?;
        let merges = self
            .str_array("tokenizer.ggml.merges")?
            .into_iter()
            .enumerate()
            .map(|(i, m)| match m.split_once(' ') {
                Some((a, b)) => Ok((a.to_string(), b.to_string())),
                None => bail!("{p}: metadata `tokenizer.ggml.merges[{i}]` = `{m}`: expected two tokens separated by a space"),
            })
            .collect::<Result<Vec<_>>>()?;
        // Control (3) and user-defined (4) tokens are matched whole, never split.
        let special: Vec<u32> = match self.metadata().get("tokenizer.ggml.token_type") {
            Some(Value::Array(types)) => types
                .iter()
                .enumerate()
                .filter(|(_, t)| matches!(int_of(t), Some(3 | 4)))
                .map(|(i, _)| i as u32)
                .collect(),
            _ => Vec::new(),
        };
        let pre = self.opt_str("tokenizer.ggml.pre")?.unwrap_or("default");
        byte_level_bpe(&tokens, &merges, pre, &special).with_context(|| format!("{p}: tokenizer metadata"))
    }

    fn tensor_dims(&self, name: &str) -> Result<Vec<usize>> {
        let info = self
            .content
            .tensor_infos
            .get(name)
            .with_context(|| format!("{}: missing tensor `{name}`", self.path.display()))?;
        Ok(info.shape.dims().to_vec())
    }

    fn value(&self, key: &str) -> Result<&Value> {
        self.metadata()
            .get(key)
            .with_context(|| format!("{}: missing metadata key `{key}`", self.path.display()))
    }

    fn req_usize(&self, key: &str) -> Result<usize> {
        let v = self.value(key)?;
        int_of(v).and_then(|i| usize::try_from(i).ok()).with_context(|| {
            format!(
                "{}: metadata `{key}`: expected a non-negative integer, found a {:?}",
                self.path.display(),
                v.value_type()
            )
        })
    }

    fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        match self.metadata().get(key) {
            None => Ok(None),
            Some(_) => self.req_usize(key).map(Some),
        }
    }

    fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.metadata().get(key) {
            None => Ok(None),
            Some(Value::F32(x)) => Ok(Some(*x as f64)),
            Some(Value::F64(x)) => Ok(Some(*x)),
            Some(v) => match int_of(v) {
                Some(i) => Ok(Some(i as f64)),
                None => bail!(
                    "{}: metadata `{key}`: expected a number, found a {:?}",
                    self.path.display(),
                    v.value_type()
                ),
            },
        }
    }

    fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.metadata().get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => bail!(
                "{}: metadata `{key}`: expected a string, found a {:?}",
                self.path.display(),
                v.value_type()
            ),
        }
    }

    fn req_str(&self, key: &str) -> Result<&str> {
        self.opt_str(key)?
            .with_context(|| format!("{}: missing metadata key `{key}`", self.path.display()))
    }

    fn int_array(&self, key: &str) -> Result<Vec<i64>> {
        let p = self.path.display();
        match self.value(key)? {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    int_of(v)
                        .map(|x| x as i64)
                        .with_context(|| format!("{p}: metadata `{key}[{i}]`: expected an integer"))
                })
                .collect(),
            v => bail!("{p}: metadata `{key}`: expected an array of integers, found a {:?}", v.value_type()),
        }
    }

    fn str_array(&self, key: &str) -> Result<Vec<String>> {
        match self.value(key)? {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => bail!(
                        "{}: metadata `{key}[{i}]`: expected a string, found a {:?}",
                        self.path.display(),
                        other.value_type()
                    ),
                })
                .collect(),
            v => bail!(
                "{}: metadata `{key}`: expected an array of strings, found a {:?}",
                self.path.display(),
                v.value_type()
            ),
        }
    }
}

fn int_of(v: &Value) -> Option<i128> {
    Some(match v {
        Value::U8(x) => *x as i128,
        Value::I8(x) => *x as i128,
        Value::U16(x) => *x as i128,
        Value::I16(x) => *x as i128,
        Value::U32(x) => *x as i128,
        Value::I32(x) => *x as i128,
        Value::U64(x) => *x as i128,
        Value::I64(x) => *x as i128,
        _ => return None,
    })
}
