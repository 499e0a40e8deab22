"""Known answers for every model family ftbench's decoder implements, from transformers itself:
for each family a tiny random checkpoint (transformers' own config class and model, weights
drawn wide enough that every option moves the logits: biases, (1 + w) norms, q/k norms, soft
caps, sliding windows shorter than the sequence, a local RoPE base), its logits on a fixed
sequence and its greedy continuation. tests/families.rs loads each checkpoint through `hf:` and
must reproduce both.

    /tmp/ref/bin/python tests/scripts/families_known_answer.py tests/data/families

Eager attention: the reference is the plain softmax path, the one that applies every mask and cap.
"""
import json
import os
import sys

import torch
import transformers as T
from safetensors.torch import save_file

COMMON = dict(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    rms_norm_eps=1e-6,
)

# name -> (config class, options): each exercises what its family adds to Llama.
FAMILIES = {
    "mistral": (T.MistralConfig, dict(sliding_window=4)),
    "qwen2": (T.Qwen2Config, dict(tie_word_embeddings=True)),
    "qwen3": (T.Qwen3Config, dict(head_dim=16)),
    "gemma2": (
        T.Gemma2Config,
        dict(
            head_dim=16,
            sliding_window=4,
            query_pre_attn_scalar=24,
            attn_logit_softcapping=2.0,
            final_logit_softcapping=3.0,
        ),
    ),
    "gemma3": (
        T.Gemma3TextConfig,
        dict(
            head_dim=16,
            sliding_window=4,
            query_pre_attn_scalar=24,
            layer_types=["sliding_attention", "full_attention"],
            rope_parameters={
                "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
            },
        ),
    ),
    "phi3": (T.Phi3Config, dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)),
}

IDS = [3, 17, 42, 5, 33, 60, 11, 8, 21, 7, 50, 2]
PROMPT = [9, 30, 4, 55, 12, 40]
NEW_TOKENS = 10


def randomize(model, gemma, seed):
    """Every parameter drawn: linears and embeddings N(0, 0.15²), biases N(0, 0.1²), norms
    around their identity (1, or 0 for Gemma's (1 + w) norms) with spread 0.1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name:
                p.copy_((0.0 if gemma else 1.0) + 0.1 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.15 * noise)


def main(out):
    torch.manual_seed(0)
    for i, (name, (cls, opts)) in enumerate(FAMILIES.items()):
        cfg = cls(**COMMON, **opts)
        cfg._attn_implementation = "eager"
        model = T.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
        randomize(model, name.startswith("gemma"), 100 + i)
        d = os.path.join(out, name)
        model.save_pretrained(d)
        # Only what `hf:` reads: the checkpoint and its config.
        os.remove(os.path.join(d, "generation_config.json"))
        with torch.no_grad():
            logits = model(torch.tensor([IDS])).logits[0]
            model.generation_config.eos_token_id = None
            model.generation_config.pad_token_id = 0
            gen = model.generate(
                torch.tensor([PROMPT]), max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False
            )[0, len(PROMPT):]
        save_file(
            {
                "input_ids": torch.tensor(IDS),
                "logits": logits.contiguous(),
                "prompt": torch.tensor(PROMPT),
                "greedy": gen.contiguous(),
            },
            os.path.join(d, "known.safetensors"),
            metadata={"transformers": T.__version__, "torch": torch.__version__, "class": type(model).__name__},
        )
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: {type(model).__name__}, {params} parameters, greedy {gen.tolist()}")
        with open(os.path.join(d, "config.json")) as f:
            json.load(f)


if __name__ == "__main__":
    main(sys.argv[1])
