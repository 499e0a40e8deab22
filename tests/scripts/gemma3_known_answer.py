"""transformers' answers for the real Gemma-3-270M (models/gemma-3-270m-q4_k_m.gguf, fetched by
scripts/fetch-models.sh), through transformers' own GGUF loader (dequantized to f32): token ids
of a set of texts (its GGUF tokenizer rebuild), the logits of a prompt at every position, and the
greedy continuation. For tests/real_model.rs.

The vocabulary has 262144 entries; storing every logit would take 1 MB per position. Kept: the
logits of ids 0..4095 and of each position's 64 best ids (`vocab_ids`), and each position's
log-sum-exp over the whole vocabulary (which a wrong logit anywhere would move).

    /tmp/ref/bin/python tests/scripts/gemma3_known_answer.py models/gemma-3-270m-q4_k_m.gguf \
        tests/data/gemma3_270m_known.safetensors
"""
import json
import os
import sys

import torch
import transformers as T
from safetensors.torch import save_file

TEXTS = [
    "The capital of France is",
    " The  capital   of France\tis",
    "Photosynthesis happens in the chloroplast.\n\nAnswer:",
    "über 2024 ☃ naïve café 東京 🙂",
    "<start_of_turn>user\nWhat is 12+30?<end_of_turn>\n<start_of_turn>model\n",
    "    indented code():\n\treturn x  # trailing  ",
]
PROMPT = TEXTS[0]
NEW_TOKENS = 16


def main(gguf_path, out):
    d, f = os.path.split(os.path.abspath(gguf_path))
    tok = T.AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = T.AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32).eval()
    tensors = {}
    for i, text in enumerate(TEXTS):
        tensors[f"text{i}_ids"] = torch.tensor(tok(text)["input_ids"])
    ids = tok(PROMPT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(ids).logits[0]
        gen = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False)[0, ids.shape[1]:]
    top = logits.topk(64, dim=-1).indices.flatten()
    vocab_ids = torch.unique(torch.cat([torch.arange(4096), top]))
    tensors.update(
        {
            "input_ids": ids[0],
            "vocab_ids": vocab_ids,
            "logits": logits[:, vocab_ids].contiguous(),
            "logsumexp": torch.logsumexp(logits, dim=-1),
            "greedy_continuation": gen.contiguous(),
        }
    )
    save_file(
        tensors,
        out,
        metadata={
            "texts": json.dumps(TEXTS),
            "prompt": PROMPT,
            "transformers": T.__version__,
            "torch": torch.__version__,
            "eos_token_id": json.dumps(model.generation_config.eos_token_id),
        },
    )
    print("prompt ids", ids[0].tolist())
    print("greedy", gen.tolist(), repr(tok.decode(gen)))
    print("eos", model.generation_config.eos_token_id)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
