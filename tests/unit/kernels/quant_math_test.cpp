// quant_math_test.cpp: kernels/quant_math.cuh (the CUDA kernels' per-element math, built by g++)
// gives the CPU backend's bytes: codes, scales, zeros, outcomes, dequantized values, shuffles.
#include "kernels/quant_math.cuh"

#include <gtest/gtest.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_kernels.h"
#include "codecs/entropy_zstd.h"
#include "core/dtype.h"
#include "core/error.h"
#include "unit/codec_helpers.h"
#include "unit/test_data.h"

namespace kvc {
namespace {

namespace km = kvc::kernels;

// ---- the twin: the CUDA kernels' loops run one work item after another ----------------------

struct QuantOutput {
  QuantOutcome outcome = QuantOutcome::Ok;
  std::vector<unsigned char> codes, scales, zeros;
};

size_t side_bytes(SideDType side) { return side == SideDType::F16 ? 2 : 4; }

// quantize_keys_kernel / quantize_values_kernel (one call per thread), then pack_codes_kernel.
QuantOutput twin_quantize(const QuantizeJob& job) {
  const QuantGeometry& g = job.geometry;
  QuantOutput out;
  out.codes.assign(g.code_bytes(), 0xA5);
  out.scales.assign(g.groups() * side_bytes(job.side), 0xA5);
  out.zeros.assign(g.groups() * side_bytes(job.side), 0xA5);
  std::vector<uint8_t> scratch(g.elements(), 0xA5);
  const km::StridedTensor x{job.input.base, job.input.head_stride, job.input.token_stride,
                            static_cast<int32_t>(job.input.dtype)};
  const int32_t side = static_cast<int32_t>(job.side);
  const km::QuantShape shape{g.heads, g.tokens, g.head_dim, g.bits, g.group_size, side};
  unsigned long long failure = km::kNoFailure;
  if (g.axis == GroupAxis::Tokens) {
    EXPECT_EQ(km::key_group_count(shape), g.groups());
    for (uint64_t i = 0; i < g.groups(); ++i) {
      failure = std::min(failure, km::quantize_key_item(x, shape, i, out.scales.data(),
                                                        out.zeros.data(), scratch.data()));
    }
  } else {
    EXPECT_EQ(km::value_group_count(shape), g.groups());
    for (uint64_t i = 0; i < g.groups(); ++i) {
      failure = std::min(failure, km::quantize_value_item(x, shape, i, out.scales.data(),
                                                          out.zeros.data(), scratch.data()));
    }
  }
  if (failure != km::kNoFailure) {
    out.outcome = (failure & 1u) ? QuantOutcome::SideOverflow : QuantOutcome::NonFinite;
    return out;
  }
  for (uint64_t k = 0; k < out.codes.size(); ++k) {
    out.codes[k] = km::packed_byte(scratch.data(), g.elements(), g.bits, k);
  }
  return out;
}

// dequantize_kernel, one element after another.
void twin_dequantize(const DequantizeJob& job) {
  const QuantGeometry& g = job.geometry;
  const km::QuantShape shape{g.heads, g.tokens,     g.head_dim,
                             g.bits,  g.group_size, static_cast<int32_t>(job.side)};
  const km::DequantTarget out{job.output, static_cast<int32_t>(job.output_dtype), job.head_stride,
                              job.token_stride};
  for (uint64_t e = 0; e < g.elements(); ++e) {
    km::dequantize_item(shape, g.axis == GroupAxis::Tokens, job.codes, job.scales, job.zeros, out,
                        e);
  }
}

// ---- the CPU side --------------------------------------------------------------------------

QuantOutput cpu_quantize(const cpu::Kernels& k, QuantizeJob job) {
  QuantOutput out;
  out.codes.assign(job.geometry.code_bytes(), 0x5A);
  out.scales.assign(job.geometry.groups() * side_bytes(job.side), 0x5A);
  out.zeros.assign(job.geometry.groups() * side_bytes(job.side), 0x5A);
  job.codes = out.codes.data();
  job.scales = out.scales.data();
  job.zeros = out.zeros.data();
  out.outcome = k.quantize(job);
  return out;
}

std::vector<const cpu::Kernels*> cpu_tables() {
  std::vector<const cpu::Kernels*> tables{&cpu::generic::kernels()};
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports does not know "f16c".
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c) {
    tables.push_back(&cpu::avx2::kernels());
  }
#endif
  return tables;
}

// Counts what was compared, for the summary each test prints.
struct Tally {
  uint64_t tensors = 0, code_bytes = 0, side_values = 0, decoded_values = 0;
  uint64_t float32_side_tensors = 0, non_finite = 0, overflows = 0;  // outcomes seen
  std::string text() const {
    return std::to_string(tensors) + " tensors, " + std::to_string(code_bytes) + " code bytes, " +
           std::to_string(side_values) + " scales+zeros, " + std::to_string(decoded_values) +
           " dequantized values byte-identical";
  }
};

// Quantizes input as the codec does (fp16 side, fp32 on overflow) with the twin and every CPU
// kernel table, then dequantizes to every dtype; all bytes and outcomes must agree.
void expect_parity(const TensorView& input, const QuantGeometry& g, const std::string& label,
                   Tally& tally) {
  SCOPED_TRACE(label);
  for (SideDType side : {SideDType::F16, SideDType::F32}) {
    QuantizeJob job;
    job.geometry = g;
    job.input = input;
    job.side = side;
    const QuantOutput twin = twin_quantize(job);
    for (const cpu::Kernels* table : cpu_tables()) {
      SCOPED_TRACE(table->name);
      const QuantOutput cpu = cpu_quantize(*table, job);
      ASSERT_EQ(static_cast<int>(twin.outcome), static_cast<int>(cpu.outcome));
      tally.non_finite += cpu.outcome == QuantOutcome::NonFinite;
      tally.overflows += cpu.outcome == QuantOutcome::SideOverflow;
      if (cpu.outcome != QuantOutcome::Ok) continue;
      tally.float32_side_tensors += side == SideDType::F32;
      ASSERT_EQ(twin.codes, cpu.codes);
      ASSERT_EQ(twin.scales, cpu.scales);
      ASSERT_EQ(twin.zeros, cpu.zeros);
      ++tally.tensors;
      tally.code_bytes += cpu.codes.size();
      tally.side_values += 2 * g.groups();
    }
    if (twin.outcome != QuantOutcome::Ok) {
      if (twin.outcome == QuantOutcome::SideOverflow) continue;  // the codec retries with fp32
      return;
    }
    for (DType out_dtype : {DType::F32, DType::F16, DType::BF16}) {
      DequantizeJob dq;
      dq.geometry = g;
      dq.side = side;
      dq.codes = twin.codes.data();
      dq.scales = twin.scales.data();
      dq.zeros = twin.zeros.data();
      dq.output_dtype = out_dtype;
      dq.token_stride = g.head_dim + 1;
      dq.head_stride = uint64_t{g.tokens} * dq.token_stride + 3;  // strided output, with gaps
      const size_t bytes = (g.heads * dq.head_stride) * dtype_size(out_dtype);
      std::vector<unsigned char> expected(bytes, 0x77), actual(bytes, 0x77);
      dq.output = actual.data();
      twin_dequantize(dq);
      for (const cpu::Kernels* table : cpu_tables()) {
        dq.output = expected.data();
        table->dequantize(dq);
        ASSERT_EQ(expected, actual) << "dequantize to " << dtype_name(out_dtype);
      }
      tally.decoded_values += g.elements();
    }
    return;  // fp16 side fitted: the codec stops here
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

// Random floats with what breaks naive kernels: signed zeros that tie with the minimum,
// constant runs (zero scale), subnormals, wide outliers and values near fp16 limits.
std::vector<float> tricky_values(size_t n, std::mt19937& rng, float magnitude) {
  std::normal_distribution<float> normal(0.0f, magnitude);
  std::uniform_int_distribution<int> kind(0, 39);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    switch (kind(rng)) {
      case 0:
        x[i] = 0.0f;
        break;
      case 1:
        x[i] = -0.0f;
        break;
      case 2:
        x[i] = i > 0 ? x[i - 1] : 1.0f;
        break;
      case 3:
        x[i] = normal(rng) * 1e-6f;  // fp16 subnormal after rounding
        break;
      case 4:
        x[i] = normal(rng) * 40.0f;
        break;
      default:
        x[i] = normal(rng);
    }
  }
  return x;
}

// Input buffer of dtype with token_stride = head_dim + pad, from floats [heads][tokens][dim].
struct StridedInput {
  std::vector<unsigned char> bytes;
  TensorView view;
};

StridedInput make_input(const std::vector<float>& x, uint32_t heads, uint32_t tokens,
                        uint32_t head_dim, uint32_t pad, DType dtype) {
  StridedInput in;
  const uint64_t token_stride = head_dim + pad;
  const uint64_t head_stride = tokens * token_stride;
  in.bytes.assign(heads * head_stride * dtype_size(dtype), 0xEE);  // pads are NaN-ish bytes
  for (uint32_t h = 0; h < heads; ++h) {
    for (uint32_t t = 0; t < tokens; ++t) {
      for (uint32_t d = 0; d < head_dim; ++d) {
        store_from_f32(in.bytes.data(), dtype, h * head_stride + t * token_stride + d,
                       x[(uint64_t{h} * tokens + t) * head_dim + d]);
      }
    }
  }
  in.view = {in.bytes.data(), head_stride, token_stride, dtype};
  return in;
}

// ---- scalar functions --------------------------------------------------------------------------

TEST(QuantMath, ConvertsEvery16BitPatternAsTheCore) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t v = static_cast<uint16_t>(h);
    ASSERT_EQ(bits_of(f16_to_f32(v)), bits_of(km::half_to_float(v))) << h;
    ASSERT_EQ(bits_of(bf16_to_f32(v)), bits_of(km::bf16_to_float(v))) << h;
  }
}

