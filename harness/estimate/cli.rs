//! `ftbench estimate`: the memory breakdown of a planned run, where it fits, and what it costs.

use super::{article_rows, estimate, load_profiles, Estimate, EstimateInput, Implementation, Profiles, Shapes};
use crate::method::Method;
use crate::model::DecoderConfig;
use crate::suite::{Cell, Knobs, Plan};
use anyhow::{Context, Result};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct EstimateArgs {
    /// The model: `preset:NAME`, `hf:DIR` (reads DIR/config.json), `gguf:FILE` (reads its metadata) or a config.json path.
    #[arg(long, required_unless_present = "article")]
    pub model: Option<String>,
    /// A registered method (`ftbench list` prints them).
    #[arg(long, default_value = "full", value_parser = parse_method)]
    pub method: Method,
    /// Sequences per micro-batch.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub batch: u64,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 512, allow_negative_numbers = true)]
    pub seq_len: u64,
    /// Positions that compute logits (default batch × seq_len).
    #[arg(long)]
    pub loss_tokens: Option<u64>,
    /// The `precision` knob's values (`ftbench list`): f32, bf16-mixed (f32 master weights and
    /// AdamW state, bf16 compute), bf16. Default: bf16-mixed on a GPU, f32 on the CPU.
    #[arg(long, value_parser = parse_precision)]
    pub precision: Option<String>,
    /// A registered optimizer (`ftbench list`); its own knobs at their defaults.
    #[arg(long, default_value = "adamw", value_parser = parse_optimizer)]
    pub optimizer: String,
    /// Gradient checkpointing (activation recompute).
    #[arg(long)]
    pub recompute: bool,
    #[arg(long, default_value_t = 16)]
    pub lora_rank: u64,
    /// Comma-separated module names, or all-linear.
    #[arg(long, default_value = "all-linear", value_delimiter = ',')]
    pub lora_targets: Vec<String>,
    #[arg(long, default_value_t = 64)]
    pub nf4_block_size: u64,
    /// QLoRA without double quantization of the block constants.
    #[arg(long)]
    pub no_double_quant: bool,
    /// gpu or cpu.
    #[arg(long, default_value = "gpu", value_parser = ["gpu", "cpu"])]
    pub device: String,
    /// Whose activations to count: pytorch (transformers + PEFT; the default on a GPU), ftbench
    /// (fused kernels, the default on the CPU) or ftbench-composed (fused_ops: false).
    #[arg(long, value_enum)]
    pub implementation: Option<Implementation>,
    /// Data-parallel GPUs sharing full fine-tuning (with --zero; default 1).
    #[arg(long, default_value_t = 1)]
    pub gpus: u64,
    /// ZeRO stage 0-3 (DeepSpeed; 3 = FSDP full sharding) over --gpus: model states per GPU.
    #[arg(long)]
    pub zero: Option<u8>,
    /// Tokens to train on, for time and cost estimates.
    #[arg(long)]
    pub tokens: Option<f64>,
    /// A hardware profiles file (default: the built-in suites/shared/hardware.yaml).
    #[arg(long)]
    pub hardware: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Print the article's 7B table: estimates next to the published ranges and PyTorch's measurements.
    #[arg(long)]
    pub article: bool,
}

fn parse_method(s: &str) -> Result<Method, String> {
    Method::lookup(s)
}

/// A precision's knob name; `mixed` and `fp32`, the names this flag had before it took the
/// knob's, still read.
fn parse_precision(s: &str) -> Result<String, String> {
    let name = match s {
        "mixed" => "bf16-mixed",
        "fp32" => "f32",
        other => other,
    };
    crate::model::precision(name).map(|p| p.name.to_string())
}

fn parse_optimizer(s: &str) -> Result<String, String> {
    let name = if s == "adamw8bit" { "adamw-8bit" } else { s };
    crate::train::optimizer_kind(name).map(|o| o.name().to_string())
}

/// A model's config from `preset:NAME`, `hf:DIR`, `gguf:FILE` (metadata only) or a config.json path.
pub fn model_config(spec: &str) -> Result<DecoderConfig> {
    if spec.ends_with(".json") && !spec.contains(':') {
        let path = PathBuf::from(spec);
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}: cannot read", path.display()))?;
        return crate::load::hf_config::parse_config(&path, &text);
    }
    crate::load::ModelSpec::parse(spec).map_err(anyhow::Error::msg)?.config()
}

