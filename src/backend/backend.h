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

// The numeric hot paths of a context. "Cache memory" is where the context's caches live: host
// memory for the CPU backend, device memory for a CUDA one (kvc_compress reads it, kvc_decompress
// writes it). Codes, scales, zero points and every other buffer are host memory.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Whether cache memory is device memory (not readable on the host).
  virtual bool uses_device_memory() const { return false; }
  // Group-wise asymmetric quantization of job.input (cache memory); deterministic for a given
  // input, and the same bytes on every backend.
  virtual QuantOutcome quantize(const QuantizeJob& job) const = 0;
  // Writes job.output (cache memory).
  virtual void dequantize(const DequantizeJob& job) const = 0;
  // Copies rows [token_begin, token_begin + count) of each head of input (cache memory) into
  // host memory at out as packed [heads][count][head_dim].
  virtual void gather_rows(const TensorView& input, uint32_t heads, uint32_t token_begin,
                           uint32_t count, uint32_t head_dim, unsigned char* out) const;
  // Stores n contiguous elements of host memory src into cache memory dst, converted.
  virtual void store(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t n) const {
    convert(src, src_dtype, dst, dst_dtype, n);
  }
  // Waits until every write to cache memory this backend started has landed.
  virtual void finish() const {}
  // Converts n contiguous elements of host memory between dtypes (exact when widening; round to
  // nearest even).
  virtual void convert(const void* src, DType src_dtype, void* dst, DType dst_dtype,
                       size_t n) const = 0;
};

// The CPU backend: always available; picks AVX2/F16C kernels at run time where supported.
const Backend& cpu_backend();

}  // namespace kvc
