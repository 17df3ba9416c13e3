// symmetric_eigen_cuda_test.cpp: the plugin's cuSOLVER syevj eigendecomposition agrees with the
// CPU Jacobi twin (eigenvalues within 1e-4 of the largest, A v = lambda v, orthonormal vectors).
#include <gtest/gtest.h>
#include <kvc/kvc.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/symmetric_eigen.h"
#include "backend/plugin_loader.h"
#include "cuda/cuda_test_helpers.h"

namespace kvc {
namespace {

using cuda_test::DeviceBytes;

std::vector<unsigned char> bytes_of(const std::vector<float>& x) {
  std::vector<unsigned char> b(x.size() * 4);
  std::memcpy(b.data(), x.data(), b.size());
  return b;
}

std::vector<float> floats_of(const std::vector<unsigned char>& b) {
  std::vector<float> x(b.size() / 4);
  std::memcpy(x.data(), b.data(), b.size());
  return x;
}

TEST(CudaSymmetricEigen, RandomBatchesMatchTheCpuTwinBatchedAndNot) {
  KVC_REQUIRE_GPU();
  const CudaPlugin& plugin = cuda_test::plugin();
  std::mt19937 rng(31);
  std::normal_distribution<float> normal;
  for (uint32_t n : {4u, 32u, 64u, 128u}) {  // <= 32: syevjBatched; above: syevj per matrix
    const uint32_t batch = 6;
    std::vector<float> a(size_t{n} * n * batch);
    for (uint32_t b = 0; b < batch; ++b) {  // symmetric, so both triangles agree
      for (uint32_t i = 0; i < n; ++i) {
        for (uint32_t j = i; j < n; ++j) {
          a[(size_t{b} * n + i) * n + j] = a[(size_t{b} * n + j) * n + i] = normal(rng);
        }
      }
    }
    std::vector<float> cpu_values(size_t{n} * batch), cpu_vectors(a.size());
    cpu::symmetric_eigen_batched(a.data(), n, batch, cpu_values.data(), cpu_vectors.data());
    DeviceBytes d_a(bytes_of(a)), d_values(cpu_values.size() * 4), d_vectors(a.size() * 4);
    char message[256] = {0};
    ASSERT_EQ(plugin.symmetric_eigen(static_cast<const float*>(d_a.get()), n, batch,
                                     static_cast<float*>(d_values.get()),
                                     static_cast<float*>(d_vectors.get()), nullptr, message,
                                     sizeof message),
              KVC_OK)
        << message;
    const std::vector<float> values = floats_of(d_values.download());
    const std::vector<float> vectors = floats_of(d_vectors.download());
    for (uint32_t b = 0; b < batch; ++b) {
      double scale = 0;
      for (uint32_t j = 0; j < n; ++j)
        scale = std::max(scale, std::fabs(double{cpu_values[b * n + j]}));
      for (uint32_t j = 0; j < n; ++j) {
        ASSERT_NEAR(values[b * n + j], cpu_values[b * n + j], 1e-4 * scale) << n << " " << b;
        for (uint32_t i = 0; i < n; ++i) {  // A v = lambda v for the GPU's vectors
          double av = 0;
          for (uint32_t k = 0; k < n; ++k) {
            av += double{a[(size_t{b} * n + i) * n + k]} * vectors[(size_t{b} * n + j) * n + k];
          }
          ASSERT_NEAR(av, double{values[b * n + j]} * vectors[(size_t{b} * n + j) * n + i],
                      1e-4 * scale);
        }
      }
    }
  }
}

TEST(CudaPluginAbi, SymmetricEigenRejectsBadSizesAndReportsMissingDevices) {
  const CudaPlugin& plugin = cuda_test::plugin();
  if (!plugin.loaded) GTEST_SKIP() << "libkvc_cuda.so did not load: " << plugin.why_not;
  char message[256] = {0};
  float dummy = 0;
  EXPECT_EQ(plugin.symmetric_eigen(&dummy, 0, 1, &dummy, &dummy, nullptr, message, sizeof message),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(message, "n 0 is not in 1..4096");
  if (kvc_device_count(KVC_DEVICE_CUDA) > 0) return;  // the rest needs a machine without one
  EXPECT_EQ(plugin.symmetric_eigen(&dummy, 1, 1, &dummy, &dummy, nullptr, message, sizeof message),
            KVC_ERR_DEVICE);
  EXPECT_NE(std::string(message), "") << "a device failure names its call";
}

}  // namespace
}  // namespace kvc
