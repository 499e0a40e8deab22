"""Peer check of the checkpoints ftbench writes for every family: transformers must load each
(its class from ftbench's config.json) and give the known logits of tests/data/families.

    FTBENCH_KEEP_CHECKPOINTS=/tmp/ftsave cargo test --test families a_full_fine_tuned
    /tmp/ref/bin/python tests/scripts/families_reload.py /tmp/ftsave tests/data/families

2026-12-05, transformers 5.25.0: every family loads, max |logit difference| 0.0.
"""
import os
import sys

import torch
import transformers as T
from safetensors.torch import load_file


def main(saved, known_dir):
    worst = 0.0
    for family in sorted(os.listdir(saved)):
        model = T.AutoModelForCausalLM.from_pretrained(os.path.join(saved, family), attn_implementation="eager").eval()
        known = load_file(os.path.join(known_dir, family, "known.safetensors"))
        with torch.no_grad():
            logits = model(known["input_ids"][None]).logits[0]
        diff = (logits - known["logits"]).abs().max().item()
        worst = max(worst, diff)
        print(f"{family}: {type(model).__name__}, max |logit difference| {diff:.3g}")
    sys.exit(0 if worst < 1e-4 else 1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
