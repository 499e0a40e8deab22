//! A model ready to generate from: a spec (and optionally a trained adapter) → a frozen
//! decoder, its tokenizer and eos ids. What `ftbench generate` runs.
//!
//! With an adapter, the model is built with the method the adapter was trained with (for an NF4
//! base with the adapter's NF4 settings, so the base is quantized as it was in training) and the
//! adapter's tensors are copied in (`AdapterInfo::apply`).

use crate::load::{ModelSpec, Tokenizer};
use crate::method::{self, load_adapter, BaseFormat, Built, Method, MethodConfig};
use crate::model::greedy;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use std::path::{Path, PathBuf};

/// A decoder built for inference (no dropout, nothing trains).
pub struct InferenceModel {
    pub spec: ModelSpec,
    pub built: Built,
    /// `None` when not asked for.
    pub tokenizer: Option<Tokenizer>,
    pub eos: Vec<u32>,
    pub method: Method,
}

/// Builds `model` (or the adapter's base when `model` is `None`) with `adapter` applied.
pub fn load_for_inference(model: Option<&str>, adapter: Option<&Path>, with_tokenizer: bool, device: &Device) -> Result<InferenceModel> {
    let info = adapter
        .map(|dir| load_adapter(dir).with_context(|| format!("adapter {}", dir.display())))
        .transpose()?;
    let spec_text = match (model, info.as_ref().and_then(|i| i.base_model.as_deref())) {
        (Some(m), base) => {
            if let Some(b) = base.filter(|b| *b != m) {
                eprintln!("note: the adapter was trained on {b}; generating with {m}");
            }
            m.to_string()
        }
        (None, Some(b)) => b.to_string(),
        (None, None) => bail!("name the model with --model SPEC (preset:NAME, hf:DIR or gguf:FILE)"),
    };
    let spec = ModelSpec::parse(&spec_text).map_err(anyhow::Error::msg).context("--model")?;
    let open = spec.open()?;
    let tokenizer = if with_tokenizer { Some(open.tokenizer()?) } else { None };
    let eos = open.eos_ids()?;
    let seed = info.as_ref().and_then(|i| i.base_seed).unwrap_or(0);
    let (method, mc) = match (&info, adapter) {
        (Some(info), Some(dir)) => {
            let method = info.method().with_context(|| format!("adapter {}", dir.display()))?;
            let mut mc = MethodConfig::defaults(method, seed);
            mc.lora = info.lora.clone();
            if method.base_format() == BaseFormat::Nf4 {
                let (block, double) = nf4_settings(dir)?;
                mc.nf4_block_size = block.unwrap_or(mc.nf4_block_size);
                mc.nf4_double_quant = double.unwrap_or(mc.nf4_double_quant);
            }
            (method, mc)
        }
        _ => {
            // The untouched model: every linear frozen, nothing trains.
            let base = Method::all().find(|m| !m.trains()).expect("base is registered");
            (base, MethodConfig::defaults(base, seed))
        }
    };
    let cfg = open.cfg.clone();
    let mut src = open.weights(seed)?;
    let built = method::build(&cfg, src.as_mut(), &mc, DType::F32, device).with_context(|| format!("loading model {spec}"))?;
    built.dropout.set_training(false);
    if let (Some(info), Some(dir)) = (&info, adapter) {
        info.apply(&built).with_context(|| format!("applying adapter {}", dir.display()))?;
    }
    Ok(InferenceModel {
        spec,
        built,
        tokenizer,
        eos,
        method,
    })
}

/// The NF4 settings ftbench wrote into an adapter's safetensors metadata.
fn nf4_settings(dir: &Path) -> Result<(Option<usize>, Option<bool>)> {
    let p = dir.join("adapter_model.safetensors");
    let bytes = std::fs::read(&p).with_context(|| format!("{}: cannot read", p.display()))?;
    let (_, header) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| anyhow::anyhow!("{}: not a safetensors file: {e}", p.display()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let parse = |k: &'static str| meta.get(k).map(|v| (k, v.clone()));
    let block = parse("ftbench_nf4_block_size")
        .map(|(k, v)| {
            v.parse::<usize>()
                .with_context(|| format!("{}: metadata `{k}`: expected an integer, found `{v}`", p.display()))
        })
        .transpose()?;
    let double = parse("ftbench_nf4_double_quant")
        .map(|(k, v)| {
            v.parse::<bool>()
                .with_context(|| format!("{}: metadata `{k}`: expected true or false, found `{v}`", p.display()))
        })
        .transpose()?;
    Ok((block, double))
}

/// What `ftbench generate` was asked.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateRequest {
    /// preset:NAME, hf:DIR or gguf:FILE (default: the adapter's base model).
    #[arg(long)]
    pub model: Option<String>,
    /// An adapter folder (PEFT layout) written by a cell with `save_adapter: true`.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// The prompt text (encoded with the model's tokenizer).
    #[arg(long, conflicts_with = "prompt_ids", required_unless_present = "prompt_ids")]
    pub prompt: Option<String>,
    /// The prompt as token ids, comma- or space-separated (models without a tokenizer).
    #[arg(long)]
    pub prompt_ids: Option<String>,
    #[arg(long, default_value_t = 32)]
    pub max_new_tokens: usize,
    /// Print the continuation's token ids instead of its text.
    #[arg(long)]
    pub ids: bool,
}

/// Runs a generation request; returns what to print (the continuation, or its ids).
pub fn run_generate(req: &GenerateRequest) -> Result<String> {
    let need_tokenizer = req.prompt.is_some() || !req.ids;
    let m = load_for_inference(req.model.as_deref(), req.adapter.as_deref(), need_tokenizer, &Device::Cpu)?;
    let prompt = match (&req.prompt, &req.prompt_ids) {
        (Some(text), None) => m.tokenizer.as_ref().context("no tokenizer")?.encode(text)?,
        (None, Some(ids)) => parse_ids(ids)?,
        _ => bail!("give exactly one of --prompt TEXT and --prompt-ids IDS"),
    };
    let out = greedy(&m.built.decoder, &prompt, req.max_new_tokens, &m.eos).context("generating")?;
    if req.ids {
        return Ok(out.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
    }
    m.tokenizer.as_ref().context("no tokenizer")?.decode(&out)
}

/// "1, 2 3" → [1, 2, 3].
pub fn parse_ids(s: &str) -> Result<Vec<u32>> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u32>().with_context(|| format!("--prompt-ids: `{p}` is not a token id")))
        .collect()
}
