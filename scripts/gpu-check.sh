#!/usr/bin/env bash
# Every GPU check in one command, on the GPU machine (no cargo there): the CUDA-vs-CPU op tests,
# the CUDA kernel benches, and the article-7b suite with its report.
#
# Which machine: an NVIDIA H200 (141 GB). Full fine-tuning of the 7B shape in mixed precision
# needs ~108-111 GB of tensors (PyTorch measured 108.0 GB peak allocated, 119.3 GB device used);
# an 80 GB H100 runs the other three cells but records that one as `oom`. The binary is built
# against CUDA 13.0: the driver must be >= 580 (README "GPU").
#
#   bash scripts/gpu-check.sh [all|ops|bench|suite]      on the GPU machine, .gpu/ beside it
#   bash scripts/gpu-check.sh --dry-run [all|...]        on any machine: every step runs and fails
#                                                        cleanly where there is no GPU, so the
#                                                        packing is checked before GPU time is spent
#
# Inputs: .gpu/*.xz from scripts/build-cuda.sh (unpacked with python3's lzma), or unpacked
# binaries in $FTBENCH_GPU_BIN. Outputs, all directly in ${OUT:-gpu-out}/ (a GPU session returns
# at most 8 files, at most two folders deep):
#   summary.txt      what passed and failed, per op test; the bench's figures; each cell's status,
#                    memory and tokens/s beside PyTorch's (the report's gpu.csv)
#   machine.txt      GPU, driver, CPUs, memory, the libraries each binary resolved
#   ops.tar.gz       one log per op test          (packed when the stage ends, even if cut short)
#   bench.tar.gz     the bench's output
#   suite.tar.gz     results/article-7b (records + cell logs) and reports/article-7b
# Unpack with: for f in $OUT/*.tar.gz; do tar -xzf "$f" -C .; done   (paths as in the repository)
#
# Time budget (one device command is limited to 10 minutes): ops <= 150 s, bench <= 60 s,
# suite <= 330 s; everything <= 570 s. Each stage is cut at its budget and still packed; the
# suite runs its cheapest cells first (QLoRA, LoRA, then full) and resumes from its records.
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
if [ "${1:-}" = --dry-run ]; then DRY=1; shift; fi
STAGE=${1:-all}
case "$STAGE" in all|ops|bench|suite) ;; *) echo "usage: $0 [--dry-run] [all|ops|bench|suite]" >&2; exit 2 ;; esac
OUT=${OUT:-gpu-out}
OPS_S=${OPS_S:-150} BENCH_S=${BENCH_S:-60} SUITE_S=${SUITE_S:-330} TEST_S=${TEST_S:-60}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ftbench-gpu.XXXXXX")
SUMMARY="$OUT/summary.txt"
FAILED=0
START=$(date +%s)
say() { echo "$*" | tee -a "$SUMMARY"; }
elapsed() { echo $(( $(date +%s) - START )); }
: > "$SUMMARY"
say "ftbench GPU check ($STAGE$([ $DRY = 1 ] && echo ', dry run')) $(date -u +%FT%TZ)"

# --- binaries ---------------------------------------------------------------------------------
BIN=${FTBENCH_GPU_BIN:-$WORK/bin}
mkdir -p "$BIN"
if [ -z "${FTBENCH_GPU_BIN:-}" ]; then
    for f in .gpu/*.xz; do
        [ -e "$f" ] || { say "FAIL no .gpu/*.xz here: run scripts/build-cuda.sh first (and carry .gpu)"; exit 1; }
        python3 -c "import lzma,sys,shutil; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$f" "$BIN/$(basename "$f" .xz)"
        chmod +x "$BIN/$(basename "$f" .xz)"
    done
fi

# --- libraries: the system's CUDA 13, else the CUDA 13 libraries inside PyTorch's environment --
if [ $DRY = 1 ]; then
    # The build machine's toolchain (CUDA_HOME from scripts/cuda-toolchain.sh, which
    # build-cuda.sh --dry-run sets) and its libcuda stub, which answers every driver call with an
    # error: nothing can run on a GPU, everything else runs. Without CUDA_HOME (a CPU build's
    # binaries, as tests/gpu_check.rs runs it) the binaries need no CUDA library at all.
    if [ -n "${CUDA_HOME:-}" ] && [ -e "$CUDA_HOME/lib/libcuda.so" ]; then
        mkdir -p "$WORK/stub" && ln -sf "$CUDA_HOME/lib/libcuda.so" "$WORK/stub/libcuda.so.1"
        export LD_LIBRARY_PATH="$CUDA_HOME/lib:$WORK/stub:${LD_LIBRARY_PATH:-}"
    fi
else
    export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}"
fi
missing_libs() { for b in "$BIN"/*; do ldd "$b" 2>/dev/null | grep "not found"; done | sort -u; }
if [ -n "$(missing_libs)" ] && [ $DRY = 0 ]; then
    # PyPI's CUDA 13 wheels (nvidia-cublas, nvidia-cuda-runtime, ...) put every library in
    # site-packages/nvidia/cu13/lib; older ones in nvidia/<name>/lib.
    for py in python3 /opt/torch/.venv/bin/python3; do
        command -v "$py" >/dev/null || continue
        for d in $("$py" -c "import glob,nvidia; print(' '.join(sorted({d for p in nvidia.__path__ for d in glob.glob(p+'/cu13/lib')+glob.glob(p+'/*/lib')})))" 2>/dev/null); do
            LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:$d"
        done
    done
    export LD_LIBRARY_PATH
