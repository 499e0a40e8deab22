"""Peer check of ftbench's exports (tests/export.rs writes the folder): transformers loads the
Hugging Face directory (AutoModelForCausalLM / AutoTokenizer) and each GGUF file through its GGUF
loader (`gguf_file=`), and must give ftbench's logits on the same file within 1e-3 and the same
greedy continuation; from each GGUF, transformers' tokenizer must give ftbench's ids for a text
without digits (transformers has no `smollm` pre-tokenizer: it splits digit runs GPT-2's way) and
carry the chat template.

    /tmp/ref/bin/python tests/scripts/export_roundtrip.py DIR
"""
import json
import os
import sys

import torch
import transformers as T
from safetensors.torch import load_file


def greedy(model, ids, n):
    ids = ids[None]
    with torch.no_grad():
        for _ in range(n):
            nxt = model(ids).logits[0, -1].argmax()
            ids = torch.cat([ids, nxt.view(1, 1)], dim=1)
    return ids[0, -n:]


def main(d):
    m = json.load(open(os.path.join(d, "manifest.json")))
    want = load_file(os.path.join(d, "expect.safetensors"))
    ids = want["input_ids"]
    failed = []
    for e in m["models"]:
        name = e["name"]
        kw = {} if e["format"] == "hf" else {"gguf_file": e["file"]}
        model = T.AutoModelForCausalLM.from_pretrained(e["dir"], attn_implementation="eager", torch_dtype=torch.float32, **kw).eval()
        tok = T.AutoTokenizer.from_pretrained(e["dir"], **kw)
        with torch.no_grad():
            logits = model(ids[None]).logits[0].float()
        diff = (logits - want[name + ".logits"]).abs().max().item()
        g = greedy(model, ids, m["new_tokens"])
        same = torch.equal(g, want[name + ".greedy"])
        got_ids = tok(m["text"], add_special_tokens=False)["input_ids"]
        tok_ok = got_ids == m["text_ids"]
        chat_ok = tok.chat_template == m["chat_template"]
        ok = diff < 1e-3 and same and tok_ok and chat_ok
        print(f"{name}: {type(model).__name__}, max |logit difference| {diff:.3g}, greedy {'same' if same else 'DIFFERENT'}, "
              f"tokens {'same' if tok_ok else 'DIFFERENT ' + str(got_ids)}, chat template {'same' if chat_ok else 'DIFFERENT'}")
        if not ok:
            failed.append(name)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1])
