#!/usr/bin/env python3
"""The CUDA bench's figures from its criterion output (kernels/benches/cuda.rs), for
scripts/gpu-check.sh's summary: NF4 dequantize GB/s (goal >= 2 x bitsandbytes' 834 GB/s on the
H200) and the NF4 linear's time over the bf16 matmul's (goal <= 1.3; bitsandbytes 1.65).
Bytes as bitsandbytes counts them: the packed codes read plus the bf16 values written.
Standard library only (the GPU machine's python3 and CI's)."""
import re
import sys

N = 11008 * 4096
TOKENS = 2048
UNITS = {"ps": 1e-12, "ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def medians(text):
    """bench name -> median seconds (criterion's middle estimate)."""
    out, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^(cuda_\S+/\S+)", line.strip())
        if m:
            name = m.group(1)
        m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
        if m and name:
            out[name.split("/")[-1]] = float(m.group(1)) * UNITS[m.group(2)]
    return out


def main():
    text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
    t = medians(text)
    if not t:
        print("bench: no timings in the output (no GPU, or the bench failed; see bench.txt)")
        return
    if "nf4_to_bf16" in t:
        gbs = 2.5 * N / t["nf4_to_bf16"] / 1e9
        print(f"NF4 dequantize 11008x4096 -> bf16: {t['nf4_to_bf16'] * 1e6:.1f} us, {gbs:.0f} GB/s "
              f"(goal >= 1668; bitsandbytes 834) {'MET' if gbs >= 1668 else 'MISSED'}")
    if "bf16_copy" in t:
        print(f"bf16 copy of the same matrix: {t['bf16_copy'] * 1e6:.1f} us, {4 * N / t['bf16_copy'] / 1e9:.0f} GB/s (ceiling)")
    if "bf16_matmul" in t and "nf4_linear" in t:
        ratio = t["nf4_linear"] / t["bf16_matmul"]
        tflops = 2 * TOKENS * N / t["bf16_matmul"] / 1e12
        print(f"2048 tokens x 4096 -> 11008: bf16 matmul {t['bf16_matmul'] * 1e6:.1f} us ({tflops:.0f} TFLOP/s), "
              f"NF4 linear {t['nf4_linear'] * 1e6:.1f} us: {ratio:.2f}x (goal <= 1.3; bitsandbytes 1.65) "
              f"{'MET' if ratio <= 1.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
