//! The decoder's configuration, with Hugging Face `config.json` field names, and the built-in
//! shape presets. One decoder serves every family it reads (Llama, Mistral, Qwen2/2.5, Qwen3,
//! Gemma 2/3, Phi-3): what differs between them is a handful of options here, each set by the
//! loader from what the checkpoint's config says (load/hf_config.rs, load/gguf.rs).

use serde::{Deserialize, Serialize};

/// The architecture a checkpoint declares: it decides tensor names and how a checkpoint is
/// written back; the options below decide the computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    #[default]
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
    Gemma2,
    Gemma3,
    Phi3,
}

impl Family {
    pub const ALL: [Family; 7] = [
        Family::Llama,
        Family::Mistral,
        Family::Qwen2,
        Family::Qwen3,
        Family::Gemma2,
        Family::Gemma3,
        Family::Phi3,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
            Family::Gemma2 => "gemma2",
            Family::Gemma3 => "gemma3",
            Family::Phi3 => "phi3",
        }
    }

    /// transformers' class for it (config.json `architectures[0]`).
    pub fn architecture(self) -> &'static str {
        match self {
            Family::Llama => "LlamaForCausalLM",
            Family::Mistral => "MistralForCausalLM",
            Family::Qwen2 => "Qwen2ForCausalLM",
            Family::Qwen3 => "Qwen3ForCausalLM",
            Family::Gemma2 => "Gemma2ForCausalLM",
            Family::Gemma3 => "Gemma3ForCausalLM",
            Family::Phi3 => "Phi3ForCausalLM",
        }
    }

    /// llama.cpp's `general.architecture` for it (Mistral's files say `llama`).
    pub fn gguf_architecture(self) -> &'static str {
        match self {
            Family::Mistral => "llama",
            f => f.name(),
        }
    }

    /// What the family adds to Llama's block, for `ftbench list`.
    pub fn about(self) -> &'static str {
        match self {
            Family::Llama => "the base: RMSNorm, RoPE, grouped-query attention, SwiGLU (Llama 2/3, SmolLM2)",
            Family::Mistral => "Llama with sliding-window attention",
            Family::Qwen2 => "biases on q, k, v (Qwen2, Qwen2.5)",
            Family::Qwen3 => "RMSNorm of q and k per head",
            Family::Gemma2 => "(1 + w) norms, √h-scaled embeddings, GeGLU, norms around attention and MLP, alternate sliding layers, soft-capped scores and logits",
            Family::Gemma3 => "Gemma 2 without soft caps, with per-head q/k norms, five sliding layers in six and a local RoPE base",
            Family::Phi3 => "fused qkv_proj and gate_up_proj (LoRA targets those names)",
        }
    }

    /// config.json's `model_type` for it.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Gemma3 => "gemma3_text",
            f => f.name(),
        }
    }

    /// The family of a transformers class or model type.
    pub fn of_hf(architecture: Option<&str>, model_type: Option<&str>) -> Option<Family> {
        Family::ALL
            .into_iter()
            .find(|f| architecture.map_or_else(|| model_type == Some(f.model_type()), |a| a == f.architecture()))
    }

    /// `cfg` with the options that come with the architecture itself rather than from its
    /// config's fields (the loaders read the rest): Qwen2's q/k/v biases, Qwen3's and Gemma 3's
    /// per-head q/k norms, Gemma's (1 + w) norms, scaled embeddings, GeGLU and sandwich norms,
    /// Phi-3's fused projections.
    pub fn configure(self, cfg: DecoderConfig) -> DecoderConfig {
        let gemma = matches!(self, Family::Gemma2 | Family::Gemma3);
        DecoderConfig {
            family: self,
            qkv_bias: self == Family::Qwen2,
            qk_norm: matches!(self, Family::Qwen3 | Family::Gemma3),
            norm_plus_one: gemma,
            scale_embeddings: gemma,
            activation: if gemma { Activation::GeluTanh } else { Activation::Silu },
            sandwich_norms: gemma,
            fused_projections: self == Family::Phi3,
            ..cfg
        }
    }
}

