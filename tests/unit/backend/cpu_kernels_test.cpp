// cpu_kernels_test.cpp: the CPU kernel tables: exact bit packing, and AVX2 == generic bit for bit.
#include "backend/cpu/cpu_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "backend/backend.h"
#include "core/dtype.h"
#include "unit/test_data.h"

namespace kvc {
namespace {

using kvc_test::bits_float;
using kvc_test::float_bits;

bool has_avx2_kernels() {
#if defined(__x86_64__) || defined(__i386__)
  // F16C from CPUID leaf 1, as cpu_backend.cpp: clang 14's __builtin_cpu_supports lacks "f16c".
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
#else
  return false;
#endif
}

const cpu::Kernels& generic_kernels() { return cpu::generic::kernels(); }

// One quantized tensor: its input (strided rows of dtype), and the kernel's output.
struct QuantCase {
  QuantGeometry g;
  DType dtype = DType::F16;
  uint64_t token_stride = 0;  // elements; >= head_dim
  std::vector<unsigned char> input;

  TensorView view() const {
    return {input.data(), uint64_t{g.tokens} * token_stride, token_stride, dtype};
  }
};

struct QuantOutput {
  QuantOutcome outcome = QuantOutcome::Ok;
  std::vector<unsigned char> codes, scales, zeros;
};

QuantOutput run_quantize(const cpu::Kernels& k, const QuantCase& c, SideDType side) {
  QuantOutput out;
  const size_t side_bytes = side == SideDType::F16 ? 2 : 4;
  out.codes.assign(c.g.code_bytes(), 0xA5);
  out.scales.assign(c.g.groups() * side_bytes, 0xA5);
  out.zeros.assign(c.g.groups() * side_bytes, 0xA5);
  QuantizeJob job;
  job.geometry = c.g;
  job.input = c.view();
  job.side = side;
  job.codes = out.codes.data();
  job.scales = out.scales.data();
  job.zeros = out.zeros.data();
  out.outcome = k.quantize(job);
  return out;
}

std::vector<unsigned char> run_dequantize(const cpu::Kernels& k, const QuantGeometry& g,
                                          const QuantOutput& q, SideDType side, DType dtype) {
  std::vector<unsigned char> out(g.elements() * dtype_size(dtype), 0x5A);
  DequantizeJob job;
  job.geometry = g;
  job.side = side;
  job.codes = q.codes.data();
  job.scales = q.scales.data();
  job.zeros = q.zeros.data();
  job.output = out.data();
  job.output_dtype = dtype;
  job.head_stride = uint64_t{g.tokens} * g.head_dim;
  job.token_stride = g.head_dim;
  k.dequantize(job);
  return out;
}

// A case filled from a Gaussian (per-channel offsets) with padding between rows.
QuantCase random_case(GroupAxis axis, int bits, uint32_t group, uint32_t heads, uint32_t tokens,
                      uint32_t head_dim, DType dtype, uint32_t seed) {
  QuantCase c;
  c.g.heads = heads;
  c.g.tokens = tokens;
  c.g.head_dim = head_dim;
  c.g.bits = bits;
  c.g.axis = axis;
  c.g.group_size = axis == GroupAxis::Channels ? std::min(group, head_dim) : group;
  c.dtype = dtype;
  c.token_stride = head_dim + 3;
  const kvc_test::FloatCache f = kvc_test::make_gaussian_cache(1, heads, tokens, head_dim, seed);
  std::vector<float> strided(size_t{heads} * tokens * c.token_stride, 0.0f);
  for (uint32_t h = 0; h < heads; ++h) {
    for (uint32_t t = 0; t < tokens; ++t) {
      for (uint32_t d = 0; d < head_dim; ++d) {
        strided[(size_t{h} * tokens + t) * c.token_stride + d] =
            f.keys[(size_t{h} * tokens + t) * head_dim + d];
      }
    }
  }
  c.input = kvc_test::encode(strided, static_cast<int>(dtype));
  return c;
}

// Packs codes LSB first, as the format defines.
std::vector<unsigned char> pack_lsb_first(const std::vector<uint8_t>& codes, int bits) {
  std::vector<unsigned char> out((codes.size() * bits + 7) / 8, 0);
  uint64_t pos = 0;
  for (uint8_t c : codes) {
    for (int b = 0; b < bits; ++b, ++pos) {
      if ((c >> b) & 1u) out[pos / 8] |= static_cast<unsigned char>(1u << (pos % 8));
    }
  }
  return out;
}

TEST(QuantGeometry, CountsGroupsAndCodeBytesIncludingPartialGroups) {
  QuantGeometry g;
  g.heads = 3;
  g.tokens = 100;
  g.head_dim = 64;
  g.bits = 3;
  g.group_size = 32;
  g.axis = GroupAxis::Tokens;
  EXPECT_EQ(g.groups(), 3u * 4 * 64);  // ceil(100 / 32) token groups per channel
  EXPECT_EQ(g.code_bytes(), (3u * 100 * 64 * 3 + 7) / 8);
  g.axis = GroupAxis::Channels;
  g.head_dim = 72;
  g.group_size = 64;
  EXPECT_EQ(g.groups(), 3u * 100 * 2);  // a row of 72 is one group of 64 and one of 8
  g.tokens = 0;
  EXPECT_EQ(g.groups(), 0u);
  EXPECT_EQ(g.code_bytes(), 0u);
}

// Every bit width and odd sizes (so the generic bit path runs): integer inputs spanning exactly
// 0..2^bits-1 in a group give scale 1, zero 0 and the inputs themselves as codes.
TEST(CpuKernels, IntegerGroupsPackToTheirOwnCodesLsbFirstAndDecodeExactly) {
  std::vector<const cpu::Kernels*> tables{&generic_kernels()};
  if (has_avx2_kernels()) tables.push_back(&cpu::avx2::kernels());
  for (const cpu::Kernels* k : tables) {
    for (int bits : {2, 3, 4, 8}) {
      for (GroupAxis axis : {GroupAxis::Tokens, GroupAxis::Channels}) {
        for (uint32_t head_dim : {5u, 8u, 33u, 64u}) {
          const uint32_t heads = 2, tokens = 65, levels = (1u << bits) - 1;
          QuantCase c;
          c.g = {heads, tokens, head_dim, bits, 32, axis};
          if (axis == GroupAxis::Channels) c.g.group_size = std::min(32u, head_dim);
          c.dtype = DType::F32;
          c.token_stride = head_dim;
          std::mt19937 rng(bits * 100 + head_dim);
          std::vector<float> x(c.g.elements());
          std::vector<uint8_t> expected_codes(x.size());
          for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(rng() % (levels + 1));
          // Pin 0 and levels into every group of two or more elements.
          auto at = [&](uint32_t h, uint32_t t, uint32_t d) -> float& {
            return x[(size_t{h} * tokens + t) * head_dim + d];
          };
          for (uint32_t h = 0; h < heads; ++h) {
            if (axis == GroupAxis::Tokens) {
              for (uint32_t t0 = 0; t0 + 1 < tokens; t0 += 32) {
                for (uint32_t d = 0; d < head_dim; ++d) {
                  at(h, t0, d) = 0;
                  at(h, t0 + 1, d) = static_cast<float>(levels);
                }
              }
            } else {
              for (uint32_t t = 0; t < tokens; ++t) {
                for (uint32_t d0 = 0; d0 + 1 < head_dim; d0 += c.g.group_size) {
                  at(h, t, d0) = 0;
                  at(h, t, d0 + 1) = static_cast<float>(levels);
                }
              }
            }
          }
          for (size_t i = 0; i < x.size(); ++i) expected_codes[i] = static_cast<uint8_t>(x[i]);
          // A one-element group (the last token of 65 along tokens; the last element of 33 along
          // channels) has range 0: code 0, and the zero point holds the value.
          for (uint32_t h = 0; h < heads; ++h) {
            for (uint32_t t = 0; t < tokens; ++t) {
              for (uint32_t d = 0; d < head_dim; ++d) {
                const bool single = axis == GroupAxis::Tokens
                                        ? t == 64
                                        : (d % c.g.group_size == 0 && d + 1 == head_dim);
                if (single) expected_codes[(size_t{h} * tokens + t) * head_dim + d] = 0;
              }
            }
          }
          c.input = kvc_test::encode(x, kvc_test::kF32);
          const std::string where = std::string(k->name) + " bits " + std::to_string(bits) +
                                    " axis " + std::to_string(static_cast<int>(axis)) +
                                    " head_dim " + std::to_string(head_dim);
          const QuantOutput q = run_quantize(*k, c, SideDType::F16);
          ASSERT_EQ(q.outcome, QuantOutcome::Ok) << where;
          const std::vector<unsigned char> packed = pack_lsb_first(expected_codes, bits);
          ASSERT_EQ(q.codes.size(), packed.size()) << where;
          for (size_t i = 0; i < packed.size(); ++i) {
            ASSERT_EQ(q.codes[i], packed[i])
                << where << ": code byte " << i << " of " << packed.size();
          }
          const std::vector<unsigned char> back =
              run_dequantize(*k, c.g, q, SideDType::F16, DType::F32);
          EXPECT_EQ(back, c.input) << where;
        }
      }
    }
  }
}

TEST(CpuKernels, NonFiniteInputIsReportedWhereverItSits) {
  for (GroupAxis axis : {GroupAxis::Tokens, GroupAxis::Channels}) {
    for (float bad : {NAN, INFINITY, -INFINITY}) {
      for (size_t position : {size_t{0}, size_t{77}, size_t{2 * 40 * 16 - 1}}) {
        QuantCase c = random_case(axis, 4, 32, 2, 40, 16, DType::F32, 3);
        std::vector<float> x(c.input.size() / 4);
        std::memcpy(x.data(), c.input.data(), c.input.size());
        const size_t row = position / 16, d = position % 16;
        x[row * c.token_stride + d] = bad;
        c.input = kvc_test::encode(x, kvc_test::kF32);
        EXPECT_EQ(run_quantize(generic_kernels(), c, SideDType::F16).outcome,
                  QuantOutcome::NonFinite)
            << bad << " at " << position;
        if (has_avx2_kernels()) {
          EXPECT_EQ(run_quantize(cpu::avx2::kernels(), c, SideDType::F16).outcome,
                    QuantOutcome::NonFinite);
        }
      }
    }
  }
}

TEST(CpuKernels, ScalesBeyondHalfRangeAskForFloat32SideData) {
  QuantCase c = random_case(GroupAxis::Tokens, 8, 32, 1, 32, 8, DType::F32, 5);
  std::vector<float> x(c.input.size() / 4);
  std::memcpy(x.data(), c.input.data(), c.input.size());
  x[3] = -1e6f;  // the group's zero point does not fit fp16
  c.input = kvc_test::encode(x, kvc_test::kF32);
  EXPECT_EQ(run_quantize(generic_kernels(), c, SideDType::F16).outcome, QuantOutcome::SideOverflow);
  const QuantOutput q = run_quantize(generic_kernels(), c, SideDType::F32);
  ASSERT_EQ(q.outcome, QuantOutcome::Ok);
  const std::vector<unsigned char> back =
      run_dequantize(generic_kernels(), c.g, q, SideDType::F32, DType::F32);
  float first;
  std::memcpy(&first, back.data() + 3 * 4, 4);
  EXPECT_EQ(first, -1e6f);  // the group minimum is its zero point, kept exactly in fp32
}

TEST(CpuKernels, Avx2AndGenericConvertEvery16BitPatternIdentically) {
  if (!has_avx2_kernels()) GTEST_SKIP() << "this CPU lacks AVX2/F16C/FMA: one kernel table only";
  const cpu::Kernels& a = cpu::avx2::kernels();
  const cpu::Kernels& g = generic_kernels();
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  for (DType t : {DType::F16, DType::BF16}) {
    // Offsets and lengths that are not multiples of 8 run both the vector and the tail loop.
    for (size_t offset : {size_t{0}, size_t{3}}) {
      const size_t n = all.size() - offset - 2;
      std::vector<float> fa(n), fg(n);
      a.to_f32(all.data() + offset, t, fa.data(), n);
      g.to_f32(all.data() + offset, t, fg.data(), n);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(float_bits(fa[i]), float_bits(fg[i]))
            << dtype_name(t) << " pattern 0x" << std::hex << all[offset + i];
      }
    }
  }
}

TEST(CpuKernels, Avx2AndGenericRoundFloatsIdentically) {
  if (!has_avx2_kernels()) GTEST_SKIP() << "this CPU lacks AVX2/F16C/FMA: one kernel table only";
  std::mt19937 rng(11);
  std::vector<float> x;
  for (int i = 0; i < 200000; ++i) x.push_back(bits_float(static_cast<uint32_t>(rng())));
  for (int i = 0; i < 200000; ++i) {
    x.push_back(std::ldexp(static_cast<float>(rng() % 4096) / 2048.0f - 1.0f,
                           static_cast<int>(rng() % 48) - 30));
  }
  for (uint32_t h = 0; h < 0x7C00; ++h) {  // every fp16 midpoint: ties
    x.push_back(static_cast<float>(
        (kvc_test::ref_half_value(static_cast<uint16_t>(h)) +
         (h == 0x7BFF ? 65536.0 : kvc_test::ref_half_value(static_cast<uint16_t>(h + 1)))) /
        2));
  }
  x.push_back(NAN);
  x.push_back(bits_float(0x7F800001u));  // signalling NaN
  x.push_back(bits_float(0xFFC12345u));
  x.push_back(INFINITY);
  x.push_back(-0.0f);
  for (DType t : {DType::F16, DType::BF16, DType::F32}) {
    std::vector<unsigned char> oa(x.size() * dtype_size(t)), og(x.size() * dtype_size(t));
    cpu::avx2::kernels().from_f32(x.data() + 1, oa.data(), t, x.size() - 1);
    generic_kernels().from_f32(x.data() + 1, og.data(), t, x.size() - 1);
    ASSERT_EQ(oa, og) << dtype_name(t);
  }
}

TEST(CpuKernels, Avx2AndGenericQuantizeAndDequantizeIdentically) {
  if (!has_avx2_kernels()) GTEST_SKIP() << "this CPU lacks AVX2/F16C/FMA: one kernel table only";
  const cpu::Kernels& a = cpu::avx2::kernels();
  const cpu::Kernels& g = generic_kernels();
  uint32_t seed = 1;
  size_t cases = 0;
  for (GroupAxis axis : {GroupAxis::Tokens, GroupAxis::Channels}) {
    for (int bits : {2, 3, 4, 8}) {
      for (uint32_t group : {32u, 64u, 128u}) {
        for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
          for (uint32_t head_dim : {8u, 13u, 64u, 72u}) {
            for (uint32_t tokens : {1u, 100u, 257u}) {
              const QuantCase c =
                  random_case(axis, bits, group, 2, tokens, head_dim, dtype, ++seed);
              const std::string where = "axis " + std::to_string(static_cast<int>(axis)) +
                                        " bits " + std::to_string(bits) + " group " +
                                        std::to_string(group) + " " + dtype_name(dtype) +
                                        " head_dim " + std::to_string(head_dim) + " tokens " +
                                        std::to_string(tokens);
              const QuantOutput qa = run_quantize(a, c, SideDType::F16);
              const QuantOutput qg = run_quantize(g, c, SideDType::F16);
              ASSERT_EQ(qa.outcome, QuantOutcome::Ok) << where;
              ASSERT_EQ(qg.outcome, QuantOutcome::Ok) << where;
              ASSERT_EQ(qa.codes, qg.codes) << where;
              ASSERT_EQ(qa.scales, qg.scales) << where;
              ASSERT_EQ(qa.zeros, qg.zeros) << where;
              for (DType out : {DType::F32, DType::F16, DType::BF16}) {
                ASSERT_EQ(run_dequantize(a, c.g, qa, SideDType::F16, out),
                          run_dequantize(g, c.g, qg, SideDType::F16, out))
                    << where << " -> " << dtype_name(out);
              }
              const QuantOutput fa = run_quantize(a, c, SideDType::F32);
              const QuantOutput fg = run_quantize(g, c, SideDType::F32);
              ASSERT_EQ(fa.codes, fg.codes) << where << " (f32 side)";
              ASSERT_EQ(fa.scales, fg.scales) << where << " (f32 side)";
              ASSERT_EQ(run_dequantize(a, c.g, fa, SideDType::F32, DType::F32),
                        run_dequantize(g, c.g, fg, SideDType::F32, DType::F32))
                  << where << " (f32 side)";
              ++cases;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 2u * 4 * 3 * 3 * 4 * 3);
}

TEST(CpuBackend, ConvertBetweenEqualDTypesCopiesEveryBitPattern) {
  std::vector<uint16_t> all(65536), out(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  cpu_backend().convert(all.data(), DType::F16, out.data(), DType::F16, all.size());
  EXPECT_EQ(all, out);
  std::vector<float> wide(65536);
  cpu_backend().convert(all.data(), DType::BF16, wide.data(), DType::F32, all.size());
  for (uint32_t i = 0; i < 65536; ++i) ASSERT_EQ(float_bits(wide[i]), i << 16);
}

// The AVX2 fp16 path has its own min/max (on integer keys of the half bits): edge values must give
// the generic kernel's bytes exactly.
TEST(CpuKernels, Avx2Fp16PathMatchesGenericOnZerosConstantsSubnormalsAndNonFinite) {
  if (!has_avx2_kernels()) GTEST_SKIP() << "this CPU lacks AVX2/F16C/FMA: one kernel table only";
  const cpu::Kernels& a = cpu::avx2::kernels();
  const cpu::Kernels& g = generic_kernels();
  const uint16_t specials[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF,
                               0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x0400, 0x8400};
  std::mt19937 rng(77);
  size_t cases = 0;
  for (GroupAxis axis : {GroupAxis::Tokens, GroupAxis::Channels}) {
    for (int bits : {2, 3, 4, 8}) {
      for (uint32_t group : {32u, 64u, 128u}) {
        for (int pattern = 0; pattern < 6; ++pattern) {
          QuantCase c = random_case(axis, bits, group, 2, 160, 64, DType::F16, rng());
          auto* half = reinterpret_cast<uint16_t*>(c.input.data());
          const size_t n = c.input.size() / 2;
          for (size_t i = 0; i < n; ++i) {
            switch (pattern) {
              case 0:  // sprinkled special values
                if (rng() % 4 == 0) half[i] = specials[rng() % std::size(specials)];
                break;
              case 1:  // only zeros of both signs
                half[i] = rng() % 2 ? 0x0000 : 0x8000;
                break;
              case 2:  // constant
                half[i] = 0x3C00;
                break;
              case 3:  // subnormals only
                half[i] = static_cast<uint16_t>((rng() % 2 ? 0x8000 : 0) | (rng() % 0x400));
                break;
              case 4:  // zero as the minimum or maximum of most groups
                half[i] = rng() % 3 == 0 ? 0x0000 : (rng() % 2 ? 0x3800 : 0xB800);
                break;
              default:  // one non-finite value somewhere
                if (i == n / 2) half[i] = rng() % 2 ? 0x7C00 : 0x7E00;
                break;
            }
          }
          const std::string where = "axis " + std::to_string(static_cast<int>(axis)) + " bits " +
                                    std::to_string(bits) + " group " + std::to_string(group) +
                                    " pattern " + std::to_string(pattern);
          const QuantOutput qa = run_quantize(a, c, SideDType::F16);
          const QuantOutput qg = run_quantize(g, c, SideDType::F16);
          ASSERT_EQ(qa.outcome, qg.outcome) << where;
          if (qg.outcome != QuantOutcome::Ok) continue;
          ASSERT_EQ(qa.codes, qg.codes) << where;
          ASSERT_EQ(qa.scales, qg.scales) << where;
          ASSERT_EQ(qa.zeros, qg.zeros) << where;
          ++cases;
        }
      }
    }
  }
  EXPECT_GE(cases, 100u);
}

}  // namespace
}  // namespace kvc
