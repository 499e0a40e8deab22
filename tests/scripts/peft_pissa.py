"""PEFT's logits with a PiSSA adapter ftbench trained (tests/data/peft_pissa/adapter, made by a
`lora_init: pissa` cell with save_adapter on the tiny base tests/data/peft_dora/base), for
tests/pissa.rs: PEFT reads init_lora_weights "pissa", re-runs the SVD on the original base (the
residual it keeps), and takes A and B from the file.

    /tmp/ref/bin/python tests/scripts/peft_pissa.py tests/data/peft_dora/base tests/data/peft_pissa
"""
import sys

import peft
import torch
import transformers
from safetensors.torch import save_file


def main(base_dir, out_dir):
    base = transformers.AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32)
    ids = torch.tensor([[3, 17, 42, 5, 99, 64, 11, 8, 120, 7]])
    with torch.no_grad():
        base_logits = base(ids).logits[0].clone()
        model = peft.PeftModel.from_pretrained(base, f"{out_dir}/adapter")
        logits = model(ids).logits[0]
    save_file(
        {"input_ids": ids[0], "logits": logits.contiguous(), "base_logits": base_logits.contiguous()},
        f"{out_dir}/peft_logits.safetensors",
        metadata={"peft": peft.__version__, "transformers": transformers.__version__, "torch": torch.__version__},
    )
    print("max |adapted - base| logit:", (logits - base_logits).abs().max().item())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