/// The MLP's gate activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// SwiGLU: silu(gate) · up (Llama, Mistral, Qwen, Phi-3).
    #[default]
    Silu,
    /// GeGLU with the tanh approximation of GELU (Gemma's `gelu_pytorch_tanh`).
    GeluTanh,
}

/// How a layer attends (config.json's `layer_types` entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LayerAttention {
    /// Every earlier position.
    #[serde(rename = "full_attention")]
    Full,
    /// The last `sliding_window` positions (itself included).
    #[serde(rename = "sliding_attention")]
    Sliding,
}

impl LayerAttention {
    /// The fixed patterns of the Gemma families: one global layer in `every` (Gemma 2: 2, the
    /// even layers slide; Gemma 3: 6), the others sliding.
    pub fn one_global_in(every: usize, layers: usize) -> Vec<LayerAttention> {
        let every = every.max(1);
        (0..layers)
            .map(|i| {
                if (i + 1) % every == 0 {
                    LayerAttention::Full
                } else {
                    LayerAttention::Sliding
                }
            })
            .collect()
    }
}

/// A decoder configuration. Field names follow transformers' configs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecoderConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); equals `num_attention_heads` for plain MHA.
    pub num_key_value_heads: usize,
    /// Per-head width; `hidden_size / num_attention_heads` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    /// The LM head reuses the token embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Standard deviation of the random initialisation (transformers' `initializer_range`).
    #[serde(default = "default_init")]
    pub initializer_range: f64,
    /// RoPE frequency scaling (`linear`, `llama3`, `dynamic`); `None` for plain RoPE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<RopeScaling>,
    /// Sliding-window attention span: a query sees the last `sliding_window` positions (itself
    /// included) in the layers `layer_types` says slide (every layer when it is empty: Mistral,
    /// Phi-3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<usize>,
    /// The checkpoint's architecture (presets: llama).
    #[serde(default)]
    pub family: Family,
    /// Biases on the q, k and v projections (Qwen2).
    #[serde(default, skip_serializing_if = "is_false")]
    pub qkv_bias: bool,
    /// RMSNorm of q and k per head, before RoPE (Qwen3, Gemma 3).
    #[serde(default, skip_serializing_if = "is_false")]
    pub qk_norm: bool,
    /// Norm weights are offsets from one: a norm scales by (1 + w) (Gemma).
    #[serde(default, skip_serializing_if = "is_false")]
    pub norm_plus_one: bool,
    /// Token embeddings are multiplied by √hidden_size (Gemma).
    #[serde(default, skip_serializing_if = "is_false")]
    pub scale_embeddings: bool,
    #[serde(default)]
    pub activation: Activation,
    /// Norms on the attention's output and the MLP's output before their residual adds, and a
    /// pre-MLP norm named `pre_feedforward_layernorm` (Gemma 2/3).
    #[serde(default, skip_serializing_if = "is_false")]
    pub sandwich_norms: bool,
    /// Attention scores scaled by query_pre_attn_scalar^-½ instead of head_dim^-½ (Gemma).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_pre_attn_scalar: Option<usize>,
    /// Attention scores soft-capped to cap·tanh(s / cap) (Gemma 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attn_logit_softcapping: Option<f64>,
    /// Output logits soft-capped likewise (Gemma 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_logit_softcapping: Option<f64>,
    /// Per layer: full or sliding attention (Gemma 2/3). Empty: every layer slides when
    /// `sliding_window` is set, else every layer is full.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer_types: Vec<LayerAttention>,
    /// RoPE base of the sliding layers (Gemma 3's local base); the global layers use
    /// `rope_theta` and `rope_scaling`.
    #[serde(default, rename = "rope_local_base_freq", skip_serializing_if = "Option::is_none")]
    pub rope_local_theta: Option<f64>,
    /// The padding token the checkpoint declares (carried into the config.json ftbench writes:
    /// transformers' per-family defaults differ, and Phi-3's default 32000 lies outside a
    /// smaller vocabulary). The decoder itself never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<usize>,
    /// q, k, v as one `qkv_proj` and gate, up as one `gate_up_proj` (Phi-3).
    #[serde(default, skip_serializing_if = "is_false")]
    pub fused_projections: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// transformers' `rope_scaling` (rope_parameters) for the types the decoder implements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    /// `linear`, `llama3` or `dynamic` (`default` means none); older configs say `type`.
    #[serde(alias = "type")]
    pub rope_type: String,
    pub factor: f64,
    /// llama3 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_freq_factor: Option<f64>,
    /// llama3 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_freq_factor: Option<f64>,
    /// llama3 (and dynamic): the context length the model was pretrained with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_max_position_embeddings: Option<usize>,
}