impl EstimateArgs {
    /// The plan of a cell with these settings (the shapes are not knobs here: they come from
    /// --batch, --seq-len and --loss-tokens as given, however large).
    pub fn plan(&self, model: &str) -> Result<Plan> {
        let gpu = self.device == "gpu";
        let default_precision = if gpu { "bf16-mixed" } else { "f32" };
        let knobs = Knobs {
            precision: self.precision.clone().unwrap_or_else(|| default_precision.into()),
            optimizer: self.optimizer.clone(),
            recompute: self.recompute,
            lora_rank: u32::try_from(self.lora_rank).map_err(|_| anyhow::anyhow!("--lora-rank {}: too large", self.lora_rank))?,
            lora_targets: self.lora_targets.clone(),
            nf4_block_size: u32::try_from(self.nf4_block_size)
                .map_err(|_| anyhow::anyhow!("--nf4-block-size {}: too large", self.nf4_block_size))?,
            nf4_double_quant: !self.no_double_quant,
            fused_ops: self.implementation != Some(Implementation::FtbenchComposed),
            ..Knobs::default()
        };
        // The model enters the estimate through its config, read apart (a config.json path is no
        // model spec); the plan's model is only a name here.
        let spec = if crate::load::ModelSpec::parse(model).is_ok() {
            model
        } else {
            "preset:tiny"
        };
        let cell = Cell::new(spec, self.method, if gpu { "cuda:0" } else { "cpu" }, 0, knobs);
        cell.plan().map_err(|(k, e)| anyhow::anyhow!("--{}: {e}", k.replace('_', "-")))
    }

    /// The estimator's input: the plan at the shapes given.
    pub fn input(&self, model: &str) -> Result<EstimateInput> {
        let gpu = self.device == "gpu";
        let shapes = Shapes {
            batch: self.batch,
            seq_len: self.seq_len,
            // Saturating: sizes too large to count are refused by `estimate`, which says so.
            loss_tokens: self.loss_tokens.unwrap_or(self.batch.saturating_mul(self.seq_len)),
            how: "as given (--batch, --seq-len)".into(),
        };
        let mut x = EstimateInput::of_plan(&self.plan(model)?, shapes);
        x.implementation = self
            .implementation
            .unwrap_or(if gpu { Implementation::Pytorch } else { Implementation::Ftbench });
        Ok(x)
    }
}

const GB: f64 = 1e9;

/// One profile's verdict for an estimate.
fn fit(e: &Estimate, p: &super::HardwareProfile, mfu: f64, tokens: Option<f64>) -> Value {
    // A GPU profile needs the device view; elsewhere the tensors plus the process baseline.
    let need = if p.gpu {
        e.total_bytes
    } else {
        e.peak_tensor_bytes + e.get("runtime_overhead")
    } as f64;
    let have = p.memory_gb * GB;
    let hours = tokens.map(|t| t * e.flops_per_token / (p.bf16_tflops * 1e12 * mfu) / 3600.0);
    json!({
        "profile": p.name,
        "memory_gb": p.memory_gb,
        "fits": need <= have,
        "margin_gb": (have - need) / GB,
        "hours": hours,
        "cost_usd": hours.and_then(|h| p.price_per_hour.map(|c| h * c)),
    })
}

