// cuda_bf16.h for the host emulation of the CUDA kernels: see semcl_emu_cuda.h.
#pragma once
#include "semcl_emu_cuda.h"
