// test_bad_arguments.cpp — every bad argument of every entry point.
//
// Each bad argument gives its own documented status and a non-empty last-error message that
// names the argument (checked as a whole word), and writes nothing: all arrays of a loss call
// live in one arena in the context's memory space (inputs, upstream gradient, poisoned outputs
// and poisoned gaps between them), and the whole arena must be bitwise unchanged afterwards.
// Aliasing: every output against every input and every other output, exactly and partially;
// grad_neg == score_neg exactly is the one overlap allowed.
#include <gtest/gtest.h>

#include <cctype>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core_util.h"
#include "raw_enums.h"

namespace {

using namespace semcl_core_test;
using semcl_test::Buffer;

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// Whether `text` contains `word` delimited by non-identifier characters.
bool ContainsWord(const std::string &text, const std::string &word) {
  auto ident = [](char c) { return std::isalnum((unsigned char)c) || c == '_'; };
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const bool left = at == 0 || !ident(text[at - 1]);
    const bool right = at + word.size() == text.size() || !ident(text[at + word.size()]);
    if (left && right) return true;
  }
  return false;
}

// Clears the context's last-error message with a call that succeeds, so that a message read
// after the next call is that call's own.
void ClearError(semcl_context *ctx) {
  ASSERT_EQ(semcl_synchronize(ctx), SEMCL_STATUS_SUCCESS);
  ASSERT_STREQ(semcl_last_error(ctx), "");
}

// ---- backend-independent entry points --------------------------------------------------

TEST(BadArgumentsGlobal, VersionMacrosMatchTheLibrary) {
  EXPECT_EQ(semcl_version_number(), (unsigned)SEMCL_VERSION_NUMBER);
  EXPECT_EQ(SEMCL_VERSION_NUMBER,
            SEMCL_VERSION_MAJOR * 10000 + SEMCL_VERSION_MINOR * 100 + SEMCL_VERSION_PATCH);
  const std::string expected = std::to_string(SEMCL_VERSION_MAJOR) + "." +
                               std::to_string(SEMCL_VERSION_MINOR) + "." +
                               std::to_string(SEMCL_VERSION_PATCH);
  ASSERT_NE(semcl_version_string(), nullptr);
  EXPECT_EQ(std::string(semcl_version_string()), expected);
}

TEST(BadArgumentsGlobal, StatusNamesAndStringsAreNeverNull) {
  const char *names[] = {"SEMCL_STATUS_SUCCESS",          "SEMCL_STATUS_NULL_CONTEXT",
                         "SEMCL_STATUS_NULL_POINTER",     "SEMCL_STATUS_INVALID_SIZE",
                         "SEMCL_STATUS_SIZE_OVERFLOW",    "SEMCL_STATUS_NON_FINITE_SCALAR",
                         "SEMCL_STATUS_INVALID_ENUM",     "SEMCL_STATUS_ALIASING",
                         "SEMCL_STATUS_BACKEND_UNAVAILABLE", "SEMCL_STATUS_WRONG_MEMORY_SPACE",
                         "SEMCL_STATUS_OUT_OF_MEMORY",    "SEMCL_STATUS_CUDA_ERROR",
                         "SEMCL_STATUS_INVALID_VALUE",    "SEMCL_STATUS_INTERNAL_ERROR"};
  std::vector<std::string> texts;
  for (int s = 0; s <= 13; ++s) {
    const semcl_status_t st = (semcl_status_t)s;
    ASSERT_NE(semcl_status_name(st), nullptr) << s;
    ASSERT_NE(semcl_status_string(st), nullptr) << s;
    EXPECT_STREQ(semcl_status_name(st), names[s]);
    EXPECT_GT(std::strlen(semcl_status_string(st)), 0u) << s;
    for (const std::string &t : texts) EXPECT_NE(t, semcl_status_string(st)) << s;
    texts.push_back(semcl_status_string(st));
  }
  for (int s : {-1, 14, 99, INT_MAX, INT_MIN}) {  // out of range: made in C (raw_enums.h)
    ASSERT_NE(semcl_status_name(semcl_test_raw_status(s)), nullptr) << s;
    EXPECT_STREQ(semcl_status_name(semcl_test_raw_status(s)), "SEMCL_STATUS_UNKNOWN") << s;
    ASSERT_NE(semcl_status_string(semcl_test_raw_status(s)), nullptr) << s;
    EXPECT_GT(std::strlen(semcl_status_string(semcl_test_raw_status(s))), 0u) << s;
  }
}

TEST(BadArgumentsGlobal, LastErrorOfNullContextIsAText) {
  const char *m = semcl_last_error(nullptr);
  ASSERT_NE(m, nullptr);
  EXPECT_GT(std::strlen(m), 0u);
}

TEST(BadArgumentsGlobal, CreateRefusesBadArgumentsAndSetsContextToNull) {
  EXPECT_EQ(semcl_create(nullptr, SEMCL_BACKEND_CPU), SEMCL_STATUS_NULL_POINTER);
  semcl_context *dummy = reinterpret_cast<semcl_context *>(&dummy);  // any non-NULL value
  for (int b : {-1, 3, 7, INT_MAX}) {
    semcl_context *ctx = dummy;
    EXPECT_EQ(semcl_create(&ctx, semcl_test_raw_backend(b)), SEMCL_STATUS_INVALID_ENUM) << b;
    EXPECT_EQ(ctx, nullptr) << b;
  }
  semcl_destroy(nullptr);  // a no-op
}

