// backend.h: the Backend interface every numeric hot path goes through (CPU always; CUDA plugin).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/cache_view.h"
#include "core/dtype.h"

namespace kvc {

// Direction of a quantization group (matches kvc.format.GroupAxis).
enum class GroupAxis : uint8_t {
  Tokens = 0,    // keys: per channel, group_size consecutive tokens
  Channels = 1,  // values: per token, group_size consecutive elements of a row
};

// Element type of scales and zero points (matches kvc.format.SideDType).
enum class SideDType : uint8_t { F16 = 0, F32 = 1 };

// Geometry of one group-quantized tensor: [heads][tokens][head_dim] coded with `bits`.
struct QuantGeometry {
  uint32_t heads = 0;
  uint32_t tokens = 0;  // tokens that are quantized
  uint32_t head_dim = 0;
  int bits = 4;
  uint32_t group_size = 64;  // as used: for Channels never above head_dim
  GroupAxis axis = GroupAxis::Tokens;

  uint64_t elements() const { return uint64_t{heads} * tokens * head_dim; }
  uint64_t groups() const;      // scale/zero pairs
  uint64_t code_bytes() const;  // bit-packed codes, LSB first, [head][token][dim] order
};

enum class QuantOutcome {
  Ok,
  NonFinite,     // the input holds a NaN or an infinity
  SideOverflow,  // a scale or zero point does not fit fp16; retry with SideDType::F32
};

struct QuantizeJob {
  QuantGeometry geometry;
  TensorView input;  // element (h, t, d) of the quantized tokens
  SideDType side = SideDType::F16;
  unsigned char* codes = nullptr;  // geometry.code_bytes()
  void* scales = nullptr;          // geometry.groups() elements of side
  void* zeros = nullptr;           // geometry.groups() elements of side
};

struct DequantizeJob {
  QuantGeometry geometry;
  SideDType side = SideDType::F16;
  const unsigned char* codes = nullptr;
  const void* scales = nullptr;
  const void* zeros = nullptr;
  void* output = nullptr;  // element (h, t, d) at output + (h*head_stride + t*token_stride + d)
  DType output_dtype = DType::F16;
  uint64_t head_stride = 0;
  uint64_t token_stride = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Group-wise asymmetric quantization; deterministic for a given input.
  virtual QuantOutcome quantize(const QuantizeJob& job) const = 0;
  virtual void dequantize(const DequantizeJob& job) const = 0;
  // Converts n contiguous elements between dtypes (exact when widening; round to nearest even).
  virtual void convert(const void* src, DType src_dtype, void* dst, DType dst_dtype,
                       size_t n) const = 0;
};

// The CPU backend: always available; picks AVX2/F16C kernels at run time where supported.
const Backend& cpu_backend();

}  // namespace kvc