pub fn run(args: &EstimateArgs) -> Result<()> {
    let profiles = load_profiles(args.hardware.as_deref())?;
    if args.article {
        return print_article(args.json);
    }
    let spec = args.model.as_deref().context("--model is required")?;
    let cfg = model_config(spec)?;
    let x = args.input(spec)?;
    let e = match (args.zero, args.gpus) {
        (None, 1) => estimate(&cfg, &x),
        (None, n) => Err(format!("--gpus {n}: say how the GPUs share the model with --zero 0|1|2|3")),
        (Some(stage), n) => super::estimate_zero(&cfg, &x, n, stage),
    }
    .map_err(|m| anyhow::anyhow!("{m}"))?;
    let fits = fits(args, &e, &profiles);
    let smallest = fits.iter().filter(|f| f["fits"] == true).min_by(|a, b| {
        a["memory_gb"]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&b["memory_gb"].as_f64().unwrap_or(0.0))
    });
    let cheapest = cheapest_fit(&fits, &profiles);
    if args.json {
        return print_json(args, spec, &x, &e, &fits, smallest, cheapest);
    }
    print_breakdown(args, spec, &x, &e);
    print_fits(args, &profiles, &fits);
    println!(
        "smallest that fits: {}; cheapest that fits: {}",
        smallest.map_or("none".into(), |f| f["profile"].as_str().unwrap_or("").to_string()),
        cheapest
            .as_ref()
            .and_then(|c| c.as_str().map(str::to_string))
            .unwrap_or_else(|| "none with a price".into())
    );
    Ok(())
}

/// Every hardware profile's verdict; sharded over GPUs, only GPU profiles, each named as N of
/// them (time: N GPUs' throughput).
fn fits(args: &EstimateArgs, e: &Estimate, profiles: &Profiles) -> Vec<Value> {
    profiles
        .profiles
        .iter()
        .filter(|p| args.zero.is_none() || p.gpu)
        .map(|p| {
            let mut f = fit(e, p, profiles.assumed_mfu, args.tokens);
            if args.zero.is_some() {
                let n = args.gpus as f64;
                f["profile"] = json!(format!("{}× {}", args.gpus, p.name));
                f["hours"] = json!(f["hours"].as_f64().map(|h| h / n));
                f["cost_usd"] = json!(f["cost_usd"].as_f64());
            }
            f
        })
        .collect()
}

fn print_json(
    args: &EstimateArgs,
    spec: &str,
    x: &EstimateInput,
    e: &Estimate,
    fits: &[Value],
    smallest: Option<&Value>,
    cheapest: Option<Value>,
) -> Result<()> {
    let mut obj = json!({
        "model": spec,
        "conditions": x,
        "gpus": args.gpus,
        "zero_stage": args.zero,
        "per_gpu": args.zero.is_some(),
        "total_bytes": e.total_bytes,
        "peak_tensor_bytes": e.peak_tensor_bytes,
        "views": {
            "peak_tensor_bytes": "tensor bytes at the peak (allocator view: PyTorch max_memory_allocated, ftbench RSS above baseline)",
            "total_bytes": "peak tensor bytes + runtime_overhead (device-used view on a GPU, process RSS on the CPU)"
        },
        "params_base": e.params_base,
        "params_adapters": e.params_adapters,
        "params_trainable": e.params_trainable,
        "flops_per_token": e.flops_per_token,
        "components": e.components,
        "hardware": fits,
        "smallest_fit": smallest.map(|f| f["profile"].clone()),
        "cheapest_fit": cheapest,
    });
    for comp in &e.components {
        obj[comp.name.as_str()] = json!(comp.bytes);
    }
    println!("{}", serde_json::to_string_pretty(&obj)?);
    Ok(())
}

/// The conditions line, the components and the totals.
fn print_breakdown(args: &EstimateArgs, spec: &str, x: &EstimateInput, e: &Estimate) {
    let lora = if !x.method.has_adapters() {
        String::new()
    } else {
        format!("LoRA r{} on {} · ", x.lora_rank, x.lora_targets.join(","))
    };
    let implementation = match x.implementation {
        Implementation::Pytorch => "transformers + PEFT (SDPA)",
        Implementation::Ftbench => "ftbench (candle, fused kernels)",
        Implementation::FtbenchComposed => "ftbench (candle, composed ops)",
    };
    println!(
        "{spec} · {} · batch {} × {} tokens · precision {} · {} · recompute {} · {lora}activations as {implementation}",
        x.method,
        x.batch,
        x.seq_len,
        x.precision.name,
        x.optimizer.kind().name(),
        if x.recompute { "on" } else { "off" },
    );
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(["component", "GB", "how it was counted"]);
    for comp in &e.components {
        t.add_row([comp.name.clone(), format!("{:.3}", comp.bytes as f64 / GB), comp.note.clone()]);
    }
    println!("{t}");
    if let Some(stage) = args.zero {
        println!(
            "per GPU, ZeRO-{stage} over {} GPUs (each runs batch {} × {}: {} sequences per step in all):",
            args.gpus,
            x.batch,
            x.seq_len,
            args.gpus.saturating_mul(x.batch)
        );
    }
    println!(
        "peak tensor bytes (allocated view): {:.2} GB; with runtime overhead ({} view): {:.2} GB",
        e.peak_tensor_bytes as f64 / GB,
        if x.gpu { "device used" } else { "process RSS" },
        e.total_bytes as f64 / GB
    );
    println!(
        "parameters: {:.1}M base, {:.2}M adapters; trainable {:.2}M ({:.2}%)",
        e.params_base as f64 / 1e6,
        e.params_adapters as f64 / 1e6,
        e.params_trainable as f64 / 1e6,
        100.0 * e.params_trainable as f64 / (e.params_base + e.params_adapters) as f64
    );
}