TEST(BadArgumentsGlobal, CreateCudaWithoutDeviceIsUnavailable) {
  semcl_context *ctx = reinterpret_cast<semcl_context *>(&ctx);
  const semcl_status_t st = semcl_create(&ctx, SEMCL_BACKEND_CUDA);
  if (!semcl_has_cuda_build()) {
    // No silent fallback to the CPU.
    EXPECT_EQ(st, SEMCL_STATUS_BACKEND_UNAVAILABLE);
    EXPECT_EQ(ctx, nullptr);
    return;
  }
  if (st == SEMCL_STATUS_SUCCESS) {
    semcl_backend_t b = SEMCL_BACKEND_AUTO;
    EXPECT_EQ(semcl_get_backend(ctx, &b), SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(b, SEMCL_BACKEND_CUDA);
    semcl_destroy(ctx);
  } else {
    EXPECT_EQ(st, SEMCL_STATUS_BACKEND_UNAVAILABLE);
    EXPECT_EQ(ctx, nullptr);
  }
}

// AUTO never fails for lack of a device and gives a working context.
TEST(BadArgumentsGlobal, AutoGivesAWorkingContext) {
  semcl_context *ctx = nullptr;
  ASSERT_EQ(semcl_create(&ctx, SEMCL_BACKEND_AUTO), SEMCL_STATUS_SUCCESS);
  ASSERT_NE(ctx, nullptr);
  semcl_backend_t b = SEMCL_BACKEND_AUTO;
  EXPECT_EQ(semcl_get_backend(ctx, &b), SEMCL_STATUS_SUCCESS);
  EXPECT_TRUE(b == SEMCL_BACKEND_CPU || b == SEMCL_BACKEND_CUDA) << b;
  if (!semcl_has_cuda_build()) {
    EXPECT_EQ(b, SEMCL_BACKEND_CPU);
  }
  {
    Problem p;
    p.B = 2;
    p.K = 3;
    p.raw = {0.5f, -1.0f};
    p.pos = {1.5f, -2.0f};
    p.neg = {0.1f, -0.3f, 2.0f, 0.4f, -1.5f, 0.0f};
    p.y = {1.0f, 0.0f};
    ExpectResultClose(RunSemcl(ctx, p), Reference(p));
  }
  semcl_destroy(ctx);
}

// ---- the loss entry points, through the backend fixture ---------------------------------

enum Entry { kPosOnlyFwd, kPosOnlyFwdBwd, kPosNegFwd, kPosNegFwdBwd };
const Entry kEntries[] = {kPosOnlyFwd, kPosOnlyFwdBwd, kPosNegFwd, kPosNegFwdBwd};

const char *EntryName(Entry e) {
  switch (e) {
    case kPosOnlyFwd: return "semcl_positive_only_forward";
    case kPosOnlyFwdBwd: return "semcl_positive_only_forward_backward";
    case kPosNegFwd: return "semcl_pos_neg_forward";
    case kPosNegFwdBwd: return "semcl_pos_neg_forward_backward";
  }
  return "?";
}
bool Pairwise(Entry e) { return e == kPosNegFwd || e == kPosNegFwdBwd; }
bool Backward(Entry e) { return e == kPosOnlyFwdBwd || e == kPosNegFwdBwd; }

// Every argument of every loss entry point (unused ones are ignored by Invoke). The reduction
// is an int, so that it can hold the out-of-range values of UnknownReduction (C++ may not keep
// them in the enum type: raw_enums.h).
struct Call {
  semcl_context *ctx = nullptr;
  int64_t B = 0, K = 0;
  const float *score_raw = nullptr, *score_pos = nullptr, *score_neg = nullptr, *y = nullptr;
  float lambda = 1.0f;
  int reduction = SEMCL_REDUCTION_NONE;
  float grad_scale = 1.0f;
  const float *grad_upstream = nullptr;
  float *loss = nullptr, *loss_ctr = nullptr, *loss_aux = nullptr;
  float *grad_raw = nullptr, *grad_pos = nullptr, *grad_neg = nullptr;
};

semcl_status_t Invoke(Entry e, const Call &c) {
  switch (e) {
    case kPosOnlyFwd:
      return semcl_positive_only_forward(c.ctx, c.B, c.score_raw, c.score_pos, c.y, c.lambda,
                                         semcl_test_raw_reduction(c.reduction), c.loss,
                                         c.loss_ctr, c.loss_aux);
    case kPosOnlyFwdBwd:
      return semcl_positive_only_forward_backward(
          c.ctx, c.B, c.score_raw, c.score_pos, c.y, c.lambda,
          semcl_test_raw_reduction(c.reduction), c.grad_scale, c.grad_upstream, c.loss,
          c.loss_ctr, c.loss_aux, c.grad_raw, c.grad_pos);
    case kPosNegFwd:
      return semcl_pos_neg_forward(c.ctx, c.B, c.K, c.score_raw, c.score_pos, c.score_neg, c.y,
                                   c.lambda, semcl_test_raw_reduction(c.reduction), c.loss,
                                   c.loss_ctr, c.loss_aux);
    case kPosNegFwdBwd:
      return semcl_pos_neg_forward_backward(
          c.ctx, c.B, c.K, c.score_raw, c.score_pos, c.score_neg, c.y, c.lambda,
          semcl_test_raw_reduction(c.reduction), c.grad_scale, c.grad_upstream, c.loss,
          c.loss_ctr, c.loss_aux, c.grad_raw, c.grad_pos, c.grad_neg);
  }
  return SEMCL_STATUS_INTERNAL_ERROR;
}

// One array of a loss call inside the arena.
struct Region {
  std::string name;
  size_t offset;
  size_t rows_count;  // element count for reduction NONE
  bool output;
  bool loss_sized;    // (B) for NONE, (1) for MEAN/SUM
};

class BadArguments : public semcl_test::BackendTest {
 protected:
  static constexpr int64_t B = 4, K = 3;
  static constexpr size_t kGap = 16;  // poisoned floats around every array (> any array - 1)

  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const char *names[] = {"score_raw", "score_pos", "score_neg", "y",        "grad_upstream",
                           "loss",      "loss_ctr",  "loss_aux",  "grad_raw", "grad_pos",
                           "grad_neg"};
    size_t at = kGap;
    for (const char *n : names) {
      const std::string s = n;
      const bool neg = s == "score_neg" || s == "grad_neg";
      const bool loss_sized = s == "grad_upstream" || s.rfind("loss", 0) == 0;
      const bool output = s.rfind("loss", 0) == 0 || s.rfind("grad_", 0) == 0;
      regions_.push_back({s, at, neg ? (size_t)(B * K) : (size_t)B,
                          output && s != "grad_upstream", loss_sized});
      at += regions_.back().rows_count + kGap;
    }
    snapshot_.assign(at, semcl_test::PoisonValue());
    for (const Region &r : regions_) {
      if (r.output) continue;
      for (size_t i = 0; i < r.rows_count; ++i)
        snapshot_[r.offset + i] = r.name == "y" ? (float)(i % 2) : 0.25f * (float)(i + 1);
    }
    arena_ = Buffer(ctx_, snapshot_);
  }

  void TearDown() override {
    arena_ = Buffer();  // free it while the context lives
    BackendTest::TearDown();
  }

  const Region &Find(const std::string &name) const {
    for (const Region &r : regions_)
      if (r.name == name) return r;
    throw std::runtime_error("no region " + name);
  }
  float *Ptr(const std::string &name) const { return arena_.get() + Find(name).offset; }
  size_t Count(const Region &r, semcl_reduction_t red) const {
    return r.loss_sized && red != SEMCL_REDUCTION_NONE ? 1 : r.rows_count;
  }

  // A valid call of entry e: every array in its own place in the arena.
  Call Valid(Entry e, semcl_reduction_t red = SEMCL_REDUCTION_NONE) const {
    Call c;
    c.ctx = ctx_;
    c.B = B;
    c.K = Pairwise(e) ? K : 1;
    c.score_raw = Ptr("score_raw");
    c.score_pos = Ptr("score_pos");
    c.score_neg = Pairwise(e) ? Ptr("score_neg") : nullptr;
    c.y = Ptr("y");
    c.lambda = 0.5f;
    c.reduction = red;
    c.grad_scale = 2.0f;
    c.grad_upstream = Backward(e) ? Ptr("grad_upstream") : nullptr;
    c.loss = Ptr("loss");
    c.loss_ctr = Ptr("loss_ctr");
    c.loss_aux = Ptr("loss_aux");
    if (Backward(e)) {
      c.grad_raw = Ptr("grad_raw");
      c.grad_pos = Ptr("grad_pos");
      if (Pairwise(e)) c.grad_neg = Ptr("grad_neg");
    }
    return c;
  }

  // The regions entry e reads or writes.
  std::vector<Region> Live(Entry e) const {
    std::vector<Region> live;
    for (const Region &r : regions_) {
      if ((r.name == "score_neg" || r.name == "grad_neg") && !Pairwise(e)) continue;
      if ((r.name == "grad_upstream" || r.name == "grad_raw" || r.name == "grad_pos" ||
           r.name == "grad_neg") &&
          !Backward(e))
        continue;
      live.push_back(r);
    }
    return live;
  }

  static void SetPointer(Call &c, const std::string &name, float *p) {
    if (name == "score_raw") c.score_raw = p;
    else if (name == "score_pos") c.score_pos = p;
    else if (name == "score_neg") c.score_neg = p;
    else if (name == "y") c.y = p;
    else if (name == "grad_upstream") c.grad_upstream = p;
    else if (name == "loss") c.loss = p;
    else if (name == "loss_ctr") c.loss_ctr = p;
    else if (name == "loss_aux") c.loss_aux = p;
    else if (name == "grad_raw") c.grad_raw = p;
    else if (name == "grad_pos") c.grad_pos = p;
    else if (name == "grad_neg") c.grad_neg = p;
    else ADD_FAILURE() << "unknown pointer " << name;
  }

  // The call fails with `status`, the message names every word in `words`, and the arena
  // (inputs, poisoned outputs, poisoned gaps) is bitwise unchanged.
  void ExpectRefused(Entry e, const Call &c, semcl_status_t status,
                     const std::vector<std::string> &words) {
    SCOPED_TRACE(EntryName(e));
    ClearError(ctx_);
    const semcl_status_t st = Invoke(e, c);
    EXPECT_EQ(st, status) << "got " << semcl_status_name(st) << ": " << semcl_last_error(ctx_);
    if (c.ctx) {
      const std::string msg = semcl_last_error(ctx_);
      EXPECT_FALSE(msg.empty());
      for (const std::string &w : words)
        EXPECT_TRUE(ContainsWord(msg, w)) << "message \"" << msg << "\" does not name " << w;
    }
    ExpectBitwiseEqual("arena", arena_.download(), snapshot_);
  }

  void ExpectAccepted(Entry e, const Call &c) {
    SCOPED_TRACE(EntryName(e));
    const semcl_status_t st = Invoke(e, c);
    EXPECT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_status_name(st) << ": " << semcl_last_error(ctx_);
    EXPECT_STREQ(semcl_last_error(ctx_), "");
    arena_.upload(snapshot_);  // restore for the next call
  }

  std::vector<Region> regions_;
  std::vector<float> snapshot_;
  Buffer arena_;
};

