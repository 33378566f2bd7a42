// parity_cases.h — calls of both losses with every option (dtype, masks, weights,
// pos_weight, reductions, gradient subsets, in place), their inputs, the CPU backend's outputs
// and a bit-for-bit comparison. Shared by the CUDA parity test (device buffers, real GPU) and
// the emulated one (the CUDA kernels run on the host): both compare against the CPU backend,
// which follows the documented order (tests/core/test_canonical_order.cpp holds it to that).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "semcl/semcl.h"

namespace semcl_parity {

enum class Values {
  kPlain,       // scores in [-6, 6]
  kExtreme,     // plus +-15..40, +-1e4 and ties (t = +-0)
  kNonFinite,   // plus inf, -inf, NaN (also at masked positions, which must not matter)
  kTinySigmoid  // negatives with t in [-100, -40]: sigmoid < 4e-18, for fp64-coefficient rows
};

enum MaskKind { kNoMask = 0, kCountMask = 1, kByteMask = 2, kBothMasks = 3 };

struct Case {
  bool pairwise = true;
  int64_t B = 1, K = 1;  // K = 1 for the positive-only loss
  semcl_dtype_t dtype = SEMCL_DTYPE_FLOAT32;
  int mask = kNoMask;
  bool all_masked = false;       // every negative of every row masked
  bool weights = false;          // per-sample weights, with zeros and negatives
  int64_t pos_weight_count = 0;  // 0 (none), 1 or B
  semcl_reduction_t reduction = SEMCL_REDUCTION_MEAN;
  bool backward = true;
  bool grad_raw = true, grad_pos = true, grad_neg = true;
  bool in_place = false;  // grad_neg == score_neg
  bool upstream = false;
  float lambda = 0.7f, grad_scale = 1.0f;
  Values values = Values::kPlain;
  bool soft_labels = false;
  uint64_t seed = 1;
};

std::string Describe(const Case &c);

// The inputs of a case in their storage form (scores in the case's dtype).
struct Data {
  std::vector<uint8_t> raw, pos, neg;
  std::vector<float> y, upstream, weight, pos_weight;
  std::vector<uint8_t> mask;
  std::vector<int32_t> count;
};
Data MakeData(const Case &c);

// Outputs; gradients as bytes in the case's dtype (empty when not requested).
struct Outputs {
  std::vector<float> loss, ctr, aux;
  std::vector<uint8_t> graw, gpos, gneg;
};

size_t ElementBytes(semcl_dtype_t dtype);
size_t LossCount(const Case &c);
bool WantsGradRaw(const Case &c);
bool WantsGradPos(const Case &c);
bool WantsGradNeg(const Case &c);

// Outputs of the right sizes filled with poison (NaN payloads the library never writes).
Outputs PoisonedOutputs(const Case &c, const Data &d);

// Pointers of one call (host or device memory).
struct Pointers {
  const void *raw, *pos, *neg;
  const float *y, *upstream;
  const uint8_t *mask;
  const int32_t *count;
  const float *weight, *pos_weight;
  float *loss, *ctr, *aux;
  void *graw, *gpos, *gneg;
};
semcl_status_t CallEx(semcl_context *ctx, const Case &c, const Pointers &p);

// The CPU backend's outputs (the call must succeed).
Outputs RunCpu(semcl_context *cpu, const Case &c, const Data &d);

// Every output bit for bit (NaN matches NaN: payloads are not part of the contract), and
// nothing left unwritten. `who` names the backend under test.
void ExpectSame(const Case &c, const Outputs &cpu, const Outputs &other, const char *who);

// ---- case lists ------------------------------------------------------------------------
// K in {1, 2, 31, 32, 33, 1000, 1024, 1025, 5*1024+3, 70000}, B in {1, 255, 256, 257, 5000},
// as far as B*K <= max_elements (K = 70000 always with B = 1), each with MEAN/SUM/NONE x
// forward/backward (fp32, no options).
std::vector<Case> ShapeCases(int64_t max_elements);
// `count` random combinations of every option on shape (B, K), covering each value of each
// option at least once when count >= 24.
std::vector<Case> OptionCases(int64_t B, int64_t K, uint64_t seed, int count);
// All-masked rows and batch, out-of-range counts, zero and negative weights, rows whose grad_neg
// needs the fp64 coefficient, gradient subsets, in place, and the positive-only loss with
// weights and pos_weight.
std::vector<Case> EdgeCases();

}  // namespace semcl_parity
