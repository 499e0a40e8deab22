// ftbench's CUDA kernels, compiled to one PTX module by kernels/build.rs (feature `cuda`) and
// launched from kernels/src/cuda/*.rs. Each kernel has a CPU counterpart in kernels/src that it
// must match; tests/cuda_ops.rs checks them against each other on a GPU.
#include "common.cuh"
#include "nf4.cuh"
#include "adamw.cuh"
#include "rows.cuh"