// The baseline: every valid call succeeds (so each refusal below is due to its one change),
// and clears a previous error message.
TEST_P(BadArguments, ValidCallsSucceed) {
  for (Entry e : kEntries)
    for (semcl_reduction_t red : {SEMCL_REDUCTION_MEAN, SEMCL_REDUCTION_SUM, SEMCL_REDUCTION_NONE}) {
      Call bad = Valid(e, red);
      bad.B = 0;
      ExpectRefused(e, bad, SEMCL_STATUS_INVALID_SIZE, {"B"});
      ExpectAccepted(e, Valid(e, red));
    }
}

TEST_P(BadArguments, NullContext) {
  for (Entry e : kEntries) {
    Call c = Valid(e);
    c.ctx = nullptr;
    ExpectRefused(e, c, SEMCL_STATUS_NULL_CONTEXT, {});
  }
}

TEST_P(BadArguments, NullRequiredPointer) {
  for (Entry e : kEntries) {
    std::vector<std::string> required = {"score_raw", "score_pos", "y", "loss", "loss_ctr",
                                         "loss_aux"};
    if (Pairwise(e)) required.push_back("score_neg");
    for (const std::string &name : required) {
      SCOPED_TRACE(name + " = NULL");
      Call c = Valid(e);
      SetPointer(c, name, nullptr);
      ExpectRefused(e, c, SEMCL_STATUS_NULL_POINTER, {name});
    }
  }
}