/// Where it fits, with time and cost for --tokens.
fn print_fits(args: &EstimateArgs, profiles: &Profiles, fits: &[Value]) {
    let mut h = Table::new();
    let time_head = args.tokens.map_or("time / cost (give --tokens)".to_string(), |t| {
        format!("time / cost for {t:.3e} tokens at MFU {}", profiles.assumed_mfu)
    });
    h.load_preset(UTF8_FULL_CONDENSED)
        .set_header(["hardware", "memory GB", "fits", "margin GB", &time_head]);
    for f in fits {
        let tc = match (f["hours"].as_f64(), f["cost_usd"].as_f64()) {
            (Some(hr), Some(c)) => format!("{hr:.2} h, ${c:.2}"),
            (Some(hr), None) => format!("{hr:.2} h"),
            _ => "–".into(),
        };
        h.add_row([
            f["profile"].as_str().unwrap_or("").to_string(),
            format!("{}", f["memory_gb"]),
            if f["fits"] == true { "yes".into() } else { "no".into() },
            format!("{:+.1}", f["margin_gb"].as_f64().unwrap_or(0.0)),
            tc,
        ]);
    }
    println!("{h}");
}

/// The cheapest fitting profile: by cost for the given tokens, else by price per hour.
fn cheapest_fit(fits: &[Value], profiles: &Profiles) -> Option<Value> {
    let price = |f: &Value| -> Option<f64> {
        f["cost_usd"]
            .as_f64()
            .or_else(|| profiles.get(f["profile"].as_str()?.rsplit(" ").next()?)?.price_per_hour)
    };
    fits.iter()
        .filter(|f| f["fits"] == true)
        .filter_map(|f| price(f).map(|p| (p, f)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, f)| f["profile"].clone())
}

fn print_article(as_json: bool) -> Result<()> {
    let rows = article_rows();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("7B fine-tuning memory, batch 4 × 512 tokens, gradient checkpointing, AdamW (GB = 1e9 bytes).");
    println!("estimate: ftbench's memory model with PyTorch's activations (SDPA). Views: 'allocated' = peak tensor bytes;");
    println!("'device' = what nvidia-smi/NVML shows (estimate: + CUDA context, no allocator cache; reference: measured).");
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header([
        "model",
        "setting",
        "published",
        "estimate allocated",
        "estimate device",
        "PyTorch H200 allocated",
        "PyTorch H200 device",
        "estimate vs allocated",
    ]);
    for r in &rows {
        let pct = r
            .reference_allocated_gb
            .map_or("–".into(), |m| format!("{:+.1}%", 100.0 * (r.estimate_tensor_gb - m) / m));
        t.add_row([
            r.model.clone(),
            r.setting.clone(),
            format!("{:.0}-{:.0}", r.published_gb.0, r.published_gb.1),
            format!("{:.1}", r.estimate_tensor_gb),
            format!("{:.1}", r.estimate_device_gb),
            r.reference_allocated_gb.map_or("not measured".into(), |v| format!("{v:.1}")),
            r.reference_device_gb.map_or("not measured".into(), |v| format!("{v:.1}")),
            pct,
        ]);
    }
    println!("{t}");
    println!(
        "reference: PyTorch 2.11, transformers 5.17, PEFT, bitsandbytes 0.50.2 on one H200, random-init weights (shared/gpu/README.md)."
    );
    Ok(())
}