/// The RoPE scaling types the decoder implements.
pub const ROPE_TYPES: &[&str] = &["default", "linear", "llama3", "dynamic"];

/// Every linear module name a block may have, by its Hugging Face name: the seven of Llama and
/// most families, and Phi-3's fused `qkv_proj` and `gate_up_proj`. A configuration's own list,
/// in block order, is [`DecoderConfig::linears`].
pub const LINEAR_NAMES: [&str; 9] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "qkv_proj",
    "gate_up_proj",
];

/// One of a block's norms: its HF tensor name under the layer (without `.weight`), and whether
/// it is per head (head_dim wide) or per token (hidden wide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormShape {
    pub hf_name: &'static str,
    pub per_head: bool,
}

/// One linear of a block: its HF name, the submodule it sits in and its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearShape {
    pub name: &'static str,
    /// `self_attn` or `mlp`.
    pub parent: &'static str,
    pub out: usize,
    pub inp: usize,
}

/// What one of a block's tensors is: a norm, a linear's weight or a linear's bias (indices
/// into [`DecoderConfig::norms`] and [`DecoderConfig::linears`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorRole {
    Norm(usize),
    Linear(usize),
    Bias(usize),
}

/// One tensor of a block: its role, its HF name under the layer (`self_attn.q_proj.weight`) and
/// its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTensor {
    pub role: TensorRole,
    pub name: String,
    pub shape: Vec<usize>,
}

fn default_init() -> f64 {
    0.02
}

impl DecoderConfig {
    /// The linears of one block with their shapes, in block order: q, k, v, o, gate, up,
    /// down; with fused projections (Phi-3) qkv, o, gate_up, down.
    pub fn linears(&self) -> Vec<LinearShape> {
        let (h, i, hd) = (self.hidden_size, self.intermediate_size, self.head_dim());
        let (q, kv) = (self.num_attention_heads * hd, self.num_key_value_heads * hd);
        let l = |name, parent, out, inp| LinearShape { name, parent, out, inp };
        if self.fused_projections {
            return vec![
                l("qkv_proj", "self_attn", q + 2 * kv, h),
                l("o_proj", "self_attn", h, q),
                l("gate_up_proj", "mlp", 2 * i, h),
                l("down_proj", "mlp", h, i),
            ];
        }
        vec![
            l("q_proj", "self_attn", q, h),
            l("k_proj", "self_attn", kv, h),
            l("v_proj", "self_attn", kv, h),
            l("o_proj", "self_attn", h, q),
            l("gate_proj", "mlp", i, h),
            l("up_proj", "mlp", i, h),
            l("down_proj", "mlp", h, i),
        ]
    }

    /// Whether the linear `name` carries a bias (Qwen2's q, k, v).
    pub fn has_bias(&self, name: &str) -> bool {
        self.qkv_bias && matches!(name, "q_proj" | "k_proj" | "v_proj" | "qkv_proj")
    }

    /// A block's norms in `Layer::norms` order: input, pre-MLP (Llama's
    /// `post_attention_layernorm`, Gemma's `pre_feedforward_layernorm`), then Gemma's norms of
    /// the attention's and the MLP's outputs, then the per-head q and k norms.
    pub fn norms(&self) -> Vec<NormShape> {
        let n = |hf_name, per_head| NormShape { hf_name, per_head };
        let mut v = vec![n("input_layernorm", false)];
        if self.sandwich_norms {
            v.push(n("pre_feedforward_layernorm", false));
            v.push(n("post_attention_layernorm", false));
            v.push(n("post_feedforward_layernorm", false));
        } else {
            v.push(n("post_attention_layernorm", false));
        }
        if self.qk_norm {
            v.push(n("self_attn.q_norm", true));
            v.push(n("self_attn.k_norm", true));
        }
        v
    }