TEST(QuantMath, RoundsFloatsToHalfAndBfloat16AsTheCoreAndF16c) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> any;
  std::vector<float> x;
  for (int i = 0; i < 2000000; ++i) x.push_back(float_of(any(rng)));
  for (uint32_t u : {0x477FEFFFu, 0x477FF000u, 0x33000000u, 0x33000001u, 0x38800000u, 0x387FFFFFu,
                     0x7F800000u, 0xFF800000u, 0x7FC00001u, 0x00000001u, 0x80000000u}) {
    x.push_back(float_of(u));
  }
  std::vector<uint16_t> f16(x.size()), bf16(x.size());
  for (const cpu::Kernels* table : cpu_tables()) {
    table->from_f32(x.data(), f16.data(), DType::F16, x.size());
    table->from_f32(x.data(), bf16.data(), DType::BF16, x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(f16[i], km::float_to_half(x[i])) << table->name << " " << bits_of(x[i]);
      ASSERT_EQ(bf16[i], km::float_to_bf16(x[i])) << table->name << " " << bits_of(x[i]);
    }
  }
}

TEST(QuantMath, PacksAndUnpacksCodesLsbFirstForEveryWidth) {
  std::mt19937 rng(3);
  for (int bits : {2, 3, 4, 8}) {
    for (uint64_t count : {1ull, 7ull, 8ull, 13ull, 64ull, 1001ull}) {
      std::vector<uint8_t> codes(count);
      for (auto& c : codes) c = static_cast<uint8_t>(rng() & ((1u << bits) - 1u));
      std::vector<uint8_t> packed((count * bits + 7) / 8);
      for (uint64_t k = 0; k < packed.size(); ++k) {
        packed[k] = km::packed_byte(codes.data(), count, bits, k);
      }
      for (uint64_t e = 0; e < count; ++e) {  // the definition: bit j of the stream
        for (int b = 0; b < bits; ++b) {
          const uint64_t j = e * bits + b;
          ASSERT_EQ((codes[e] >> b) & 1u, (packed[j / 8] >> (j % 8)) & 1u) << bits << " " << e;
        }
        ASSERT_EQ(codes[e], km::unpacked_code(packed.data(), bits, e));
      }
      const uint64_t used_bits = count * bits;
      if (used_bits % 8) ASSERT_EQ(packed.back() >> (used_bits % 8), 0) << "tail bits are 0";
    }
  }
}

