"""GaLore's own AdamW (galore-torch 1.0, the paper authors' package) on two weights, as
known-answer data for the GaLore optimizer's tests (harness/train/galore.rs).

    /tmp/ref/bin/pip install torch safetensors galore-torch
    /tmp/ref/bin/python tests/scripts/galore_known_answer.py tests/data/galore_adamw_1.safetensors

A 12 x 20 weight (projected from the left: U[:, :r]) and a 20 x 12 weight (from the right:
Vh[:r]) and a 12-value vector (plain AdamW, as GaLore leaves non-matrix parameters), three steps
of fixed gradients, rank 4, scale 0.25, lr 0.01, weight decay 0.1, projector computed at the first
step only (update_proj_gap 200: a refresh at a later step would depend on the SVD's sign choices,
which differ between libraries).
"""
import sys

import torch
from galore_torch import GaLoreAdamW
from safetensors.torch import save_file


def main(out):
    torch.manual_seed(3)
    w_left = torch.nn.Parameter(torch.randn(12, 20) * 0.5)
    w_right = torch.nn.Parameter(torch.randn(20, 12) * 0.5)
    bias = torch.nn.Parameter(torch.randn(12) * 0.5)
    grads = [[torch.randn_like(p) for p in (w_left, w_right, bias)] for _ in range(3)]
    tensors = {"w_left_0": w_left.detach().clone(), "w_right_0": w_right.detach().clone(), "bias_0": bias.detach().clone()}
    opt = GaLoreAdamW(
        [
            {"params": [w_left, w_right], "rank": 4, "update_proj_gap": 200, "scale": 0.25, "proj_type": "std"},
            {"params": [bias]},
        ],
        lr=0.01,
        weight_decay=0.1,
        betas=(0.9, 0.999),
        eps=1e-6,
    )
    for step, gs in enumerate(grads, start=1):
        for p, g in zip((w_left, w_right, bias), gs):
            p.grad = g.clone()
            tensors[f"grad_{step}_{'w_left' if p is w_left else 'w_right' if p is w_right else 'bias'}"] = g.clone()
        opt.step()
        tensors[f"w_left_{step}"] = w_left.detach().clone()
        tensors[f"w_right_{step}"] = w_right.detach().clone()
        tensors[f"bias_{step}"] = bias.detach().clone()
    save_file(tensors, out, metadata={"galore_torch": "1.0", "torch": torch.__version__})
    print(out, len(tensors), "tensors")


if __name__ == "__main__":
    main(sys.argv[1])
