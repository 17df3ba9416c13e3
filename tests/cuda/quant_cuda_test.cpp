// quant_cuda_test.cpp: the CUDA plugin's quantize, dequantize, shuffle and gather give the CPU
// backend's bytes on random and real caches, for every bits, group, dtype, axis and side type.
#include <gtest/gtest.h>
#include <kvc/kvc.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/plugin_abi.h"
#include "backend/plugin_loader.h"
#include "codecs/entropy_zstd.h"
#include "core/dtype.h"
#include "core/error.h"
#include "cuda/cuda_test_helpers.h"
#include "unit/codec_helpers.h"

namespace kvc {
namespace {

using cuda_test::DeviceBytes;

struct HostTensor {
  std::vector<unsigned char> bytes;
  uint64_t head_stride = 0, token_stride = 0;
  DType dtype = DType::F16;
  TensorView view() const { return {bytes.data(), head_stride, token_stride, dtype}; }
};

HostTensor make_tensor(const std::vector<float>& x, uint32_t heads, uint32_t tokens,
                       uint32_t head_dim, uint32_t pad, DType dtype) {
  HostTensor t;
  t.dtype = dtype;
  t.token_stride = head_dim + pad;
  t.head_stride = tokens * t.token_stride;
  t.bytes.assign(heads * t.head_stride * dtype_size(dtype), 0xEE);
  for (uint32_t h = 0; h < heads; ++h) {
    for (uint32_t k = 0; k < tokens; ++k) {
      for (uint32_t d = 0; d < head_dim; ++d) {
        store_from_f32(t.bytes.data(), dtype, h * t.head_stride + k * t.token_stride + d,
                       x[(uint64_t{h} * tokens + k) * head_dim + d]);
      }
    }
  }
  return t;
}

size_t side_bytes(SideDType s) { return s == SideDType::F16 ? 2 : 4; }

// Quantizes on both backends (fp16 side, fp32 on overflow, as the codec) and dequantizes the
// result on both to every dtype; every byte and outcome must match.
void expect_gpu_matches_cpu(const HostTensor& input, const QuantGeometry& g,
                            const std::string& label, uint64_t& compared_bytes) {
  SCOPED_TRACE(label);
  const CudaPlugin& plugin = cuda_test::plugin();
  DeviceBytes device_input(input.bytes);
  char message[256] = {0};
  for (SideDType side : {SideDType::F16, SideDType::F32}) {
    std::vector<unsigned char> codes(g.code_bytes(), 0x5A),
        scales(g.groups() * side_bytes(side), 0x5A), zeros(scales.size(), 0x5A);
    QuantizeJob job;
    job.geometry = g;
    job.input = input.view();
    job.side = side;
    job.codes = codes.data();
    job.scales = scales.data();
    job.zeros = zeros.data();
    const QuantOutcome cpu_outcome = cpu_backend().quantize(job);

    DeviceBytes d_codes(codes.size()), d_scales(scales.size()), d_zeros(zeros.size());
    kvc_cuda_quantize_args a{};
    a.input = device_input.get();
    a.head_stride = input.head_stride;
    a.token_stride = input.token_stride;
    a.input_dtype = static_cast<int32_t>(input.dtype);
    a.heads = g.heads;
    a.tokens = g.tokens;
    a.head_dim = g.head_dim;
    a.bits = g.bits;
    a.group_size = g.group_size;
    a.axis = static_cast<int32_t>(g.axis);
    a.side = static_cast<int32_t>(side);
    a.codes = static_cast<unsigned char*>(d_codes.get());
    a.scales = d_scales.get();
    a.zeros = d_zeros.get();
    int32_t outcome = -1;
    ASSERT_EQ(plugin.quantize(&a, &outcome, message, sizeof message), KVC_OK) << message;
    ASSERT_EQ(outcome, static_cast<int32_t>(cpu_outcome));
    if (cpu_outcome == QuantOutcome::SideOverflow) continue;
    if (cpu_outcome == QuantOutcome::NonFinite) return;
    ASSERT_EQ(d_codes.download(), codes);
    ASSERT_EQ(d_scales.download(), scales);
    ASSERT_EQ(d_zeros.download(), zeros);
    compared_bytes += codes.size() + 2 * scales.size();

    for (DType out_dtype : {DType::F32, DType::F16, DType::BF16}) {
      DequantizeJob dq;
      dq.geometry = g;
      dq.side = side;
      dq.codes = codes.data();
      dq.scales = scales.data();
      dq.zeros = zeros.data();
      dq.output_dtype = out_dtype;
      dq.token_stride = g.head_dim + 1;
      dq.head_stride = uint64_t{g.tokens} * dq.token_stride + 3;  // strided output, with gaps
      std::vector<unsigned char> expected(g.heads * dq.head_stride * dtype_size(out_dtype), 0x77);
      dq.output = expected.data();
      cpu_backend().dequantize(dq);
      DeviceBytes d_out(std::vector<unsigned char>(expected.size(), 0x77));
      kvc_cuda_dequantize_args b{};
      b.heads = g.heads;
      b.tokens = g.tokens;
      b.head_dim = g.head_dim;
      b.bits = g.bits;
      b.group_size = g.group_size;
      b.axis = static_cast<int32_t>(g.axis);
      b.side = static_cast<int32_t>(side);
      b.codes = static_cast<const unsigned char*>(d_codes.get());
      b.scales = d_scales.get();
      b.zeros = d_zeros.get();
      b.output = d_out.get();
      b.output_dtype = static_cast<int32_t>(out_dtype);
      b.head_stride = dq.head_stride;
      b.token_stride = dq.token_stride;
      ASSERT_EQ(plugin.dequantize(&b, message, sizeof message), KVC_OK) << message;
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      ASSERT_EQ(d_out.download(), expected) << "dequantize to " << dtype_name(out_dtype);
      compared_bytes += expected.size();
    }
    return;
  }
}

QuantGeometry geometry(uint32_t heads, uint32_t tokens, uint32_t head_dim, int bits,
                       uint32_t group_size, GroupAxis axis) {
  QuantGeometry g;
  g.heads = heads;
  g.tokens = tokens;
  g.head_dim = head_dim;
  g.bits = bits;
  g.group_size = axis == GroupAxis::Channels ? std::min(group_size, head_dim) : group_size;
  g.axis = axis;
  return g;
}

std::vector<float> random_values(size_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    const unsigned r = rng() % 40;
    x[i] = r == 0 ? 0.0f : r == 1 ? -0.0f : r == 2 && i ? x[i - 1] : normal(rng);
  }
  return x;
}

TEST(CudaQuant, RandomTensorsMatchTheCpuForEveryBitsGroupDTypeAndAxis) {
  KVC_REQUIRE_GPU();
  std::mt19937 rng(21);
  uint64_t compared = 0;
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    for (GroupAxis axis : {GroupAxis::Tokens, GroupAxis::Channels}) {
      for (int bits : {2, 3, 4, 8}) {
        for (uint32_t group : {32u, 64u, 128u}) {
          for (uint32_t head_dim : {64u, 80u, 128u}) {
            const HostTensor t = make_tensor(random_values(4 * 333 * head_dim, rng, 1.0f), 4, 333,
                                             head_dim, 7, dtype);
            expect_gpu_matches_cpu(t, geometry(4, 333, head_dim, bits, group, axis),
                                   std::string(dtype_name(dtype)) + " bits " +
                                       std::to_string(bits) + " group " + std::to_string(group),
                                   compared);
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
  std::cout << "[ parity   ] " << compared << " bytes identical on GPU and CPU\n";
}

TEST(CudaQuant, WideFloat32AndNonFiniteInputGiveTheCpuOutcomes) {
  KVC_REQUIRE_GPU();
  std::mt19937 rng(22);
  uint64_t compared = 0;
  for (GroupAxis axis : {GroupAxis::Tokens, GroupAxis::Channels}) {
    for (float special : {0.0f, NAN, INFINITY, 3e38f}) {
      std::vector<float> x = random_values(2 * 100 * 64, rng, special == 0.0f ? 3e6f : 1.0f);
      if (special != 0.0f) x[rng() % x.size()] = special;
      for (DType dtype : {DType::F32, DType::BF16}) {
        const HostTensor t = make_tensor(x, 2, 100, 64, 0, dtype);
        expect_gpu_matches_cpu(t, geometry(2, 100, 64, 4, 32, axis), "special", compared);
      }
    }
  }
}

void real_cache_on_gpu(const std::string& file) {
  const auto cache = test::load_real_cache(file);
  if (!cache) GTEST_SKIP() << test::missing_cache_reason(file);
  const CacheDims& dims = cache->dims;
  const CacheView view = test::view_of(*cache);
  uint64_t compared = 0;
  for (uint32_t layer = 0; layer < dims.num_layers; ++layer) {
    for (bool is_key : {true, false}) {
      const TensorView v = is_key ? view.key(layer) : view.value(layer);
      HostTensor t;
      t.dtype = dims.dtype;
      t.head_stride = v.head_stride;
      t.token_stride = v.token_stride;
      const auto& src = is_key ? cache->keys : cache->values;
      const size_t bytes = dims.bytes_per_tensor();
      t.bytes.assign(src.begin() + layer * bytes, src.begin() + (layer + 1) * bytes);
      for (int bits : {2, 3, 4, 8}) {
        for (uint32_t group : {32u, 64u, 128u}) {
          const uint32_t recent = std::min<uint32_t>(group / 2, dims.num_tokens);
          expect_gpu_matches_cpu(
              t,
              geometry(dims.num_kv_heads, dims.num_tokens - recent, dims.head_dim, bits, group,
                       is_key ? GroupAxis::Tokens : GroupAxis::Channels),
              file + " layer " + std::to_string(layer), compared);
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
  std::cout << "[ parity   ] " << file << ": " << compared << " bytes identical\n";
}

TEST(CudaQuant, RealStories260KCacheMatchesTheCpu) {
  KVC_REQUIRE_GPU();
  real_cache_on_gpu("stories260K.safetensors");
}

TEST(CudaQuant, RealSmolLM2CacheMatchesTheCpu) {
  KVC_REQUIRE_GPU();
  real_cache_on_gpu("smollm2-135m.safetensors");
}

TEST(CudaQuant, ShuffleAndGatherRowsMatchTheCpu) {
  KVC_REQUIRE_GPU();
  const CudaPlugin& plugin = cuda_test::plugin();
  std::mt19937 rng(23);
  char message[256] = {0};
  for (uint32_t width : {1u, 2u, 4u}) {
    for (uint64_t n : {1ull, 999ull, 1ull << 20}) {
      std::vector<unsigned char> src(n * width), expected(src.size());
      for (auto& b : src) b = static_cast<unsigned char>(rng());
      shuffle_bytes(src.data(), n, width, expected.data());
      DeviceBytes d_src(src), d_dst(src.size()), d_back(src.size());
      ASSERT_EQ(plugin.shuffle_bytes(d_src.get(), n, width, d_dst.get(), 0, nullptr, message,
                                     sizeof message),
                KVC_OK)
          << message;
      ASSERT_EQ(plugin.shuffle_bytes(d_dst.get(), n, width, d_back.get(), 1, nullptr, message,
                                     sizeof message),
                KVC_OK)
          << message;
      ASSERT_EQ(d_dst.download(), expected);
      ASSERT_EQ(d_back.download(), src);
    }
  }
  const HostTensor t =
      make_tensor(random_values(3 * 50 * 64, rng, 1.0f), 3, 50, 64, 5, DType::BF16);
  std::vector<unsigned char> expected;
  for (uint32_t h = 0; h < 3; ++h) {
    for (uint32_t k = 40; k < 50; ++k) {
      const unsigned char* row = t.view().row(h, k);
      expected.insert(expected.end(), row, row + 64 * 2);
    }
  }
  DeviceBytes d_in(t.bytes), d_out(expected.size());
  ASSERT_EQ(plugin.gather_rows(d_in.get(), t.head_stride, t.token_stride, KVC_DTYPE_BF16, 3, 40, 10,
                               64, d_out.get(), nullptr, message, sizeof message),
            KVC_OK)
      << message;
  ASSERT_EQ(d_out.download(), expected);
}

// These run everywhere the plugin loads (CI included): argument checks come before any CUDA call.
TEST(CudaPluginAbi, BadArgumentsAreRejectedWithAMessageNamingTheField) {
  const CudaPlugin& plugin = cuda_test::plugin();
  if (!plugin.loaded) GTEST_SKIP() << "libkvc_cuda.so did not load: " << plugin.why_not;
  kvc_cuda_quantize_args a{};
  a.bits = 5;
  a.group_size = 64;
  int32_t outcome = -1;
  char message[256] = {0};
  EXPECT_EQ(plugin.quantize(&a, &outcome, message, sizeof message), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(message, "bits 5 is not 2, 3, 4 or 8");
  kvc_cuda_dequantize_args b{};
  b.bits = 4;
  b.group_size = 128;
  b.head_dim = 64;
  b.axis = 1;
  EXPECT_EQ(plugin.dequantize(&b, message, sizeof message), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(message, "group_size 128 of values exceeds head_dim 64");
  char tiny[8];
  EXPECT_EQ(plugin.shuffle_bytes(nullptr, 1, 9, nullptr, 0, nullptr, tiny, sizeof tiny),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(tiny, "width 9");  // truncated to the capacity, NUL-terminated
}

TEST(CudaPluginAbi, WithoutADeviceKernelsFailWithKvcErrDeviceNamingTheCall) {
  const CudaPlugin& plugin = cuda_test::plugin();
  if (!plugin.loaded) GTEST_SKIP() << "libkvc_cuda.so did not load: " << plugin.why_not;
  if (kvc_device_count(KVC_DEVICE_CUDA) > 0) {
    GTEST_SKIP() << "a CUDA device is present: the no-device failure path cannot be provoked";
  }
  std::vector<unsigned char> host(64);
  kvc_cuda_quantize_args a{};
  a.input = host.data();  // never dereferenced: allocation fails first
  a.codes = host.data();
  a.scales = host.data();
  a.zeros = host.data();
  a.heads = a.tokens = 1;
  a.head_dim = 8;
  a.bits = 4;
  a.group_size = 32;
  a.input_dtype = KVC_DTYPE_F16;
  int32_t outcome = -1;
  char message[256] = {0};
  EXPECT_EQ(plugin.quantize(&a, &outcome, message, sizeof message), KVC_ERR_DEVICE);
  EXPECT_EQ(std::string(message).rfind("cudaMalloc(", 0), 0u) << message;
}

}  // namespace
}  // namespace kvc