    /// Every tensor of one block in build order (the order sources give them and random init
    /// draws them): input norm, the attention's linears (each with its bias), q/k norms, the
    /// norms around the MLP's input, the MLP's linears, the norm of its output.
    pub fn block_tensors(&self) -> Vec<BlockTensor> {
        let (norms, linears) = (self.norms(), self.linears());
        let width = |n: &NormShape| if n.per_head { self.head_dim() } else { self.hidden_size };
        let norm = |name: &str| {
            let k = norms.iter().position(|n| n.hf_name == name).expect("a norm of this config");
            BlockTensor {
                role: TensorRole::Norm(k),
                name: format!("{name}.weight"),
                shape: vec![width(&norms[k])],
            }
        };
        let mut v = vec![norm("input_layernorm")];
        let linears_of = |v: &mut Vec<BlockTensor>, parent: &str| {
            for (k, l) in linears.iter().enumerate().filter(|(_, l)| l.parent == parent) {
                let name = format!("{}.{}", l.parent, l.name);
                v.push(BlockTensor {
                    role: TensorRole::Linear(k),
                    name: format!("{name}.weight"),
                    shape: vec![l.out, l.inp],
                });
                if self.has_bias(l.name) {
                    v.push(BlockTensor {
                        role: TensorRole::Bias(k),
                        name: format!("{name}.bias"),
                        shape: vec![l.out],
                    });
                }
            }
        };
        linears_of(&mut v, "self_attn");
        if self.qk_norm {
            v.extend([norm("self_attn.q_norm"), norm("self_attn.k_norm")]);
        }
        v.push(norm("post_attention_layernorm"));
        if self.sandwich_norms {
            v.push(norm("pre_feedforward_layernorm"));
        }
        linears_of(&mut v, "mlp");
        if self.sandwich_norms {
            v.push(norm("post_feedforward_layernorm"));
        }
        v
    }

    /// The window of layer `i` when it slides; None when it attends to every earlier position.
    pub fn layer_window(&self, i: usize) -> Option<usize> {
        match self.layer_types.get(i) {
            Some(LayerAttention::Full) => None,
            Some(LayerAttention::Sliding) => self.sliding_window,
            None if self.layer_types.is_empty() => self.sliding_window,
            None => None,
        }
    }