TEST(QuantMath, ShufflesBytePlanesAsTheSectionEncoder) {
  std::mt19937 rng(5);
  for (uint32_t width : {1u, 2u, 4u}) {
    for (uint64_t n : {1ull, 3ull, 1000ull, 4097ull}) {
      std::vector<unsigned char> src(n * width), expected(src.size()), twin(src.size());
      for (auto& b : src) b = static_cast<unsigned char>(rng());
      shuffle_bytes(src.data(), n, width, expected.data());
      for (uint64_t j = 0; j < src.size(); ++j) twin[j] = src[km::shuffle_source(j, n, width)];
      ASSERT_EQ(expected, twin) << "width " << width << " n " << n;
      std::vector<unsigned char> back(src.size());
      for (uint64_t j = 0; j < src.size(); ++j) back[km::shuffle_source(j, n, width)] = twin[j];
      ASSERT_EQ(src, back);
    }
  }
}

TEST(QuantMath, GathersTheRecentWindowRowsOfAStridedTensor) {
  std::mt19937 rng(19);
  for (DType dtype : {DType::F32, DType::F16}) {
    const uint32_t heads = 3, tokens = 50, head_dim = 24, begin = 37, count = 13;
    const StridedInput in = make_input(tricky_values(size_t{heads} * tokens * head_dim, rng, 1),
                                       heads, tokens, head_dim, 5, dtype);
    std::vector<unsigned char> expected;  // TensorEncoder::gather, row by row
    for (uint32_t h = 0; h < heads; ++h) {
      for (uint32_t t = begin; t < begin + count; ++t) {
        const unsigned char* row = in.view.row(h, t);
        expected.insert(expected.end(), row, row + head_dim * dtype_size(dtype));
      }
    }
    const size_t elem = dtype_size(dtype);
    std::vector<unsigned char> twin(expected.size());
    for (uint64_t j = 0; j < twin.size(); ++j) {
      twin[j] =
          in.bytes[km::gather_source(j, in.view.head_stride * elem, in.view.token_stride * elem,
                                     begin, count, uint64_t{head_dim} * elem)];
    }
    EXPECT_EQ(twin, expected) << dtype_name(dtype);
  }
}

