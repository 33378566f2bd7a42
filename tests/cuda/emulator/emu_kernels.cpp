// emu_kernels.cpp — the CUDA backend's kernel files, compiled as host C++ against the emulation
// (include/semcl_emu_cuda.h stands in for the CUDA headers). Only the device management file
// (cuda_backend.cu) is left out: the test calls the launchers directly.
#include "pos_neg_counts_cuda.cu"
#include "pos_neg_cuda.cu"
#include "pos_neg_rows_cuda.cu"
#include "pos_neg_split_cuda.cu"
#include "positive_only_cuda.cu"
#include "reduction_cuda.cu"
