"""PyTorch + transformers + PEFT training speed on the CPU, at the shape of
suites/families-speed.yaml: the peer ftbench's CPU tokens/s and peak RSS are compared with in the
same sitting (the machine drifts 15-20% between sittings, so only same-sitting ratios mean
anything).

    /tmp/ref/bin/python scripts/pytorch_train_speed.py models/gemma-3-270m-q4_k_m.gguf \
        [--batch 4 --seq-len 128 --steps 8 --warmup 2 --threads 2]

Loads the GGUF through transformers' GGUF loader (dequantized to f32), then for full fine-tuning
and for LoRA r16 on all linears (PEFT, alpha 32): AdamW, random token ids, loss on every token,
recompute off. Prints the median timed step's tokens/s and the process's peak RSS (VmHWM) for
each, each method in its own process (so the peaks are each method's own).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def vm_hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def run(args):
    import torch
    import transformers as T

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    d, f = os.path.split(os.path.abspath(args.model))
    model = T.AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    model.train()
    if args.method == "lora":
        import peft

        cfg = peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
        model = peft.get_peft_model(model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    vocab = model.config.vocab_size
    times = []
    for step in range(args.steps):
        ids = torch.randint(0, vocab, (args.batch, args.seq_len))
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    timed = times[args.warmup:]
    med = statistics.median(timed)
    tokens = args.batch * args.seq_len
    print(json.dumps({
        "method": args.method,
        "tokens_per_s": tokens / med,
        "median_step_s": med,
        "steps_s": timed,
        "peak_rss_bytes": vm_hwm(),
        "torch": torch.__version__,
        "transformers": T.__version__,
        "trainable": sum(p.numel() for p in params),
    }))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--method", choices=["full", "lora"])
    args = p.parse_args()
    if args.method:
        run(args)
        return
    for method in ["full", "lora"]:
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--method", method], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(out.stderr[-2000:])
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{os.path.basename(args.model)} {method}: {r['tokens_per_s']:.1f} tokens/s "
              f"(median of {len(r['steps_s'])} steps, {args.batch} x {args.seq_len}), peak RSS {r['peak_rss_bytes'] / 1e9:.2f} GB, "
              f"{r['trainable']} trainable, torch {r['torch']}, transformers {r['transformers']}")


if __name__ == "__main__":
    main()
