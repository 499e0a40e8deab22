#!/usr/bin/env bash
# Builds the CUDA ftbench on a machine without a GPU (CUDA 13.0 from PyPI, scripts/cuda-toolchain.sh)
# and packs what the GPU machine runs into .gpu/ (git-ignored): the stripped binary, the stripped
# CUDA test binaries (the CUDA-vs-CPU op tests), and scripts/gpu-check.sh's inputs.
# First build ~25 min on 2 cores (candle's kernels); later ones are incremental.
#   scripts/build-cuda.sh              then on the GPU machine: bash scripts/gpu-check.sh
#   scripts/build-cuda.sh --test-here  also runs every test of the CUDA build here, on the CPU: the
#                                      libcuda stub answers every driver call with an error, so
#                                      cuda:N cells fail cleanly, CPU cells must pass, and
#                                      tests/cuda_ops.rs has no GPU to compare (~5 min more)
#   scripts/build-cuda.sh --dry-run    also runs scripts/gpu-check.sh here against the stub with the
#                                      packed binaries: every GPU step fails cleanly and the
#                                      summary and archives come out as they would from the GPU
#                                      machine (into gpu-dry-run/; ~1 min). Do this before every
#                                      GPU session: a packing bug must never cost GPU time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fetch --locked >/dev/null
eval "$(bash scripts/cuda-toolchain.sh)"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target-cuda}
cargo build --release --locked --features cuda --bin ftbench
# The CUDA-vs-CPU tests (tests/cuda_ops.rs) and the CUDA benches as binaries: the GPU machine
# has no cargo. Each binary is stripped and xz-compressed (candle's PTX is text: ~10x smaller).
# Only the named test/bench target's executable: cargo also reports the ftbench binary it builds
# for the integration tests, which must not be packed in the tests' place.
executable_of() {
    python3 -c "import json,sys; [print(m['executable']) for m in map(json.loads, sys.stdin) if m.get('executable') and m['target']['name'] == sys.argv[1] and m['target']['kind'] == [sys.argv[2]]]" "$1" "$2"
}
cargo test --release --locked --features cuda --no-run --test cuda_ops --message-format=json 2>/dev/null \
    | executable_of cuda_ops test > /tmp/ftbench-cuda-tests.txt
cargo bench --locked --features cuda -p ftbench-kernels --bench cuda --no-run --message-format=json 2>/dev/null \
    | executable_of cuda bench > /tmp/ftbench-cuda-bench.txt
for f in /tmp/ftbench-cuda-tests.txt /tmp/ftbench-cuda-bench.txt; do
    [ "$(wc -l < "$f")" = 1 ] || { echo "build-cuda.sh: expected one executable in $f, found: $(cat "$f")" >&2; exit 1; }
done
rm -rf .gpu && mkdir -p .gpu
strip -o .gpu/ftbench "$CARGO_TARGET_DIR/release/ftbench"
strip -o .gpu/cuda_ops "$(tail -1 /tmp/ftbench-cuda-tests.txt)"
strip -o .gpu/cuda_bench "$(tail -1 /tmp/ftbench-cuda-bench.txt)"
xz -T2 -6 .gpu/ftbench .gpu/cuda_ops .gpu/cuda_bench
ls -la .gpu
if [ "${1:-}" = --dry-run ]; then
    rm -rf gpu-dry-run
    OUT=gpu-dry-run bash scripts/gpu-check.sh --dry-run all || true
    echo "dry run: $(ls gpu-dry-run | tr '\n' ' ')"
fi
if [ "${1:-}" = --test-here ]; then
    # The stub under the soname the binaries ask for, in a folder of its own (never on a GPU machine).
    STUB=$(mktemp -d); ln -s "$CUDA_HOME/lib/libcuda.so" "$STUB/libcuda.so.1"
    LD_LIBRARY_PATH="$CUDA_HOME/lib:$STUB" cargo test --release --locked --features cuda --workspace
fi