// ---- whole tensors ---------------------------------------------------------------------------

TEST(QuantMath, RandomTensorsGiveTheCpuBytesForEveryBitsGroupDTypeAndAxis) {
  std::mt19937 rng(11);
  Tally tally;
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    for (GroupAxis axis : {GroupAxis::Tokens, GroupAxis::Channels}) {
      for (int bits : {2, 3, 4, 8}) {
        for (uint32_t group : {32u, 64u, 128u}) {
          for (uint32_t head_dim : {64u, 80u}) {
            const uint32_t heads = 2, tokens = 141;  // partial token groups at every size
            const std::vector<float> x = tricky_values(size_t{heads} * tokens * head_dim, rng, 1);
            const StridedInput in = make_input(x, heads, tokens, head_dim, 5, dtype);
            expect_parity(in.view, geometry(heads, tokens, head_dim, bits, group, axis),
                          std::string(dtype_name(dtype)) + " bits " + std::to_string(bits) +
                              " group " + std::to_string(group) + " dim " +
                              std::to_string(head_dim) + " axis " +
                              std::to_string(static_cast<int>(axis)),
                          tally);
          }
        }
      }
    }
  }
  EXPECT_EQ(tally.tensors, 3u * 2 * 4 * 3 * 2 * cpu_tables().size());
  std::cout << "[ parity   ] " << tally.text() << "\n";
}

TEST(QuantMath, WideFloat32InputFallsBackToFloat32SidesLikeTheCpu) {
  std::mt19937 rng(13);
  Tally tally;
  for (GroupAxis axis : {GroupAxis::Tokens, GroupAxis::Channels}) {
    for (int bits : {2, 3, 4, 8}) {
      const std::vector<float> x = tricky_values(2 * 70 * 64, rng, 3e6f);  // scales past 65504
      const StridedInput in = make_input(x, 2, 70, 64, 0, DType::F32);
      expect_parity(in.view, geometry(2, 70, 64, bits, 32, axis), "wide", tally);
    }
  }
  EXPECT_EQ(tally.tensors, 2u * 4 * cpu_tables().size());
  EXPECT_EQ(tally.float32_side_tensors, tally.tensors) << "every tensor needed float32 sides";
}

