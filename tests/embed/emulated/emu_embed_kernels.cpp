// emu_embed_kernels.cpp — the embedding calls' CUDA kernel files, compiled as host C++ against
// the emulation of tests/cuda/emulator (include/semcl_emu_cuda.h stands in for the CUDA
// headers). embed_cublas.cu is left out: test_embed_emulated.cpp brings a host GEMM in its
// place.
#include "embed_reduce_cuda.cu"
#include "embed_rows_cuda.cu"
#include "embed_shared_cuda.cu"
#include "embed_stage_cuda.cu"