    /// The scale of attention scores.
    pub fn attention_scale(&self) -> f64 {
        1.0 / (self.query_pre_attn_scalar.unwrap_or(self.head_dim()) as f64).sqrt()
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads)
    }

    /// Checks the shape constraints the decoder relies on. The error names the field.
    pub fn check(&self) -> Result<(), String> {
        let nonzero = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (k, v) in nonzero {
            if v == 0 {
                return Err(format!("{k}: must be positive, found 0"));
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            return Err(format!(
                "num_key_value_heads: must divide num_attention_heads ({}), found {}",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size: must be a multiple of num_attention_heads ({}), found {}",
                self.num_attention_heads, self.hidden_size
            ));
        }
        if self.head_dim == Some(0) {
            return Err("head_dim: must be positive, found 0".into());
        }
        // Every count ftbench makes of this model is a product of these sizes: refuse sizes
        // whose parameter count would not fit (a wrapped count would print as a small model).
        let (h, i, hd) = (self.hidden_size as u128, self.intermediate_size as u128, self.head_dim() as u128);
        let q = self.num_attention_heads as u128 * hd;
        let kv = self.num_key_value_heads as u128 * hd;
        let params = 2 * self.vocab_size as u128 * h + self.num_hidden_layers as u128 * (2 * h * q + 2 * h * kv + 3 * h * i + 2 * h);
        if params > 1u128 << 50 {
            return Err(format!(
                "the sizes give {params} parameters (more than 2^50): hidden_size, intermediate_size, num_hidden_layers or vocab_size is out of range"
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(format!(
                "head_dim: rotary embeddings need an even head width, found {}",
                self.head_dim()
            ));
        }
        if !(self.rms_norm_eps > 0.0 && self.rope_theta > 0.0) {
            return Err("rms_norm_eps and rope_theta: must be positive".into());
        }
        if let Some(r) = &self.rope_scaling {
            r.check().map_err(|e| format!("rope_scaling: {e}"))?;
        }
        if self.query_pre_attn_scalar == Some(0) {
            return Err("query_pre_attn_scalar: must be positive, found 0".into());
        }
        if self.sliding_window == Some(0) {
            return Err("sliding_window: must be positive, found 0".into());
        }
        if !self.layer_types.is_empty() && self.layer_types.len() != self.num_hidden_layers {
            return Err(format!(
                "layer_types: expected one entry per layer ({}), found {}",
                self.num_hidden_layers,
                self.layer_types.len()
            ));
        }
        if self.layer_types.contains(&LayerAttention::Sliding) && self.sliding_window.is_none() {
            return Err("layer_types: sliding layers need sliding_window".into());
        }
        for (k, v) in [
            ("attn_logit_softcapping", self.attn_logit_softcapping),
            ("final_logit_softcapping", self.final_logit_softcapping),
            ("rope_local_base_freq", self.rope_local_theta),
        ] {
            if v.is_some_and(|x| !(x.is_finite() && x > 0.0)) {
                return Err(format!("{k}: must be a positive number, found {}", v.unwrap_or(0.0)));
            }
        }
        Ok(())
    }

    /// RoPE inverse frequencies of layer `i`: the sliding layers' local base (plain) where the
    /// config has one, else the global ones.
    pub fn layer_rope_inv_freq(&self, i: usize) -> Vec<f64> {
        match (self.layer_window(i), self.rope_local_theta) {
            (Some(_), Some(theta)) => {
                let d = self.head_dim();
                (0..d / 2).map(|k| theta.powf(-2.0 * k as f64 / d as f64)).collect()
            }
            _ => self.rope_inv_freq(),
        }
    }

    /// RoPE inverse frequencies (head_dim / 2 of them), with the config's scaling applied, as
    /// transformers' `ROPE_INIT_FUNCTIONS` compute them.
    pub fn rope_inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim();
        let base: Vec<f64> = (0..d / 2).map(|i| self.rope_theta.powf(-2.0 * i as f64 / d as f64)).collect();
        match &self.rope_scaling {
            None => base,
            Some(r) => r.apply(base),
        }
    }

    /// Parameter count by the shapes: linears, their biases, norms (embedding counted once
    /// when tied).
    pub fn num_parameters(&self) -> usize {
        let (h, hd) = (self.hidden_size, self.head_dim());
        let bias = |l: &LinearShape| if self.has_bias(l.name) { l.out } else { 0 };
        let linears: usize = self.linears().iter().map(|l| l.out * l.inp + bias(l)).sum();
        let norms: usize = self.norms().iter().map(|n| if n.per_head { hd } else { h }).sum();
        let embed = self.vocab_size * h;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        embed + self.num_hidden_layers * (linears + norms) + h + head
    }
}

impl RopeScaling {
    /// Checks the type is one the decoder implements and its parameters are there.
    pub fn check(&self) -> Result<(), String> {
        if !ROPE_TYPES.contains(&self.rope_type.as_str()) {
            return Err(format!(
                "rope_type `{}` is not supported; expected one of: {}",
                self.rope_type,
                ROPE_TYPES.join(", ")
            ));
        }
        if self.factor.is_nan() || self.factor <= 0.0 {
            return Err(format!("factor: must be positive, found {}", self.factor));
        }
        if self.rope_type == "llama3" {
            let (lo, hi) = (self.low_freq_factor.unwrap_or(0.0), self.high_freq_factor.unwrap_or(0.0));
            if !(lo > 0.0 && hi > lo) {
                return Err(format!(
                    "llama3 needs low_freq_factor > 0 and high_freq_factor > low_freq_factor, found {:?} and {:?}",
                    self.low_freq_factor, self.high_freq_factor
                ));
            }
            if self.original_max_position_embeddings.unwrap_or(0) == 0 {
                return Err("llama3 needs original_max_position_embeddings".into());
            }
        }
        Ok(())
    }

    /// Scales the plain inverse frequencies. `dynamic` (NTK) changes nothing up to
    /// max_position_embeddings, the longest sequence the decoder accepts.
    fn apply(&self, inv_freq: Vec<f64>) -> Vec<f64> {
        match self.rope_type.as_str() {
            "linear" => inv_freq.into_iter().map(|f| f / self.factor).collect(),
            "llama3" => {
                let (lo, hi) = (self.low_freq_factor.unwrap_or(1.0), self.high_freq_factor.unwrap_or(4.0));
                let old = self.original_max_position_embeddings.unwrap_or(8192) as f64;
                let (low_wavelen, high_wavelen) = (old / lo, old / hi);
                inv_freq
                    .into_iter()
                    .map(|f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / self.factor
                        } else {
                            let smooth = (old / wavelen - lo) / (hi - lo);
                            (1.0 - smooth) * f / self.factor + smooth * f
                        }
                    })
                    .collect()
            }
            _ => inv_freq,
        }
    }
}