TEST_P(BadArguments, NonPositiveSizes) {
  for (Entry e : kEntries) {
    for (int64_t bad : {int64_t(0), int64_t(-1), int64_t(-4), INT64_MIN}) {
      SCOPED_TRACE("size " + std::to_string(bad));
      Call c = Valid(e);
      c.B = bad;
      ExpectRefused(e, c, SEMCL_STATUS_INVALID_SIZE, {"B"});
      if (Pairwise(e)) {
        c = Valid(e);
        c.K = bad;
        ExpectRefused(e, c, SEMCL_STATUS_INVALID_SIZE, {"K"});
      }
    }
  }
}

TEST_P(BadArguments, SizeOverflow) {
  const int64_t big = int64_t(1) << 32, half = int64_t(1) << 31;
  for (Entry e : kEntries) {
    if (Pairwise(e)) {
      // B*K overflows int64 / B*K fits but B*K*4 bytes overflow.
      const int64_t cases[][2] = {{big, big},  {INT64_MAX, 2}, {2, INT64_MAX},
                                  {half, half}, {int64_t(1) << 61, 1}, {1, int64_t(1) << 61}};
      for (const auto &bk : cases) {
        SCOPED_TRACE("B = " + std::to_string(bk[0]) + ", K = " + std::to_string(bk[1]));
        Call c = Valid(e);
        c.B = bk[0];
        c.K = bk[1];
        ExpectRefused(e, c, SEMCL_STATUS_SIZE_OVERFLOW, {"B", "K"});
      }
    } else {
      for (int64_t b : {INT64_MAX, int64_t(1) << 62, int64_t(1) << 61}) {  // B*4 bytes overflow
        SCOPED_TRACE("B = " + std::to_string(b));
        Call c = Valid(e);
        c.B = b;
        ExpectRefused(e, c, SEMCL_STATUS_SIZE_OVERFLOW, {"B"});
      }
    }
  }
}

TEST_P(BadArguments, NonFiniteScalars) {
  for (Entry e : kEntries) {
    for (float bad : {kNaN, kInf, -kInf}) {
      SCOPED_TRACE("value " + std::to_string(bad));
      Call c = Valid(e);
      c.lambda = bad;
      ExpectRefused(e, c, SEMCL_STATUS_NON_FINITE_SCALAR, {"lambda"});
      if (Backward(e)) {
        c = Valid(e);
        c.grad_scale = bad;
        ExpectRefused(e, c, SEMCL_STATUS_NON_FINITE_SCALAR, {"grad_scale"});
      }
    }
  }
}

TEST_P(BadArguments, UnknownReduction) {
  for (Entry e : kEntries)
    for (int bad : {3, -1, 1000, INT_MIN}) {
      SCOPED_TRACE("reduction " + std::to_string(bad));
      Call c = Valid(e);
      c.reduction = bad;
      ExpectRefused(e, c, SEMCL_STATUS_INVALID_ENUM, {"reduction"});
    }
}

