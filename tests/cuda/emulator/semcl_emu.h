// semcl_emu.h — control of the host emulation of the CUDA kernels (emu_runtime.cpp).
#pragma once

#include <cstdint>

// Before a run: the seed of the fiber and block order, and the number of blocks a launch
// really runs (its grid-stride loops cover the rest). Clears the error.
void semcl_emu_reset(uint64_t seed, unsigned grid_cap);
// "" or what went wrong since the last reset (divergent barrier or shuffle, deadlock, bad
// launch). After an error later launches do nothing.
const char *semcl_emu_error();
// Blocks run since the program started (to show a test did run kernels).
long semcl_emu_blocks_run();
