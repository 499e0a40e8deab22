#!/usr/bin/env bash
# A CUDA 13.0 build toolchain from PyPI (nvcc, cudart, cublas, curand, nvrtc, cccl) in a venv, with
# a link stub for libcuda.so.1, so that `cargo build --features cuda` works on a machine with no GPU
# and no system CUDA. CUDA 13.0 exactly: the H200 machine's driver (580) rejects newer PTX.
# Prints the variables to export:   eval "$(scripts/cuda-toolchain.sh)"
set -euo pipefail
VENV=${CUDA_VENV:-/tmp/cuda13-venv}
[ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV" >&2
if ! ls -d "$VENV"/lib/python3*/site-packages/nvidia/cu13/bin/nvcc >/dev/null 2>&1; then
    "$VENV/bin/pip" install -q "nvidia-cuda-nvcc==13.0.88" "nvidia-cuda-runtime==13.0.96" \
        "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-cccl==13.0.*" \
        "nvidia-cublas<13.1" "nvidia-curand<10.4.1" "nvidia-cuda-nvrtc==13.0.88" >&2
fi
NV=$(ls -d "$VENV"/lib/python3*/site-packages/nvidia/cu13 | head -1)
cd "$NV/lib"
# The wheels ship versioned libraries only; the linker wants the plain names.
for l in cublas cublasLt curand nvrtc cudart; do
    f=$(ls lib$l.so.* 2>/dev/null | grep -v alt | head -1 || true)
    [ -n "$f" ] && ln -sf "$f" lib$l.so
done
# libcuda is the driver's and is not on PyPI: link against a stub whose soname is libcuda.so.1
# (one dummy symbol per driver function cudarc declares). The GPU machine loads its real driver.
if [ ! -e libcuda.so ]; then
    SYS=$(ls -d ~/.cargo/registry/src/*/cudarc-*/src/driver/sys/mod.rs 2>/dev/null | tail -1 || true)
    [ -n "$SYS" ] || { echo "run 'cargo fetch' first: the stub is made from cudarc's sources" >&2; exit 1; }
    grep -ohE "pub (unsafe )?fn (cu[A-Z][A-Za-z0-9_]*)\(" "$SYS" | sed -E 's/pub (unsafe )?fn //; s/\(//' \
        | sort -u | sed 's/.*/int &(void){return 999;}/' > "$NV/libcuda-stub.c"
    gcc -shared -fPIC -o libcuda.so -Wl,-soname,libcuda.so.1 "$NV/libcuda-stub.c"
fi
echo "export PATH=$NV/bin:\$PATH CUDA_ROOT=$NV CUDA_PATH=$NV CUDA_HOME=$NV CUDA_COMPUTE_CAP=90 CUDARC_CUDA_VERSION=13000 CUDAFORGE_THREADS=2 NVCC_APPEND_FLAGS=-I$NV/include/cccl"