// Every output against every other array the entry point uses: exactly, and partially from
// either side. grad_neg == score_neg exactly is allowed (tested below).
TEST_P(BadArguments, EveryOutputOverlapIsRefused) {
  for (semcl_reduction_t red : {SEMCL_REDUCTION_NONE, SEMCL_REDUCTION_MEAN}) {
    for (Entry e : kEntries) {
      const std::vector<Region> live = Live(e);
      for (const Region &out : live) {
        if (!out.output) continue;
        for (const Region &other : live) {
          if (other.name == out.name) continue;
          const size_t n_out = Count(out, red), n_other = Count(other, red);
          float *base = arena_.get() + other.offset;
          std::vector<std::pair<std::string, float *>> placements;
          if (!(out.name == "grad_neg" && other.name == "score_neg"))
            placements.push_back({"exactly", base});
          if (n_other > 1) placements.push_back({"starting inside", base + 1});
          if (n_out > 1) placements.push_back({"ending inside", base - (n_out - 1)});
          for (const auto &pl : placements) {
            SCOPED_TRACE(out.name + " overlapping " + other.name + " " + pl.first +
                         (red == SEMCL_REDUCTION_NONE ? " (NONE)" : " (MEAN)"));
            Call c = Valid(e, red);
            SetPointer(c, out.name, pl.second);
            ExpectRefused(e, c, SEMCL_STATUS_ALIASING, {out.name, other.name});
          }
        }
      }
    }
  }
}

// In-place grad_neg == score_neg is the one allowed overlap; any partial overlap is refused.
TEST_P(BadArguments, InPlaceGradNegExactOnly) {
  for (semcl_reduction_t red : {SEMCL_REDUCTION_NONE, SEMCL_REDUCTION_SUM}) {
    Call c = Valid(kPosNegFwdBwd, red);
    c.grad_neg = Ptr("score_neg");
    ExpectAccepted(kPosNegFwdBwd, c);
    for (int shift : {1, -1, 2, -(int)(B * K - 1)}) {
      SCOPED_TRACE("grad_neg = score_neg + " + std::to_string(shift));
      c.grad_neg = Ptr("score_neg") + shift;
      ExpectRefused(kPosNegFwdBwd, c, SEMCL_STATUS_ALIASING, {"grad_neg", "score_neg"});
    }
  }
}

// Inputs are const: they may overlap each other freely.
TEST_P(BadArguments, InputsMayOverlapEachOther) {
  for (Entry e : kEntries) {
    Call c = Valid(e);
    c.score_pos = c.score_raw;
    c.y = c.score_raw;
    if (Pairwise(e)) c.score_neg = c.score_raw + 1;  // partial overlap with the other inputs
    if (Backward(e)) c.grad_upstream = c.score_raw + 2;
    ExpectAccepted(e, c);
  }
}

