#!/usr/bin/env python3
"""Each article-7b record in one line for scripts/gpu-check.sh's summary (status, the CUDA
pool's peak, NVML's device-used peak, tokens/s, MFU), then the report's gpu.csv rows beside
PyTorch's figures. Standard library only."""
import csv
import glob
import json
import os
import sys


def gb(x):
    return f"{x / 1e9:.1f} GB" if isinstance(x, (int, float)) else "-"


def main():
    results, gpu_csv = sys.argv[1], sys.argv[2]
    records = []
    for path in sorted(glob.glob(os.path.join(results, "*.json"))):
        try:
            records.append((os.path.getmtime(path), json.load(open(path))))
        except (OSError, ValueError) as e:
            print(f"unreadable record {path}: {e}")
    # In the order they ran (started_at is to the second; a record is written when its cell ends).
    records = [r for _, r in sorted(records, key=lambda x: (x[1].get("started_at", ""), x[0]))]
    if not records:
        print("suite: no record was written")
    for r in records:
        cell, mem, timing = r.get("cell", {}), r.get("memory", {}), r.get("timing", {})
        g = mem.get("gpu") or {}
        tps, mfu = timing.get("tokens_per_s"), timing.get("mfu")
        line = (f"{r.get('status', '?'):>11}  {cell.get('label', cell.get('id', '?'))}: "
                f"pool peak {gb(g.get('pool_peak_bytes'))}, NVML peak {gb(g.get('nvml_peak_bytes'))}, "
                f"{'-' if tps is None else f'{tps:.0f}'} tokens/s, MFU {'-' if mfu is None else f'{100 * mfu:.1f}%'}, "
                f"load {timing.get('load_s') or 0:.0f} s, wall {r.get('wall_s', 0):.0f} s")
        print(line)
        if r.get("status") != "ok":
            # The first line: a CUDA error's message carries a backtrace after it.
            reason = (r.get("reason") or "").strip().splitlines()
            print(f"             reason: {reason[0][:300] if reason else ''}")
    if os.path.exists(gpu_csv):
        print("beside PyTorch (ratios ftbench / PyTorch; reports/article-7b/gpu.csv):")
        for row in csv.DictReader(open(gpu_csv)):
            f = lambda k: row.get(k) or "-"
            print(f"  {row['method']:>6} {row['precision']:>10} {row['status']:>6}: pool {f('pool_peak_gb')} / {f('torch_peak_allocated_gb')} GB = {f('pool_ratio')}; "
                  f"NVML {f('nvml_peak_gb')} / {f('torch_device_used_gb')} GB = {f('nvml_ratio')}; "
                  f"tokens/s {f('tokens_per_s')} / {f('torch_tokens_per_s')} = {f('speed_ratio')}; MFU {f('mfu')}")


if __name__ == "__main__":
    main()
