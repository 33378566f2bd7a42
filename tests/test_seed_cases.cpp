// test_seed_cases.cpp — the seed's own PyTorch results (tests/data/seed_cases.json, fp64) must
// be reproduced on every backend: L, L_ctr, L_aux and every gradient.
//
// SEMCL_SEED_CASES=/path/to/other.json runs that file's cases instead, without rebuilding.
// Tolerance per output vector v: |got - exp| <= 2e-5*|exp| + 1e-6*max|exp over v|.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend_buffers.h"
#include "test_paths.h"

using semcl_test::BackendTest;
using semcl_test::Buffer;

namespace {

struct SeedCase {
  std::string name;
  bool pairwise = false;
  int64_t B = 0, K = 0;
  float lambda = 0;
  std::vector<float> y, raw, pos, neg;
  double loss = 0, loss_ctr = 0, loss_aux = 0;
  std::vector<double> grad_raw, grad_pos, grad_neg;
};

std::string CasesPath() {
  const char *env = std::getenv("SEMCL_SEED_CASES");
  return env && *env ? std::string(env) : semcl_test::TestDataFile("seed_cases.json");
}

std::vector<float> Floats(const nlohmann::json &j) {
  std::vector<float> v;
  for (const auto &x : j) v.push_back(x.get<float>());
  return v;
}

std::vector<SeedCase> LoadCases(std::string *error) {
  std::ifstream in(CasesPath());
  if (!in) {
    *error = "cannot open " + CasesPath();
    return {};
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const std::exception &e) {
    *error = CasesPath() + ": " + e.what();
    return {};
  }
  std::vector<SeedCase> cases;
  for (const auto &c : doc.at("cases")) {
    SeedCase s;
    s.name = c.at("name").get<std::string>();
    s.pairwise = c.at("loss").get<std::string>() == "pos_neg";
    s.B = c.at("B").get<int64_t>();
    s.K = c.at("K").get<int64_t>();
    s.lambda = c.at("lambda").get<float>();
    s.y = Floats(c.at("y"));
    s.raw = Floats(c.at("score_raw"));
    s.pos = Floats(c.at("score_pos"));
    if (s.pairwise) s.neg = Floats(c.at("score_neg"));
    const auto &e = c.at("expected");
    s.loss = e.at("loss").get<double>();
    s.loss_ctr = e.at("loss_ctr").get<double>();
    s.loss_aux = e.at("loss_aux").get<double>();
    s.grad_raw = e.at("grad_raw").get<std::vector<double>>();
    s.grad_pos = e.at("grad_pos").get<std::vector<double>>();
    if (s.pairwise) s.grad_neg = e.at("grad_neg").get<std::vector<double>>();
    cases.push_back(std::move(s));
  }
  return cases;
}

// Checks one output vector against the tolerance rule; reports the worst element.
void ExpectClose(const std::string &what, const std::vector<float> &got,
                 const std::vector<double> &expected) {
  ASSERT_EQ(got.size(), expected.size()) << what;
  double max_abs = 0;
  for (double e : expected) max_abs = std::fmax(max_abs, std::fabs(e));
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = 2e-5 * std::fabs(expected[i]) + 1e-6 * max_abs;
    EXPECT_LE(std::fabs((double)got[i] - expected[i]), tol)
        << what << "[" << i << "]: got " << got[i] << ", expected " << expected[i];
  }
}

class SeedCases : public BackendTest {};

TEST_P(SeedCases, EveryCaseMatchesTheSeedCode) {
  std::string error;
  const std::vector<SeedCase> cases = LoadCases(&error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_FALSE(cases.empty()) << CasesPath() << " holds no cases";
  for (const SeedCase &c : cases) {
    SCOPED_TRACE(c.name + " from " + CasesPath());
    ASSERT_EQ((int64_t)c.raw.size(), c.B);
    Buffer raw(ctx_, c.raw), pos(ctx_, c.pos), y(ctx_, c.y);
    Buffer loss(ctx_, 1, 0.f), ctr(ctx_, 1, 0.f), aux(ctx_, 1, 0.f);
    Buffer graw(ctx_, c.B, 0.f), gpos(ctx_, c.B, 0.f);
    semcl_status_t st;
    if (c.pairwise) {
      ASSERT_EQ((int64_t)c.neg.size(), c.B * c.K);
      Buffer neg(ctx_, c.neg), gneg(ctx_, c.neg.size(), 0.f);
      st = semcl_pos_neg_forward_backward(ctx_, c.B, c.K, raw.get(), pos.get(), neg.get(), y.get(),
                                          c.lambda, SEMCL_REDUCTION_MEAN, 1.0f, nullptr,
                                          loss.get(), ctr.get(), aux.get(), graw.get(),
                                          gpos.get(), gneg.get());
      ASSERT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
      ExpectClose("grad_neg", gneg.download(), c.grad_neg);
    } else {
      st = semcl_positive_only_forward_backward(ctx_, c.B, raw.get(), pos.get(), y.get(), c.lambda,
                                                SEMCL_REDUCTION_MEAN, 1.0f, nullptr, loss.get(),
                                                ctr.get(), aux.get(), graw.get(), gpos.get());
      ASSERT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
    }
    ExpectClose("loss", loss.download(), {c.loss});
    ExpectClose("loss_ctr", ctr.download(), {c.loss_ctr});
    ExpectClose("loss_aux", aux.download(), {c.loss_aux});
    ExpectClose("grad_raw", graw.download(), c.grad_raw);
    ExpectClose("grad_pos", gpos.download(), c.grad_pos);
  }
}

// The forward-only entry points give the same losses as the fused forward+backward.
TEST_P(SeedCases, ForwardOnlyLossesMatchTheSeedCode) {
  std::string error;
  const std::vector<SeedCase> cases = LoadCases(&error);
  ASSERT_TRUE(error.empty()) << error;
  for (const SeedCase &c : cases) {
    SCOPED_TRACE(c.name);
    Buffer raw(ctx_, c.raw), pos(ctx_, c.pos), y(ctx_, c.y);
    Buffer loss(ctx_, 1, 0.f), ctr(ctx_, 1, 0.f), aux(ctx_, 1, 0.f);
    semcl_status_t st;
    if (c.pairwise) {
      Buffer neg(ctx_, c.neg);
      st = semcl_pos_neg_forward(ctx_, c.B, c.K, raw.get(), pos.get(), neg.get(), y.get(),
                                 c.lambda, SEMCL_REDUCTION_MEAN, loss.get(), ctr.get(), aux.get());
    } else {
      st = semcl_positive_only_forward(ctx_, c.B, raw.get(), pos.get(), y.get(), c.lambda,
                                       SEMCL_REDUCTION_MEAN, loss.get(), ctr.get(), aux.get());
    }
    ASSERT_EQ(st, SEMCL_STATUS_SUCCESS) << semcl_last_error(ctx_);
    ExpectClose("loss", loss.download(), {c.loss});
    ExpectClose("loss_ctr", ctr.download(), {c.loss_ctr});
    ExpectClose("loss_aux", aux.download(), {c.loss_aux});
  }
}

SEMCL_INSTANTIATE_ON_ALL_BACKENDS(SeedCases);

}  // namespace