// A caller workspace smaller than the call needs: INVALID_VALUE, nothing written.
TEST_P(BadArguments, TooSmallWorkspace) {
  // The first shape that needs a workspace of at least 32 bytes on this backend.
  int64_t b = 0, k = 0;
  size_t need = 0;
  const int64_t shapes[][2] = {{600, 3}, {4, 100000}, {70000, 8}};
  for (const auto &s : shapes) {
    ASSERT_EQ(semcl_get_workspace_size(ctx_, SEMCL_LOSS_POS_NEG, s[0], s[1], &need),
              SEMCL_STATUS_SUCCESS);
    b = s[0];
    k = s[1];
    if (need >= 32) break;
  }
  if (need < 32) GTEST_SKIP() << "this backend needs (almost) no workspace for these shapes";
  Buffer ws(ctx_, need / sizeof(float) + 4, 0.0f);
  Buffer raw(ctx_, (size_t)b, 0.5f), pos(ctx_, (size_t)b, 0.25f), y(ctx_, (size_t)b, 1.0f),
      neg(ctx_, (size_t)(b * k), 0.0f);
  const float poison = semcl_test::PoisonValue();
  Buffer loss(ctx_, 1, poison), ctr(ctx_, 1, poison), aux(ctx_, 1, poison),
      graw(ctx_, (size_t)b, poison), gpos(ctx_, (size_t)b, poison),
      gneg(ctx_, (size_t)(b * k), poison);
  auto call = [&] {
    return semcl_pos_neg_forward_backward(ctx_, b, k, raw.get(), pos.get(), neg.get(), y.get(),
                                          1.0f, SEMCL_REDUCTION_MEAN, 1.0f, nullptr, loss.get(),
                                          ctr.get(), aux.get(), graw.get(), gpos.get(),
                                          gneg.get());
  };
  ASSERT_EQ(semcl_set_workspace(ctx_, ws.get(), need - 16), SEMCL_STATUS_SUCCESS);
  ClearError(ctx_);
  EXPECT_EQ(call(), SEMCL_STATUS_INVALID_VALUE);
  EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "workspace")) << semcl_last_error(ctx_);
  for (const Buffer *o : {&loss, &ctr, &aux, &graw, &gpos, &gneg})
    EXPECT_TRUE(semcl_test::AllPoison(o->download()));
  ASSERT_EQ(semcl_set_workspace(ctx_, ws.get(), need), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(call(), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
  EXPECT_FALSE(semcl_test::AllPoison(loss.download()));
  ASSERT_EQ(semcl_set_workspace(ctx_, nullptr, 0), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(call(), SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
}

// A pointer from the other memory space: refused with WRONG_MEMORY_SPACE where the library can
// tell (CUDA builds): host memory on a CUDA context, device memory on a CPU context.
TEST_P(BadArguments, PointerFromTheOtherMemorySpace) {
  std::vector<float> host(B, 0.5f);
  semcl_context *cuda = nullptr;
  Buffer device;
  const float *foreign = nullptr;
  if (GetParam() == SEMCL_BACKEND_CUDA) {
    foreign = host.data();
  } else {
    SEMCL_REQUIRE_BACKEND(SEMCL_BACKEND_CUDA);  // device memory to hand to a CPU context
    ASSERT_EQ(semcl_create(&cuda, SEMCL_BACKEND_CUDA), SEMCL_STATUS_SUCCESS);
    device = Buffer(cuda, host);
    foreign = device.get();
  }
  for (Entry e : kEntries) {
    Call c = Valid(e);
    c.score_raw = foreign;
    ExpectRefused(e, c, SEMCL_STATUS_WRONG_MEMORY_SPACE, {"score_raw"});
  }
  device = Buffer();
  semcl_destroy(cuda);
}

// ---- context settings, workspace and buffer entry points --------------------------------

TEST_P(BadArguments, Threads) {
  EXPECT_EQ(semcl_set_threads(nullptr, 2), SEMCL_STATUS_NULL_CONTEXT);
  int t = -7;
  EXPECT_EQ(semcl_get_threads(nullptr, &t), SEMCL_STATUS_NULL_CONTEXT);
  EXPECT_EQ(t, -7);
  ASSERT_EQ(semcl_set_threads(ctx_, 3), SEMCL_STATUS_SUCCESS);
  for (int bad : {-1, 1025, INT_MIN, INT_MAX}) {
    SCOPED_TRACE(bad);
    ClearError(ctx_);
    EXPECT_EQ(semcl_set_threads(ctx_, bad), SEMCL_STATUS_INVALID_VALUE);
    EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "threads")) << semcl_last_error(ctx_);
    ASSERT_EQ(semcl_get_threads(ctx_, &t), SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(t, 3);  // unchanged
  }
  ClearError(ctx_);
  EXPECT_EQ(semcl_get_threads(ctx_, nullptr), SEMCL_STATUS_NULL_POINTER);
  EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "threads")) << semcl_last_error(ctx_);
  for (int good : {1, 1024, 0}) {
    EXPECT_EQ(semcl_set_threads(ctx_, good), SEMCL_STATUS_SUCCESS);
    EXPECT_STREQ(semcl_last_error(ctx_), "");
    ASSERT_EQ(semcl_get_threads(ctx_, &t), SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(t, good);
  }
}

TEST_P(BadArguments, CpuIsa) {
  semcl_cpu_isa_t isa = SEMCL_CPU_ISA_SCALAR;
  EXPECT_EQ(semcl_set_cpu_isa(nullptr, SEMCL_CPU_ISA_SCALAR), SEMCL_STATUS_NULL_CONTEXT);
  EXPECT_EQ(semcl_get_cpu_isa(nullptr, &isa), SEMCL_STATUS_NULL_CONTEXT);
  ClearError(ctx_);
  EXPECT_EQ(semcl_get_cpu_isa(ctx_, nullptr), SEMCL_STATUS_NULL_POINTER);
  EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "isa")) << semcl_last_error(ctx_);
  ASSERT_EQ(semcl_set_cpu_isa(ctx_, SEMCL_CPU_ISA_SCALAR), SEMCL_STATUS_SUCCESS);
  for (int bad : {-1, 3, 99, INT_MIN, INT_MAX}) {  // out of range: made in C (raw_enums.h)
    SCOPED_TRACE(bad);
    ClearError(ctx_);
    EXPECT_EQ(semcl_set_cpu_isa(ctx_, semcl_test_raw_cpu_isa(bad)), SEMCL_STATUS_INVALID_ENUM);
    EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "isa")) << semcl_last_error(ctx_);
    ASSERT_EQ(semcl_get_cpu_isa(ctx_, &isa), SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(isa, SEMCL_CPU_ISA_SCALAR);  // unchanged
    EXPECT_STREQ(semcl_cpu_isa_name(semcl_test_raw_cpu_isa(bad)), "unknown");
  }
  ExpectAccepted(kPosNegFwdBwd, Valid(kPosNegFwdBwd));  // the context still works
}

TEST(BadArgumentsGlobal, UnknownDtypeHasNoSize) {
  EXPECT_EQ(semcl_dtype_size(SEMCL_DTYPE_FLOAT32), 4u);
  EXPECT_EQ(semcl_dtype_size(SEMCL_DTYPE_BFLOAT16), 2u);
  EXPECT_EQ(semcl_dtype_size(SEMCL_DTYPE_FLOAT16), 2u);
  for (int bad : {-1, 3, 7, INT_MIN, INT_MAX})  // out of range: made in C (raw_enums.h)
    EXPECT_EQ(semcl_dtype_size(semcl_test_raw_dtype(bad)), 0u) << bad;
}

