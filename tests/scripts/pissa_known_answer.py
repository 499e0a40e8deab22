"""PEFT's own PiSSA initialisation of one linear layer, as known-answer data for tests/pissa.rs.

Run with PEFT 0.21 and PyTorch from PyPI:
    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install torch peft safetensors
    /tmp/ref/bin/python tests/scripts/pissa_known_answer.py tests/data/pissa_peft_1.safetensors
Writes W (the weight before), A and B as PEFT initialised them, the residual base PEFT keeps, and
the scaling, for a 12 x 20 layer at rank 4, alpha 8 (scaling 2) and with rsLoRA (alpha / sqrt r).
"""
import sys

import peft
import torch
from safetensors.torch import save_file


class One(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.proj = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
        self.proj.weight.data = w.clone()

    def forward(self, x):
        return self.proj(x)


def main(out):
    torch.manual_seed(1)
    w = torch.randn(12, 20) * 0.3
    tensors = {"weight": w}
    for tag, rslora in (("", False), ("rslora_", True)):
        cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["proj"], init_lora_weights="pissa", use_rslora=rslora)
        m = peft.get_peft_model(One(w), cfg)
        layer = m.base_model.model.proj
        tensors[tag + "lora_A"] = layer.lora_A["default"].weight.detach().clone()
        tensors[tag + "lora_B"] = layer.lora_B["default"].weight.detach().clone()
        tensors[tag + "residual"] = layer.base_layer.weight.detach().clone()
        tensors[tag + "scaling"] = torch.tensor([layer.scaling["default"]])
    save_file(tensors, out, metadata={"peft": peft.__version__, "torch": torch.__version__})
    print(out, {k: tuple(v.shape) for k, v in tensors.items()})


if __name__ == "__main__":
    main(sys.argv[1])
