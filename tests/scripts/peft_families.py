"""PEFT's logits with LoRA adapters ftbench trained on the tiny Qwen2, Gemma 3 and Phi-3
checkpoints of tests/data/families (all-linear r4: Phi-3's fused qkv_proj and gate_up_proj
included), for tests/families.rs: PEFT must load each adapter as ftbench wrote it and give the
logits and the greedy continuation ftbench computes with it.

    ftbench run SUITE (LoRA, save_adapter: true, on hf:tests/data/families/{qwen2,gemma3,phi3})
    /tmp/ref/bin/python tests/scripts/peft_families.py RESULTS/adapters tests/data/families

The adapter of each family is copied to tests/data/families/<family>/peft/adapter and the logits
written to tests/data/families/<family>/peft/peft_logits.safetensors.
"""
import json
import os
import shutil
import sys

import peft
import torch
import transformers
from safetensors.torch import save_file

IDS = [3, 17, 42, 5, 33, 60, 11, 8, 21, 7]
PROMPT = [9, 30, 4, 55, 12, 40]


def main(adapters, families):
    for cell in sorted(os.listdir(adapters)):
        src = os.path.join(adapters, cell)
        base = json.load(open(os.path.join(src, "adapter_config.json")))["base_model_name_or_path"]
        family = os.path.basename(base.rstrip("/"))
        out = os.path.join(families, family, "peft")
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(src, os.path.join(out, "adapter"))
        model = transformers.AutoModelForCausalLM.from_pretrained(
            os.path.join(families, family), dtype=torch.float32, attn_implementation="eager"
        ).eval()
        ids = torch.tensor([IDS])
        with torch.no_grad():
            base_logits = model(ids).logits[0].clone()
            model = peft.PeftModel.from_pretrained(model, os.path.join(out, "adapter")).eval()
            logits = model(ids).logits[0]
            model.generation_config.eos_token_id = None
            model.generation_config.pad_token_id = 0
            greedy = model.generate(input_ids=torch.tensor([PROMPT]), max_new_tokens=10, do_sample=False)[0, len(PROMPT):]
        save_file(
            {
                "input_ids": ids[0],
                "logits": logits.contiguous(),
                "base_logits": base_logits.contiguous(),
                "prompt": torch.tensor(PROMPT),
                "greedy": greedy.contiguous(),
            },
            os.path.join(out, "peft_logits.safetensors"),
            metadata={"peft": peft.__version__, "transformers": transformers.__version__, "torch": torch.__version__},
        )
        targets = sorted({n.split(".")[-2] for n, _ in model.named_modules() if n.endswith("lora_A")})
        print(f"{family}: {type(model.base_model.model).__name__}, adapted {targets}, "
              f"max |adapted - base| logit {(logits - base_logits).abs().max().item():.3g}, greedy {greedy.tolist()}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