impl DecoderConfig {
    /// A Llama configuration with every family option off (the base of presets and tests);
    /// its sizes are Llama-2-7B's.
    pub fn llama() -> DecoderConfig {
        DecoderConfig {
            vocab_size: 32000,
            hidden_size: 4096,
            intermediate_size: 11008,
            num_hidden_layers: 32,
            num_attention_heads: 32,
            num_key_value_heads: 32,
            head_dim: None,
            max_position_embeddings: 4096,
            rms_norm_eps: 1e-5,
            rope_theta: 10000.0,
            tie_word_embeddings: false,
            initializer_range: 0.02,
            rope_scaling: None,
            sliding_window: None,
            family: Family::Llama,
            qkv_bias: false,
            qk_norm: false,
            norm_plus_one: false,
            scale_embeddings: false,
            activation: Activation::Silu,
            sandwich_norms: false,
            query_pre_attn_scalar: None,
            attn_logit_softcapping: None,
            final_logit_softcapping: None,
            layer_types: Vec::new(),
            rope_local_theta: None,
            pad_token_id: None,
            fused_projections: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_scaling_follows_transformers() {
        // Llama 3's RoPE: 128-wide heads, base 500000.
        let base = DecoderConfig {
            rope_theta: 500000.0,
            ..DecoderConfig::llama()
        };
        let plain = base.rope_inv_freq();
        let scaled = |rope_type: &str| DecoderConfig {
            rope_scaling: Some(RopeScaling {
                rope_type: rope_type.into(),
                factor: 8.0,
                low_freq_factor: Some(1.0),
                high_freq_factor: Some(4.0),
                original_max_position_embeddings: Some(8192),
            }),
            ..base.clone()
        };
        let linear = scaled("linear").rope_inv_freq();
        assert!(plain.iter().zip(&linear).all(|(p, l)| (p / 8.0 - l).abs() < 1e-15));
        // llama3 (Llama 3.1): wavelengths under 8192/4 keep their frequency, over 8192/1 are
        // divided by the factor, and those between are blended smoothly.
        let l3 = scaled("llama3").rope_inv_freq();
        for (p, l) in plain.iter().zip(&l3) {
            let wavelen = 2.0 * std::f64::consts::PI / p;
            if wavelen < 2048.0 {
                assert_eq!(p, l);
            } else if wavelen > 8192.0 {
                assert!((p / 8.0 - l).abs() < 1e-15);
            } else {
                assert!(*l < *p && *l > p / 8.0);
            }
        }
        assert!(l3.windows(2).all(|w| w[1] < w[0]), "still decreasing");
        assert_eq!(
            scaled("dynamic").rope_inv_freq(),
            plain,
            "dynamic NTK is plain RoPE within max_position_embeddings"
        );
        assert!(scaled("yarn").check().unwrap_err().contains("yarn"));
    }
}
