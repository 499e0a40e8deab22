#!/usr/bin/env bash
# Every GPU check in one command, on the GPU machine (no cargo there): the CUDA-vs-CPU op tests,
# the CUDA kernel benches, and the article-7b suite with its report. Inputs: .gpu/ from
# scripts/build-cuda.sh (xz-compressed, unpacked here with python3's lzma). Outputs under
# ${OUT:-gpu-out}/: machine.txt, cuda_ops.txt, bench.txt, results/article-7b/, reports/article-7b/.
# Budget: under 10 minutes on one H200 (7B cells load in ~30-60 s each; never measured yet).
# Stages can run as separate commands (a GPU session's commands are limited to 10 minutes):
#   bash scripts/gpu-check.sh [all|ops|bench|suite]   # then copy $OUT/results and $OUT/reports into the repo
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
BIN=${FTBENCH_GPU_BIN:-/tmp/ftbench-gpu}
mkdir -p "$BIN"
for f in .gpu/*.xz; do
    python3 -c "import lzma,sys,shutil; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$f" "$BIN/$(basename "$f" .xz)"
    chmod +x "$BIN/$(basename "$f" .xz)"
done
{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    nproc; free -g | head -2
    ldd "$BIN/ftbench" | grep -E "cuda|cublas|curand|nvrtc"
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
STAGE=${1:-all}
step() { echo "== $1 ($(date -u +%T))"; }
if [ "$STAGE" = all ] || [ "$STAGE" = ops ]; then
    step "CUDA vs CPU op tests"
    FTBENCH_REQUIRE_GPU=1 timeout 180 "$BIN/cuda_ops" --test-threads=1 2>&1 | tee "$OUT/cuda_ops.txt" | tail -15
fi
if [ "$STAGE" = all ] || [ "$STAGE" = bench ]; then
    step "CUDA kernel benches"
    timeout 90 "$BIN/cuda_bench" --bench 2>&1 | tee "$OUT/bench.txt" | grep -E "time:|thrpt:|^cuda" | head -20
fi
if [ "$STAGE" = all ] || [ "$STAGE" = suite ]; then
    step "article-7b"
    # Records are kept as each cell ends: a run cut short resumes where it stopped.
    timeout ${SUITE_TIMEOUT:-300} "$BIN/ftbench" run suites/article-7b.yaml \
        --results "$OUT/results" --reports "$OUT/reports" 2>&1 | tee -a "$OUT/article-7b.txt" | tail -25
fi
step "done"
ls -R "$OUT" | head -40
