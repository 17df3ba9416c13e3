// symmetric_eigen_test.cpp: the Jacobi twin of cuSOLVER syevj finds A v = lambda v, orthonormal
// vectors, ascending values, exact answers on known spectra and real key covariances.
#include "backend/cpu/symmetric_eigen.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "unit/codec_helpers.h"

namespace kvc {
namespace {

// Max over the batch of |A v - lambda v| and |V^T V - I|, relative to the largest |lambda|.
void expect_decomposition(const std::vector<float>& a, uint32_t n, uint32_t batch, double tol) {
  std::vector<float> values(size_t{n} * batch), vectors(a.size());
  cpu::symmetric_eigen_batched(a.data(), n, batch, values.data(), vectors.data());
  for (uint32_t b = 0; b < batch; ++b) {
    const float* m = a.data() + size_t{b} * n * n;
    const float* v = vectors.data() + size_t{b} * n * n;
    const float* w = values.data() + size_t{b} * n;
    double scale = 1e-30;
    for (uint32_t j = 0; j < n; ++j) scale = std::max(scale, std::fabs(double{w[j]}));
    for (uint32_t j = 0; j < n; ++j) {
      if (j > 0) ASSERT_LE(w[j - 1], w[j]) << "ascending";
      for (uint32_t i = 0; i < n; ++i) {
        double av = 0;
        for (uint32_t k = 0; k < n; ++k) {
          const uint32_t r = std::min(i, k), c = std::max(i, k);  // upper triangle only
          av += double{m[size_t{r} * n + c]} * v[size_t{j} * n + k];
        }
        ASSERT_NEAR(av, double{w[j]} * v[size_t{j} * n + i], tol * scale) << b << " " << j;
      }
      for (uint32_t k = 0; k < n; ++k) {
        double dot = 0;
        for (uint32_t i = 0; i < n; ++i) dot += double{v[size_t{j} * n + i]} * v[size_t{k} * n + i];
        ASSERT_NEAR(dot, j == k ? 1.0 : 0.0, 1e-5);
      }
    }
  }
}

TEST(SymmetricEigen, DiagonalAndTwoByTwoMatricesGiveTheirKnownSpectra) {
  const std::vector<float> diag = {3, 0, 0, 0, -1, 0, 0, 0, 2};
  std::vector<float> values(3), vectors(9);
  cpu::symmetric_eigen_batched(diag.data(), 3, 1, values.data(), vectors.data());
  EXPECT_EQ(values, (std::vector<float>{-1, 2, 3}));
  EXPECT_EQ(std::fabs(vectors[0 * 3 + 1]), 1.0f);  // eigenvector of -1 is e1
  const std::vector<float> two = {2, 1, 1, 2};     // eigenvalues 1 and 3
  cpu::symmetric_eigen_batched(two.data(), 2, 1, values.data(), vectors.data());
  EXPECT_NEAR(values[0], 1.0f, 1e-6);
  EXPECT_NEAR(values[1], 3.0f, 1e-6);
  EXPECT_NEAR(std::fabs(vectors[0]), std::sqrt(0.5f), 1e-6);
}

TEST(SymmetricEigen, RandomBatchesOfEverySizeDecompose) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal;
  for (uint32_t n : {1u, 5u, 32u, 64u}) {
    const uint32_t batch = 3;
    std::vector<float> a(size_t{n} * n * batch);
    for (float& x : a) x = normal(rng);  // the lower triangle is ignored
    expect_decomposition(a, n, batch, 1e-5);
  }
}

// Covariances of real keys (per head, head_dim x head_dim): what a PCA codec would decompose.
TEST(SymmetricEigen, RealKeyCovariancesDecompose) {
  const auto cache = test::load_real_cache("stories260K.safetensors");
  if (!cache) GTEST_SKIP() << test::missing_cache_reason("stories260K.safetensors");
  const CacheDims& d = cache->dims;
  const uint32_t n = d.head_dim;
  std::vector<float> cov(size_t{n} * n * d.num_kv_heads, 0.0f);
  for (uint32_t h = 0; h < d.num_kv_heads; ++h) {
    for (uint32_t t = 0; t < d.num_tokens; ++t) {
      const size_t row = (size_t{h} * d.num_tokens + t) * n;
      for (uint32_t i = 0; i < n; ++i) {
        for (uint32_t j = 0; j < n; ++j) {
          cov[(size_t{h} * n + i) * n + j] += load_as_f32(cache->keys.data(), d.dtype, row + i) *
                                              load_as_f32(cache->keys.data(), d.dtype, row + j);
        }
      }
    }
  }
  expect_decomposition(cov, n, d.num_kv_heads, 1e-5);
}

}  // namespace
}  // namespace kvc
