"""GGUF copies of the tiny Qwen2, Qwen3 and Phi-3 checkpoints of tests/data/families, written as
llama.cpp's converter names and lays them out (gguf-py's tensor map: `blk.N.attn_qkv`, `ffn_up`
holding Phi-3's gate and up, `attn_q.bias`, `attn_q_norm`; no q/k permutation for these
families), f32. transformers' own GGUF loader must read each back to the checkpoint's known
logits before it is kept: the peer confirms the layout, then tests/families.rs checks ftbench
reads the same files to the same logits.

Gemma 2/3 are not here: their GGUF leaves query_pre_attn_scalar and the layer pattern to the
reader (llama.cpp and transformers fill them differently for these tiny shapes); the real
Gemma-3-270M file is the GGUF check for Gemma (tests/real_model.rs).

    /tmp/ref/bin/python tests/scripts/families_gguf.py tests/data/families
"""
import json
import os
import sys

import gguf
import numpy as np
import torch
import transformers as T
from safetensors.torch import load_file

ARCH = {"qwen2": gguf.MODEL_ARCH.QWEN2, "qwen3": gguf.MODEL_ARCH.QWEN3, "phi3": gguf.MODEL_ARCH.PHI3}


def write(src, dst, name):
    cfg = json.load(open(os.path.join(src, "config.json")))
    arch = ARCH[name]
    arch_name = gguf.MODEL_ARCH_NAMES[arch]
    w = gguf.GGUFWriter(dst, arch_name)
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_dimension_count(hd)
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(cfg["rope_parameters"]["rope_theta"])
    w.add_vocab_size(cfg["vocab_size"])
    # A minimal byte-level tokenizer: transformers' GGUF loader reads one with the model.
    tokens = [f"<t{i}>" for i in range(cfg["vocab_size"])]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_merges([])
    w.add_token_types([gguf.TokenType.NORMAL] * len(tokens))
    if cfg.get("pad_token_id") is not None:
        w.add_pad_token_id(cfg["pad_token_id"])
    names = gguf.get_tensor_name_map(arch, cfg["num_hidden_layers"])
    for hf, t in load_file(os.path.join(src, "model.safetensors")).items():
        g = names.get_name(hf, try_suffixes=(".weight", ".bias"))
        if g is None:
            sys.exit(f"{name}: no GGUF name for {hf}")
        w.add_tensor(g, t.float().numpy().astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main(root):
    for name in ARCH:
        d = os.path.join(root, name)
        out = os.path.join(d, "model.gguf")
        write(d, out, name)
        # transformers' qwen3 GGUF mapping ignores `attention.key_length` (it assumes head_dim
        # 128); the file has it, so the peer is told it here.
        extra = {"head_dim": json.load(open(os.path.join(d, "config.json")))["head_dim"]} if name == "qwen3" else {}
        model = T.AutoModelForCausalLM.from_pretrained(d, gguf_file="model.gguf", dtype=torch.float32, **extra).eval()
        known = load_file(os.path.join(d, "known.safetensors"))
        with torch.no_grad():
            logits = model(known["input_ids"][None]).logits[0]
        diff = (logits - known["logits"]).abs().max().item()
        print(f"{name}: {out} ({os.path.getsize(out)} bytes), transformers' GGUF loader: max |logit difference| {diff:.3g}")
        if diff > 1e-4:
            os.remove(out)
            sys.exit(f"{name}: transformers reads the GGUF differently; not kept")


if __name__ == "__main__":
    main(sys.argv[1])
