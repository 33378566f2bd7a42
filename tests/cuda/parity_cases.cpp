// parity_cases.cpp — see parity_cases.h.
#include "parity_cases.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>

#include "../../src/semcl_math.h"
#include "backend_buffers.h"

namespace semcl_parity {
namespace {

struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float Uniform(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>((Next() >> 40) * (1.0 / 16777216.0));
  }
  bool OneIn(unsigned n) { return Next() % n == 0; }
  int64_t Below(int64_t n) { return static_cast<int64_t>(Next() % static_cast<uint64_t>(n)); }
};

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

float ExtremeValue(Rng &rng) {
  switch (rng.Next() % 4) {
    case 0:
      return rng.Uniform(15.f, 40.f);
    case 1:
      return -rng.Uniform(15.f, 40.f);
    case 2:
      return 1e4f;
    default:
      return -1e4f;
  }
}

float NonFinite(Rng &rng) {
  switch (rng.Next() % 3) {
    case 0:
      return kInf;
    case 1:
      return -kInf;
    default:
      return kNaN;
  }
}

// Signalling NaNs with a payload no conversion produces: what a gradient slot holds until
// it is written.
const uint16_t kPoisonBf16 = 0x7fa5, kPoisonF16 = 0x7ca5;

void Put(std::vector<uint8_t> &bytes, size_t i, float v, semcl_dtype_t dtype) {
  if (dtype == SEMCL_DTYPE_FLOAT32) {
    std::memcpy(&bytes[i * 4], &v, 4);
    return;
  }
  const uint16_t h = dtype == SEMCL_DTYPE_BFLOAT16 ? semcl_f32_to_bf16(v) : semcl_f32_to_f16(v);
  std::memcpy(&bytes[i * 2], &h, 2);
}

float GetFloat(const std::vector<uint8_t> &bytes, size_t i) {
  float v;
  std::memcpy(&v, &bytes[i * 4], 4);
  return v;
}

uint16_t GetHalf(const std::vector<uint8_t> &bytes, size_t i) {
  uint16_t h;
  std::memcpy(&h, &bytes[i * 2], 2);
  return h;
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

std::string ShowFloat(float f) {
  char text[64];
  std::snprintf(text, sizeof text, "%.9g (0x%08x)", static_cast<double>(f), Bits(f));
  return text;
}

bool SameFloat(float a, float b) { return (std::isnan(a) && std::isnan(b)) || Bits(a) == Bits(b); }

bool HalfIsNaN(uint16_t h, semcl_dtype_t dtype) {
  return dtype == SEMCL_DTYPE_BFLOAT16 ? (h & 0x7fff) > 0x7f80 : (h & 0x7fff) > 0x7c00;
}

const char *DtypeName(semcl_dtype_t d) {
  return d == SEMCL_DTYPE_FLOAT32 ? "f32" : d == SEMCL_DTYPE_BFLOAT16 ? "bf16" : "f16";
}

const char *ReductionName(semcl_reduction_t r) {
  return r == SEMCL_REDUCTION_MEAN ? "mean" : r == SEMCL_REDUCTION_SUM ? "sum" : "none";
}

void ExpectSameFloats(const char *what, const std::vector<float> &cpu,
                      const std::vector<float> &other, const char *who) {
  ASSERT_EQ(cpu.size(), other.size()) << what;
  size_t bad = 0, left = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    left += semcl_test::IsPoison(other[i]) ? 1 : 0;
    if (SameFloat(cpu[i], other[i])) continue;
    if (++bad <= 5)
      ADD_FAILURE() << what << "[" << i << "]: CPU " << ShowFloat(cpu[i]) << ", " << who << " "
                    << ShowFloat(other[i]);
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << cpu.size() << " differ";
  EXPECT_EQ(left, 0u) << what << ": " << left << " elements not written by " << who;
}

void ExpectSameGradients(const char *what, const std::vector<uint8_t> &cpu,
                         const std::vector<uint8_t> &other, semcl_dtype_t dtype, const char *who) {
  ASSERT_EQ(cpu.size(), other.size()) << what;
  const size_t esize = ElementBytes(dtype), n = cpu.size() / esize;
  size_t bad = 0, left = 0;
  auto show = [&](const std::vector<uint8_t> &v, size_t i) {
    if (dtype == SEMCL_DTYPE_FLOAT32) return ShowFloat(GetFloat(v, i));
    char t[32];
    std::snprintf(t, sizeof t, "0x%04x", GetHalf(v, i));
    return std::string(t);
  };
  for (size_t i = 0; i < n; ++i) {
    bool same, poison;
    if (dtype == SEMCL_DTYPE_FLOAT32) {
      const float x = GetFloat(cpu, i), y = GetFloat(other, i);
      same = SameFloat(x, y);
      poison = semcl_test::IsPoison(y);
    } else {
      const uint16_t x = GetHalf(cpu, i), y = GetHalf(other, i);
      same = x == y || (HalfIsNaN(x, dtype) && HalfIsNaN(y, dtype));
      poison = y == (dtype == SEMCL_DTYPE_BFLOAT16 ? kPoisonBf16 : kPoisonF16);
    }
    left += poison ? 1 : 0;
    if (same) continue;
    if (++bad <= 5)
      ADD_FAILURE() << what << "[" << i << "]: CPU " << show(cpu, i) << ", " << who << " "
                    << show(other, i);
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << n << " differ";
  EXPECT_EQ(left, 0u) << what << ": " << left << " elements not written by " << who;
}

}  // namespace

size_t ElementBytes(semcl_dtype_t dtype) { return dtype == SEMCL_DTYPE_FLOAT32 ? 4 : 2; }

size_t LossCount(const Case &c) {
  return c.reduction == SEMCL_REDUCTION_NONE ? static_cast<size_t>(c.B) : 1;
}

bool WantsGradRaw(const Case &c) { return c.backward && c.grad_raw; }
bool WantsGradPos(const Case &c) { return c.backward && c.grad_pos; }
bool WantsGradNeg(const Case &c) { return c.pairwise && c.backward && (c.grad_neg || c.in_place); }

std::string Describe(const Case &c) {
  static const char *const kMasks[] = {"none", "count", "bytes", "both"};
  static const char *const kValues[] = {"plain", "extreme", "nonfinite", "tiny-sigmoid"};
  std::ostringstream s;
  s << (c.pairwise ? "pos_neg" : "positive_only") << " B=" << c.B << " K=" << c.K << " "
    << DtypeName(c.dtype) << " mask=" << kMasks[c.mask] << (c.all_masked ? " all-masked" : "")
    << (c.weights ? " weights" : "") << " pos_weight=" << c.pos_weight_count
    << " reduction=" << ReductionName(c.reduction) << (c.backward ? " fwd_bwd" : " fwd")
    << " grads=" << c.grad_raw << c.grad_pos << c.grad_neg << (c.in_place ? " in-place" : "")
    << (c.upstream ? " upstream" : "") << " lambda=" << c.lambda << " grad_scale=" << c.grad_scale
    << " values=" << kValues[static_cast<int>(c.values)] << (c.soft_labels ? " soft" : "")
    << " seed=" << c.seed;
  return s.str();
}

Data MakeData(const Case &c) {
  Rng rng{c.seed * 7919 + 17};
  const int64_t B = c.B, K = c.pairwise ? c.K : 1;
  const size_t n = static_cast<size_t>(B * K), esize = ElementBytes(c.dtype);
  Data d;
  d.raw.assign(static_cast<size_t>(B) * esize, 0);
  d.pos.assign(static_cast<size_t>(B) * esize, 0);
  d.y.resize(B);
  d.upstream.resize(B);
  std::vector<float> pos(B);
  for (int64_t b = 0; b < B; ++b) {
    float raw = rng.Uniform(-6.f, 6.f), p = rng.Uniform(-6.f, 6.f);
    d.y[b] = (rng.Next() & 1) ? 1.f : 0.f;
    if (c.soft_labels && rng.OneIn(3)) d.y[b] = rng.Uniform(0.f, 1.f);
    d.upstream[b] = rng.Uniform(-2.f, 2.f);
    if (c.values != Values::kPlain && c.values != Values::kTinySigmoid) {
      if (rng.OneIn(16)) raw = ExtremeValue(rng);
      if (rng.OneIn(16)) p = ExtremeValue(rng);
    }
    if (c.values == Values::kNonFinite && rng.OneIn(32)) raw = NonFinite(rng);
    if (c.values == Values::kNonFinite && rng.OneIn(32)) p = NonFinite(rng);
    Put(d.raw, b, raw, c.dtype);
    Put(d.pos, b, p, c.dtype);
    pos[b] = p;
  }
  if (c.weights) {
    d.weight.resize(B);
    for (int64_t b = 0; b < B; ++b) d.weight[b] = rng.OneIn(5) ? 0.0f : rng.Uniform(-1.5f, 2.5f);
  }
  if (c.pos_weight_count) {
    d.pos_weight.resize(c.pos_weight_count);
    for (float &w : d.pos_weight) w = rng.Uniform(0.25f, 4.0f);
  }
  if (!c.pairwise) return d;

  if (c.mask & kCountMask) {
    d.count.resize(B);
    for (int64_t b = 0; b < B; ++b) {
      int64_t v;
      switch (rng.Next() % 6) {
        case 0:
          v = 0;
          break;
        case 1:
          v = K;
          break;
        case 2:
          v = -1 - rng.Below(5);
          break;  // clamped to 0
        case 3:
          v = K + 1 + rng.Below(5);
          break;  // clamped to K
        default:
          v = rng.Below(K + 1);
          break;
      }
      if (v > INT32_MAX) v = INT32_MAX;
      d.count[b] = c.all_masked ? (rng.OneIn(2) ? 0 : -3) : static_cast<int32_t>(v);
    }
  }
  if (c.mask & kByteMask) {
    d.mask.resize(n);
    for (int64_t b = 0; b < B; ++b) {
      const bool empty_row = c.all_masked || rng.OneIn(8);
      for (int64_t k = 0; k < K; ++k)
        d.mask[b * K + k] =
            empty_row || rng.OneIn(4) ? 0 : static_cast<uint8_t>(1 + rng.Below(255));
    }
  }
  d.neg.assign(n * esize, 0);
  for (int64_t b = 0; b < B; ++b) {
    const float ns = 1.0f - 2.0f * d.y[b];
    const int64_t limit =
        d.count.empty() ? K : (d.count[b] < 0 ? 0 : (d.count[b] > K ? K : d.count[b]));
    for (int64_t k = 0; k < K; ++k) {
      float v = rng.Uniform(-6.f, 6.f);
      if (c.values == Values::kExtreme || c.values == Values::kNonFinite) {
        if (rng.OneIn(16)) v = ExtremeValue(rng);
        if (rng.OneIn(32)) v = pos[b];  // a tie: t = -0 or +0
      }
      if (c.values == Values::kNonFinite && rng.OneIn(64)) v = NonFinite(rng);
      if (c.values == Values::kTinySigmoid && std::isfinite(pos[b]) && rng.OneIn(2))
        v = pos[b] + ns * rng.Uniform(40.f, 100.f);  // t = ns*(pos - v) in [-100, -40]
      const bool masked = k >= limit || (!d.mask.empty() && d.mask[b * K + k] == 0);
      if (masked && c.values == Values::kNonFinite && rng.OneIn(3)) v = kNaN;  // ignored
      Put(d.neg, static_cast<size_t>(b * K + k), v, c.dtype);
    }
  }
  return d;
}

Outputs PoisonedOutputs(const Case &c, const Data &d) {
  const size_t nl = LossCount(c), esize = ElementBytes(c.dtype);
  Outputs o;
  o.loss.assign(nl, semcl_test::PoisonValue());
  o.ctr.assign(nl, semcl_test::PoisonValue());
  o.aux.assign(nl, semcl_test::PoisonValue());
  auto poison = [&](size_t count) {
    std::vector<uint8_t> v(count * esize);
    for (size_t i = 0; i < count; ++i) {
      if (c.dtype == SEMCL_DTYPE_FLOAT32) {
        const float p = semcl_test::PoisonValue();
        std::memcpy(&v[i * 4], &p, 4);
      } else {
        const uint16_t p = c.dtype == SEMCL_DTYPE_BFLOAT16 ? kPoisonBf16 : kPoisonF16;
        std::memcpy(&v[i * 2], &p, 2);
      }
    }
    return v;
  };
  if (WantsGradRaw(c)) o.graw = poison(static_cast<size_t>(c.B));
  if (WantsGradPos(c)) o.gpos = poison(static_cast<size_t>(c.B));
  if (WantsGradNeg(c)) o.gneg = c.in_place ? d.neg : poison(d.neg.size() / esize);
  return o;
}

semcl_status_t CallEx(semcl_context *ctx, const Case &c, const Pointers &p) {
  semcl_options o = SEMCL_OPTIONS_INIT;
  o.dtype = c.dtype;
  o.neg_mask = (c.mask & kByteMask) ? p.mask : nullptr;
  o.neg_count = (c.mask & kCountMask) ? p.count : nullptr;
  o.weight = c.weights ? p.weight : nullptr;
  o.pos_weight = c.pos_weight_count ? p.pos_weight : nullptr;
  o.pos_weight_count = c.pos_weight_count;
  const float *up = c.upstream ? p.upstream : nullptr;
  void *graw = WantsGradRaw(c) ? p.graw : nullptr;
  void *gpos = WantsGradPos(c) ? p.gpos : nullptr;
  if (!c.pairwise)
    return semcl_positive_only_ex(ctx, c.B, p.raw, p.pos, p.y, c.lambda, c.reduction, &o,
                                  c.grad_scale, up, p.loss, p.ctr, p.aux, graw, gpos);
  void *gneg = WantsGradNeg(c) ? p.gneg : nullptr;
  return semcl_pos_neg_ex(ctx, c.B, c.K, p.raw, p.pos, p.neg, p.y, c.lambda, c.reduction, &o,
                          c.grad_scale, up, p.loss, p.ctr, p.aux, graw, gpos, gneg);
}

Outputs RunCpu(semcl_context *cpu, const Case &c, const Data &d) {
  Outputs o = PoisonedOutputs(c, d);
  Pointers p{d.raw.data(),
             d.pos.data(),
             c.in_place ? static_cast<const void *>(o.gneg.data()) : d.neg.data(),
             d.y.data(),
             d.upstream.data(),
             d.mask.data(),
             d.count.data(),
             d.weight.data(),
             d.pos_weight.data(),
             o.loss.data(),
             o.ctr.data(),
             o.aux.data(),
             o.graw.data(),
             o.gpos.data(),
             o.gneg.data()};
  const semcl_status_t st = CallEx(cpu, c, p);
  EXPECT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(cpu);
  return o;
}

void ExpectSame(const Case &c, const Outputs &cpu, const Outputs &other, const char *who) {
  ExpectSameFloats("loss", cpu.loss, other.loss, who);
  ExpectSameFloats("loss_ctr", cpu.ctr, other.ctr, who);
  ExpectSameFloats("loss_aux", cpu.aux, other.aux, who);
  ExpectSameGradients("grad_raw", cpu.graw, other.graw, c.dtype, who);
  ExpectSameGradients("grad_pos", cpu.gpos, other.gpos, c.dtype, who);
  ExpectSameGradients("grad_neg", cpu.gneg, other.gneg, c.dtype, who);
}

// ---- case lists ---------------------------------------------------------------------------

std::vector<Case> ShapeCases(int64_t max_elements) {
  static const int64_t kKs[] = {1, 2, 31, 32, 33, 1000, 1024, 1025, 5 * 1024 + 3, 70000};
  static const int64_t kBs[] = {1, 255, 256, 257, 5000};
  std::vector<Case> cases;
  uint64_t seed = 1;
  for (int64_t K : kKs)
    for (int64_t B : kBs) {
      if (B * K > max_elements && !(B == 1 && K == 70000)) continue;
      for (semcl_reduction_t r : {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM, SEMCL_REDUCTION_NONE})
        for (bool backward : {false, true}) {
          Case c;
          c.B = B;
          c.K = K;
          c.reduction = r;
          c.backward = backward;
          c.upstream = backward && r == SEMCL_REDUCTION_NONE;
          c.seed = seed++;
          cases.push_back(c);
        }
    }
  return cases;
}

std::vector<Case> OptionCases(int64_t B, int64_t K, uint64_t seed, int count) {
  static const semcl_dtype_t kDtypes[] = {SEMCL_DTYPE_FLOAT32, SEMCL_DTYPE_BFLOAT16,
                                          SEMCL_DTYPE_FLOAT16};
  static const semcl_reduction_t kReductions[] = {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM,
                                                  SEMCL_REDUCTION_NONE};
  static const float kLambdas[] = {0.7f, 0.0f, 1.0f, -0.5f};
  static const float kScales[] = {1.0f, 0.375f, -2.0f};
  Rng rng{seed * 104729 + 3};
  std::vector<Case> cases;
  for (int i = 0; i < count; ++i) {
    Case c;
    c.B = B;
    c.K = K;
    c.seed = seed * 1000 + static_cast<uint64_t>(i);
    /* Each value of dtype (3), mask (4), reduction (3) and pos_weight (3) every 3 or 4 cases,
     * in different combinations; the rest at random. */
    c.dtype = kDtypes[i % 3];
    c.mask = i % 4;
    c.reduction = kReductions[(i / 4) % 3];
    const int pw = (i / 2) % 3;
    c.pos_weight_count = pw == 0 ? 0 : (pw == 1 ? 1 : B);
    c.weights = (i / 3) % 2 == 1;
    c.backward = i % 5 != 4;
    if (c.backward && rng.OneIn(4)) {
      const int subset = static_cast<int>(rng.Below(7));  // 0..6: never all three
      c.grad_raw = subset & 1;
      c.grad_pos = subset & 2;
      c.grad_neg = subset & 4;
    }
    c.in_place = c.backward && c.grad_neg && rng.OneIn(3);
    c.upstream = rng.OneIn(2);
    c.lambda = kLambdas[rng.Below(4)];
    c.grad_scale = kScales[rng.Below(3)];
    c.values = static_cast<Values>(rng.Below(3));
    c.soft_labels = rng.OneIn(4);
    cases.push_back(c);
  }
  return cases;
}

std::vector<Case> EdgeCases() {
  std::vector<Case> cases;
  uint64_t seed = 5000;
  // Every negative masked (N = 0: the loss is the BCE term alone), each mask kind, each shape
  // class, each reduction, with gradients.
  for (int64_t K : {int64_t{1}, int64_t{33}, int64_t{1025}})
    for (int mask : {kCountMask, kByteMask, kBothMasks})
      for (semcl_reduction_t r :
           {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM, SEMCL_REDUCTION_NONE}) {
        Case c;
        c.B = K == 1025 ? 3 : 257;
        c.K = K;
        c.mask = mask;
        c.all_masked = true;
        c.reduction = r;
        c.upstream = true;
        c.dtype = mask == kByteMask ? SEMCL_DTYPE_BFLOAT16 : SEMCL_DTYPE_FLOAT32;
        c.values = Values::kNonFinite;
        c.seed = seed++;
        cases.push_back(c);
      }
  // Rows whose grad_neg coefficient exceeds FLT_MAX (lambda * grad_scale = 1e60): the fp64
  // product of semcl_pos_neg_grad_neg, with tiny sigmoids that bring it back into range.
  for (int64_t K : {int64_t{1}, int64_t{3}, int64_t{40}, int64_t{1100}})
    for (semcl_reduction_t r : {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM, SEMCL_REDUCTION_NONE})
      for (int mask : {kNoMask, kCountMask}) {
        Case c;
        c.B = K == 1100 ? 5 : 257;
        c.K = K;
        c.reduction = r;
        c.mask = mask;
        c.lambda = 1e30f;
        c.grad_scale = 1e30f;
        c.values = Values::kTinySigmoid;
        c.dtype = K == 3 ? SEMCL_DTYPE_FLOAT16 : SEMCL_DTYPE_FLOAT32;
        c.weights = r == SEMCL_REDUCTION_SUM;
        c.seed = seed++;
        cases.push_back(c);
      }
  // Every gradient subset, with a byte mask, on one-chunk and split rows.
  for (int64_t K : {int64_t{5}, int64_t{1500}})
    for (int subset = 0; subset < 8; ++subset) {
      Case c;
      c.B = K == 5 ? 300 : 7;
      c.K = K;
      c.mask = kBothMasks;
      c.grad_raw = subset & 1;
      c.grad_pos = subset & 2;
      c.grad_neg = subset & 4;
      c.reduction = subset & 1 ? SEMCL_REDUCTION_NONE : SEMCL_REDUCTION_MEAN;
      c.upstream = true;
      c.dtype = subset & 2 ? SEMCL_DTYPE_FLOAT16 : SEMCL_DTYPE_FLOAT32;
      c.seed = seed++;
      cases.push_back(c);
    }
  // In place with masks and 16-bit scores.
  for (int64_t K : {int64_t{7}, int64_t{64}, int64_t{3000}}) {
    Case c;
    c.B = K == 3000 ? 4 : 129;
    c.K = K;
    c.mask = kBothMasks;
    c.in_place = true;
    c.dtype = SEMCL_DTYPE_BFLOAT16;
    c.weights = true;
    c.pos_weight_count = c.B;
    c.values = Values::kExtreme;
    c.seed = seed++;
    cases.push_back(c);
  }
  // The positive-only loss with every dtype, weights and pos_weight.
  for (int64_t B : {int64_t{1}, int64_t{255}, int64_t{257}, int64_t{5000}})
    for (semcl_dtype_t dt : {SEMCL_DTYPE_FLOAT32, SEMCL_DTYPE_BFLOAT16, SEMCL_DTYPE_FLOAT16})
      for (semcl_reduction_t r :
           {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM, SEMCL_REDUCTION_NONE}) {
        Case c;
        c.pairwise = false;
        c.B = B;
        c.K = 1;
        c.dtype = dt;
        c.reduction = r;
        c.weights = B != 255;
        c.pos_weight_count = r == SEMCL_REDUCTION_SUM ? 1 : (r == SEMCL_REDUCTION_NONE ? B : 0);
        c.backward = B != 257 || r != SEMCL_REDUCTION_MEAN;
        c.grad_pos = B != 1;
        c.upstream = true;
        c.grad_scale = -1.5f;
        c.values = B == 5000 ? Values::kNonFinite : Values::kExtreme;
        c.soft_labels = true;
        c.seed = seed++;
        cases.push_back(c);
      }
  return cases;
}

}  // namespace semcl_parity