TEST_P(BadArguments, BackendAndStream) {
  semcl_backend_t b = SEMCL_BACKEND_AUTO;  // never a context's backend: the untouched value
  EXPECT_EQ(semcl_get_backend(nullptr, &b), SEMCL_STATUS_NULL_CONTEXT);
  EXPECT_EQ(b, SEMCL_BACKEND_AUTO);
  ClearError(ctx_);
  EXPECT_EQ(semcl_get_backend(ctx_, nullptr), SEMCL_STATUS_NULL_POINTER);
  EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "backend")) << semcl_last_error(ctx_);
  EXPECT_EQ(semcl_get_backend(ctx_, &b), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(b, GetParam());

  struct CUstream_st *s = reinterpret_cast<struct CUstream_st *>(&b);
  EXPECT_EQ(semcl_set_stream(nullptr, nullptr), SEMCL_STATUS_NULL_CONTEXT);
  EXPECT_EQ(semcl_get_stream(nullptr, &s), SEMCL_STATUS_NULL_CONTEXT);
  EXPECT_EQ(s, reinterpret_cast<struct CUstream_st *>(&b));
  ClearError(ctx_);
  EXPECT_EQ(semcl_get_stream(ctx_, nullptr), SEMCL_STATUS_NULL_POINTER);
  EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "stream")) << semcl_last_error(ctx_);
  if (GetParam() == SEMCL_BACKEND_CPU) {  // stored and returned, otherwise ignored
    struct CUstream_st *fake = reinterpret_cast<struct CUstream_st *>(&s);
    EXPECT_EQ(semcl_set_stream(ctx_, fake), SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(semcl_get_stream(ctx_, &s), SEMCL_STATUS_SUCCESS);
    EXPECT_EQ(s, fake);
    ExpectAccepted(kPosNegFwdBwd, Valid(kPosNegFwdBwd));
  }
  EXPECT_EQ(semcl_set_stream(ctx_, nullptr), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(semcl_get_stream(ctx_, &s), SEMCL_STATUS_SUCCESS);
  EXPECT_EQ(s, nullptr);
  EXPECT_EQ(semcl_synchronize(nullptr), SEMCL_STATUS_NULL_CONTEXT);
  EXPECT_EQ(semcl_synchronize(ctx_), SEMCL_STATUS_SUCCESS);
}

TEST_P(BadArguments, WorkspaceSizeQuery) {
  const size_t sentinel = 0xabcdef;
  size_t bytes = sentinel;
  EXPECT_EQ(semcl_get_workspace_size(nullptr, SEMCL_LOSS_POS_NEG, 4, 3, &bytes),
            SEMCL_STATUS_NULL_CONTEXT);
  ClearError(ctx_);
  EXPECT_EQ(semcl_get_workspace_size(ctx_, SEMCL_LOSS_POS_NEG, 4, 3, nullptr),
            SEMCL_STATUS_NULL_POINTER);
  EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "bytes")) << semcl_last_error(ctx_);
  struct Bad {
    int kind;
    int64_t b, k;
    semcl_status_t status;
    const char *word;
  } cases[] = {
      {7, 4, 3, SEMCL_STATUS_INVALID_ENUM, "kind"},
      {-1, 4, 3, SEMCL_STATUS_INVALID_ENUM, "kind"},
      {SEMCL_LOSS_POS_NEG, 0, 3, SEMCL_STATUS_INVALID_SIZE, "B"},
      {SEMCL_LOSS_POS_NEG, -5, 3, SEMCL_STATUS_INVALID_SIZE, "B"},
      {SEMCL_LOSS_POSITIVE_ONLY, 0, 1, SEMCL_STATUS_INVALID_SIZE, "B"},
      {SEMCL_LOSS_POS_NEG, 4, 0, SEMCL_STATUS_INVALID_SIZE, "K"},
      {SEMCL_LOSS_POS_NEG, 4, -1, SEMCL_STATUS_INVALID_SIZE, "K"},
      {SEMCL_LOSS_POS_NEG, int64_t(1) << 32, int64_t(1) << 32, SEMCL_STATUS_SIZE_OVERFLOW, "K"},
      // B*K fits int64 but its byte count does not: the loss call refuses it, so must the query.
      {SEMCL_LOSS_POS_NEG, int64_t(1) << 31, int64_t(1) << 31, SEMCL_STATUS_SIZE_OVERFLOW, "K"},
      {SEMCL_LOSS_POSITIVE_ONLY, INT64_MAX, 1, SEMCL_STATUS_SIZE_OVERFLOW, "B"},
  };
  for (const Bad &c : cases) {
    SCOPED_TRACE("kind " + std::to_string(c.kind) + " B " + std::to_string(c.b) + " K " +
                 std::to_string(c.k));
    bytes = sentinel;
    ClearError(ctx_);
    EXPECT_EQ(semcl_get_workspace_size(ctx_, semcl_test_raw_loss_kind(c.kind), c.b, c.k, &bytes),
              c.status);
    EXPECT_EQ(bytes, sentinel);  // nothing written on error
    EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), c.word)) << semcl_last_error(ctx_);
  }
  EXPECT_EQ(semcl_get_workspace_size(ctx_, SEMCL_LOSS_POSITIVE_ONLY, 1000, 1, &bytes),
            SEMCL_STATUS_SUCCESS);
  EXPECT_NE(bytes, sentinel);
}