fi
{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi: not available"
    echo "cpus: $(nproc)"; free -g | head -2
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    for b in "$BIN"/*; do echo "== ldd $(basename "$b")"; ldd "$b" 2>&1 | grep -E "cuda|cublas|curand|nvrtc|not found"; done
} > "$OUT/machine.txt" 2>&1
MISSING=$(missing_libs)
if [ -n "$MISSING" ]; then
    say "FAIL libraries not found (searched /usr/local/cuda-13.0 and PyTorch's nvidia/*/lib):"
    say "$MISSING"
    say "nothing ran; see machine.txt"
    exit 1
fi
say "libraries: all resolved ($(elapsed) s)"

# pack NAME PATH...: one archive per stage, written under a temporary name and renamed, so a
# stage cut short leaves the previous archives whole.
pack() {
    local name=$1; shift
    if tar -czf "$OUT/.$name.tar.gz.tmp" -C "$WORK" "$@" 2> "$WORK/tar.err"; then
        mv "$OUT/.$name.tar.gz.tmp" "$OUT/$name.tar.gz"
    else
        rm -f "$OUT/.$name.tar.gz.tmp"
        say "FAIL packing $name.tar.gz: $(head -c 300 "$WORK/tar.err")"; FAILED=1
    fi
}

# --- ops: each test in its own process (a sticky CUDA error fails only its own test) ----------
if [ "$STAGE" = all ] || [ "$STAGE" = ops ]; then
    mkdir -p "$WORK/reports/article-7b/ops"
    if [ ! -x "$BIN/cuda_ops" ]; then
        say "FAIL ops: no cuda_ops binary in $BIN" | tee "$WORK/reports/article-7b/ops/missing.txt"; FAILED=1
    else
        say "== op tests (budget ${OPS_S} s, ${TEST_S} s each)"
        STAGE_END=$(( $(date +%s) + OPS_S ))
        TESTS=$("$BIN/cuda_ops" --list --format terse 2>/dev/null | sed -n 's/: test$//p')
        [ -n "$TESTS" ] || { say "FAIL ops: cuda_ops lists no tests"; FAILED=1; }
        for t in $TESTS; do
            left=$(( STAGE_END - $(date +%s) ))
            if [ $left -le 0 ]; then say "SKIP $t (ops budget spent)"; FAILED=1; continue; fi
            log="$WORK/reports/article-7b/ops/$t.txt"
            FTBENCH_REQUIRE_GPU=1 timeout $(( left < TEST_S ? left : TEST_S )) \
                "$BIN/cuda_ops" --exact "$t" --test-threads=1 --nocapture > "$log" 2>&1
            rc=$?
            if [ $rc = 0 ] && grep -q "test result: ok. 1 passed" "$log"; then say "PASS $t"
            elif [ $rc = 124 ]; then say "FAIL $t (timed out)"; FAILED=1
            else say "FAIL $t (exit $rc): $(grep -m1 -E "panicked|Error|error" "$log" | cut -c1-200)"; FAILED=1
            fi
        done
    fi
    pack ops reports/article-7b/ops
    say "ops done ($(elapsed) s)"
fi

# --- bench: NF4 dequantize GB/s and the NF4-linear / bf16-matmul ratio ---------------------------
if [ "$STAGE" = all ] || [ "$STAGE" = bench ]; then
    mkdir -p "$WORK/reports/article-7b"
    if [ ! -x "$BIN/cuda_bench" ]; then
        say "FAIL bench: no cuda_bench binary in $BIN" | tee "$WORK/reports/article-7b/bench.txt"; FAILED=1
    else
        say "== benches (budget ${BENCH_S} s)"
        timeout "$BENCH_S" "$BIN/cuda_bench" --bench > "$WORK/reports/article-7b/bench.txt" 2>&1
        rc=$?
        python3 scripts/gpu_bench_summary.py "$WORK/reports/article-7b/bench.txt" 2>&1 | tee -a "$SUMMARY"
        [ $rc = 0 ] || { say "FAIL bench (exit $rc)"; FAILED=1; }
    fi
    pack bench reports/article-7b/bench.txt
    say "bench done ($(elapsed) s)"
fi

# --- suite: the article's grid, records kept as each cell ends ----------------------------------
if [ "$STAGE" = all ] || [ "$STAGE" = suite ]; then
    mkdir -p "$WORK/results" "$WORK/reports"
    if [ ! -x "$BIN/ftbench" ]; then
        say "FAIL suite: no ftbench binary in $BIN"; FAILED=1
    else
        say "== article-7b (budget ${SUITE_S} s)"
        timeout "$SUITE_S" "$BIN/ftbench" run suites/article-7b.yaml \
            --results "$WORK/results" --reports "$WORK/reports" > "$WORK/results/article-7b.txt" 2>&1
        rc=$?
        [ $rc = 124 ] && say "suite cut at its budget: re-run this stage to resume"
        # The report of whatever was recorded (the run writes it only when it ends).
        "$BIN/ftbench" report "$WORK/results/article-7b" --out "$WORK/reports/article-7b" >> "$WORK/results/article-7b.txt" 2>&1
        python3 scripts/gpu_suite_summary.py "$WORK/results/article-7b" "$WORK/reports/article-7b/gpu.csv" 2>&1 | tee -a "$SUMMARY"
        [ $rc = 0 ] || { say "FAIL suite (exit $rc; the runner's output is results/article-7b.txt)"; FAILED=1; }
    fi
    pack suite --exclude=reports/article-7b/ops --exclude=reports/article-7b/bench.txt results reports/article-7b
    say "suite done ($(elapsed) s)"
fi

say "finished in $(elapsed) s: $([ $FAILED = 0 ] && echo 'every check passed' || echo 'some checks FAILED (above)')"
ls -la "$OUT"
rm -rf "$WORK"
exit $FAILED