TEST(QuantMath, NonFiniteAndOverflowingGroupsReportTheCpuOutcome) {
  std::mt19937 rng(17);
  Tally tally;
  const float specials[] = {NAN, INFINITY, -INFINITY, 3e38f};
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    for (GroupAxis axis : {GroupAxis::Tokens, GroupAxis::Channels}) {
      for (float special : specials) {
        for (int where = 0; where < 4; ++where) {
          std::vector<float> x = tricky_values(2 * 40 * 64, rng, 1);
          x[rng() % x.size()] = special;
          if (where > 1) x[rng() % x.size()] = -3e38f;  // overflow in another group, too
          const StridedInput in = make_input(x, 2, 40, 64, 0, dtype);
          for (int bits : {2, 8}) {
            expect_parity(in.view, geometry(2, 40, 64, bits, 32, axis), "special", tally);
          }
        }
      }
    }
  }
  EXPECT_GT(tally.non_finite, 0u);
  EXPECT_GT(tally.overflows, 0u);
  std::cout << "[ parity   ] outcomes: " << tally.non_finite << " non-finite, " << tally.overflows
            << " side overflows, as the CPU\n";
}

// Real caches: every layer's keys (per channel) and values (per token), all settings, with the
// recent window left out of the quantized tokens as the codec does.
void real_cache_parity(const std::string& file, uint32_t max_layers) {
  const auto cache = test::load_real_cache(file);
  if (!cache) GTEST_SKIP() << test::missing_cache_reason(file);
  const CacheView view = test::view_of(*cache);
  const CacheDims& dims = cache->dims;
  Tally tally;
  const uint32_t layers = std::min(dims.num_layers, max_layers);
  for (uint32_t layer = 0; layer < layers; ++layer) {
    for (int bits : {2, 3, 4, 8}) {
      for (uint32_t group : {32u, 64u, 128u}) {
        const uint32_t recent = (layer + bits + group) % 3 == 0 ? 0 : 17 + group / 4;
        const uint32_t quantized = dims.num_tokens - std::min(recent, dims.num_tokens);
        const std::string label = file + " layer " + std::to_string(layer) + " bits " +
                                  std::to_string(bits) + " group " + std::to_string(group);
        expect_parity(
            view.key(layer),
            geometry(dims.num_kv_heads, quantized, dims.head_dim, bits, group, GroupAxis::Tokens),
            label + " keys", tally);
        expect_parity(
            view.value(layer),
            geometry(dims.num_kv_heads, quantized, dims.head_dim, bits, group, GroupAxis::Channels),
            label + " values", tally);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
  EXPECT_EQ(tally.tensors, uint64_t{layers} * 4 * 3 * 2 * cpu_tables().size());
  std::cout << "[ parity   ] " << file << " (" << dtype_name(dims.dtype) << "): " << tally.text()
            << "\n";
}

TEST(QuantMath, RealStories260KCacheGivesTheCpuBytes) {
  real_cache_parity("stories260K.safetensors", 1000);
}

TEST(QuantMath, RealSmolLM2CacheGivesTheCpuBytes) {
  real_cache_parity("smollm2-135m.safetensors", 1000);
}

// The real caches again as float32 and bfloat16 (the files are fp16 or fp32 as generated).
TEST(QuantMath, RealCacheInEveryDTypeGivesTheCpuBytes) {
  const auto cache = test::load_real_cache("stories260K.safetensors");
  if (!cache) GTEST_SKIP() << test::missing_cache_reason("stories260K.safetensors");
  const CacheDims& dims = cache->dims;
  const uint64_t n = dims.elements_per_tensor();
  Tally tally;
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    for (const auto* tensor : {&cache->keys, &cache->values}) {
      std::vector<float> x(n);
      for (uint64_t i = 0; i < n; ++i) x[i] = load_as_f32(tensor->data(), dims.dtype, i);
      const StridedInput in =
          make_input(x, dims.num_kv_heads, dims.num_tokens, dims.head_dim, 0, dtype);
      for (int bits : {2, 3, 4, 8}) {
        for (uint32_t group : {32u, 64u, 128u}) {
          for (GroupAxis axis : {GroupAxis::Tokens, GroupAxis::Channels}) {
            expect_parity(
                in.view,
                geometry(dims.num_kv_heads, dims.num_tokens - 9, dims.head_dim, bits, group, axis),
                std::string(dtype_name(dtype)), tally);
          }
        }
      }
    }
  }
  EXPECT_EQ(tally.tensors, 3u * 2 * 4 * 3 * 2 * cpu_tables().size());
  std::cout << "[ parity   ] stories260K in 3 dtypes: " << tally.text() << "\n";
}

}  // namespace
}  // namespace kvc