TEST_P(BadArguments, SetWorkspace) {
  Buffer ws(ctx_, 64, 0.0f);
  EXPECT_EQ(semcl_set_workspace(nullptr, ws.get(), 256), SEMCL_STATUS_NULL_CONTEXT);
  ClearError(ctx_);
  EXPECT_EQ(semcl_set_workspace(ctx_, nullptr, 256), SEMCL_STATUS_INVALID_VALUE);
  EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "workspace")) << semcl_last_error(ctx_);
  ClearError(ctx_);
  EXPECT_EQ(semcl_set_workspace(ctx_, ws.get(), 0), SEMCL_STATUS_INVALID_VALUE);
  EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "bytes")) << semcl_last_error(ctx_);
  ClearError(ctx_);
  EXPECT_EQ(semcl_set_workspace(ctx_, ws.get() + 1, 128), SEMCL_STATUS_INVALID_VALUE);  // 4 B off
  EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "aligned")) << semcl_last_error(ctx_);
  // The refused calls changed nothing: the context still uses its own workspace.
  ExpectAccepted(kPosNegFwdBwd, Valid(kPosNegFwdBwd));
  EXPECT_EQ(semcl_set_workspace(ctx_, ws.get(), 256), SEMCL_STATUS_SUCCESS);
  ExpectAccepted(kPosNegFwdBwd, Valid(kPosNegFwdBwd));
  EXPECT_EQ(semcl_set_workspace(ctx_, nullptr, 0), SEMCL_STATUS_SUCCESS);
}

TEST_P(BadArguments, BufferAllocAndFree) {
  void *p = nullptr;
  EXPECT_EQ(semcl_buffer_alloc(nullptr, &p, 16), SEMCL_STATUS_NULL_CONTEXT);
  ClearError(ctx_);
  EXPECT_EQ(semcl_buffer_alloc(ctx_, nullptr, 16), SEMCL_STATUS_NULL_POINTER);
  EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "ptr")) << semcl_last_error(ctx_);
  ClearError(ctx_);
  EXPECT_EQ(semcl_buffer_alloc(ctx_, &p, 0), SEMCL_STATUS_INVALID_SIZE);
  EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "bytes")) << semcl_last_error(ctx_);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(semcl_buffer_alloc(ctx_, &p, SIZE_MAX / 2), SEMCL_STATUS_OUT_OF_MEMORY);
  EXPECT_GT(std::strlen(semcl_last_error(ctx_)), 0u);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(semcl_buffer_free(nullptr, nullptr), SEMCL_STATUS_NULL_CONTEXT);
  EXPECT_EQ(semcl_buffer_free(ctx_, nullptr), SEMCL_STATUS_SUCCESS);  // a no-op
  ASSERT_EQ(semcl_buffer_alloc(ctx_, &p, 16), SEMCL_STATUS_SUCCESS);
  EXPECT_NE(p, nullptr);
  EXPECT_EQ(semcl_buffer_free(ctx_, p), SEMCL_STATUS_SUCCESS);
}

TEST_P(BadArguments, UploadAndDownload) {
  Buffer dev(ctx_, 4, 1.0f);
  std::vector<float> host = {5, 6, 7, 8};
  const std::vector<float> before = host;
  for (bool up : {true, false}) {
    SCOPED_TRACE(up ? "semcl_upload" : "semcl_download");
    auto copy = [&](semcl_context *c, void *dst, const void *src, size_t n) {
      return up ? semcl_upload(c, dst, src, n) : semcl_download(c, dst, src, n);
    };
    void *dst = up ? (void *)dev.get() : (void *)host.data();
    const void *src = up ? (const void *)host.data() : (const void *)dev.get();
    EXPECT_EQ(copy(nullptr, dst, src, 16), SEMCL_STATUS_NULL_CONTEXT);
    ClearError(ctx_);
    EXPECT_EQ(copy(ctx_, nullptr, src, 16), SEMCL_STATUS_NULL_POINTER);
    EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "destination")) << semcl_last_error(ctx_);
    ClearError(ctx_);
    EXPECT_EQ(copy(ctx_, dst, nullptr, 16), SEMCL_STATUS_NULL_POINTER);
    EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "source")) << semcl_last_error(ctx_);
    ClearError(ctx_);
    EXPECT_EQ(copy(ctx_, dst, src, SIZE_MAX), SEMCL_STATUS_SIZE_OVERFLOW);
    EXPECT_TRUE(ContainsWord(semcl_last_error(ctx_), "bytes")) << semcl_last_error(ctx_);
    EXPECT_EQ(copy(ctx_, dst, src, 0), SEMCL_STATUS_SUCCESS);  // copies nothing
    EXPECT_STREQ(semcl_last_error(ctx_), "");
    ExpectBitwiseEqual("host", host, before);
    ExpectBitwiseEqual("device", dev.download(), std::vector<float>(4, 1.0f));
  }
  ASSERT_EQ(semcl_upload(ctx_, dev.get(), host.data(), 16), SEMCL_STATUS_SUCCESS);
  ExpectBitwiseEqual("round trip", dev.download(), before);
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(BadArguments);

}  // namespace
