// cuda_device_backend.cpp: the Backend of a KVC_DEVICE_CUDA context: caches in device memory,
// quantized by the plugin's kernels, with codes and side values copied to the host for the format.
#include "backend/cuda_device_backend.h"

#include <string>

#include "core/error.h"

namespace kvc {
namespace {

size_t side_bytes(SideDType side) { return side == SideDType::F16 ? 2 : 4; }

// The geometry fields shared by kvc_cuda_quantize_args and kvc_cuda_dequantize_args.
template <class Args>
void set_geometry(Args& a, const QuantGeometry& g, SideDType side) {
  a.heads = g.heads;
  a.tokens = g.tokens;
  a.head_dim = g.head_dim;
  a.bits = g.bits;
  a.group_size = g.group_size;
  a.axis = g.axis == GroupAxis::Tokens ? 0 : 1;
  a.side = side == SideDType::F16 ? 0 : 1;
}

}  // namespace

CudaDeviceBackend::CudaDeviceBackend(const CudaPlugin& plugin, int32_t device)
    : plugin_(plugin), device_(device) {
  activate();
}

CudaDeviceBackend::~CudaDeviceBackend() {
  for (Scratch* s : {&codes_, &scales_, &zeros_, &rows_}) plugin_.free(s->ptr);
}

void CudaDeviceBackend::check(int32_t status, const char* call) const {
  if (status != KVC_OK) throw Error(status, std::string(call) + ": " + message_);
}

void CudaDeviceBackend::activate() const {
  check(plugin_.set_device(device_, message_, sizeof message_), "kvc_cuda_plugin_set_device");
}

unsigned char* CudaDeviceBackend::scratch(Scratch& s, uint64_t bytes) const {
  if (bytes > s.bytes) {
    plugin_.free(s.ptr);
    s = Scratch{};
    check(plugin_.malloc(bytes, &s.ptr, message_, sizeof message_), "kvc_cuda_plugin_malloc");
    s.bytes = bytes;
  }
  return static_cast<unsigned char*>(s.ptr);
}

DeviceAllocation CudaDeviceBackend::allocate(uint64_t bytes) const {
  activate();
  void* ptr = nullptr;
  check(plugin_.malloc(bytes, &ptr, message_, sizeof message_), "kvc_cuda_plugin_malloc");
  return DeviceAllocation(&plugin_, ptr);
}

void CudaDeviceBackend::upload(void* dst, const void* src, uint64_t bytes) const {
  activate();
  copy(dst, src, bytes, KVC_CUDA_COPY_HOST_TO_DEVICE);
  finish();
}

void CudaDeviceBackend::copy(void* dst, const void* src, uint64_t bytes, int32_t kind) const {
  check(plugin_.memcpy(dst, src, bytes, kind, stream_, message_, sizeof message_),
        "kvc_cuda_plugin_memcpy");
}

void CudaDeviceBackend::finish() const {
  check(plugin_.synchronize(stream_, message_, sizeof message_), "kvc_cuda_plugin_synchronize");
}

QuantOutcome CudaDeviceBackend::quantize(const QuantizeJob& job) const {
  activate();
  const QuantGeometry& g = job.geometry;
  if (g.elements() == 0) return QuantOutcome::Ok;
  const uint64_t side_total = g.groups() * side_bytes(job.side);
  kvc_cuda_quantize_args a{};
  a.input = job.input.base;
  a.head_stride = job.input.head_stride;
  a.token_stride = job.input.token_stride;
  a.input_dtype = static_cast<int32_t>(job.input.dtype);
  set_geometry(a, g, job.side);
  a.codes = scratch(codes_, g.code_bytes());
  a.scales = scratch(scales_, side_total);
  a.zeros = scratch(zeros_, side_total);
  a.stream = stream_;
  int32_t outcome = 0;
  check(plugin_.quantize(&a, &outcome, message_, sizeof message_), "kvc_cuda_plugin_quantize");
  if (outcome != 0) return outcome == 1 ? QuantOutcome::NonFinite : QuantOutcome::SideOverflow;
  copy(job.codes, a.codes, g.code_bytes(), KVC_CUDA_COPY_DEVICE_TO_HOST);
  copy(job.scales, a.scales, side_total, KVC_CUDA_COPY_DEVICE_TO_HOST);
  copy(job.zeros, a.zeros, side_total, KVC_CUDA_COPY_DEVICE_TO_HOST);
  finish();
  return QuantOutcome::Ok;
}

void CudaDeviceBackend::dequantize(const DequantizeJob& job) const {
  activate();
  const QuantGeometry& g = job.geometry;
  if (g.elements() == 0) return;
  const uint64_t side_total = g.groups() * side_bytes(job.side);
  kvc_cuda_dequantize_args a{};
  set_geometry(a, g, job.side);
  // Host buffers are pageable: each copy has read them when it returns, so the caller may reuse
  // them while the kernel runs; the device scratch is reused in stream order.
  unsigned char* codes = scratch(codes_, g.code_bytes());
  unsigned char* scales = scratch(scales_, side_total);
  unsigned char* zeros = scratch(zeros_, side_total);
  copy(codes, job.codes, g.code_bytes(), KVC_CUDA_COPY_HOST_TO_DEVICE);
  copy(scales, job.scales, side_total, KVC_CUDA_COPY_HOST_TO_DEVICE);
  copy(zeros, job.zeros, side_total, KVC_CUDA_COPY_HOST_TO_DEVICE);
  a.codes = codes;
  a.scales = scales;
  a.zeros = zeros;
  a.output = job.output;
  a.output_dtype = static_cast<int32_t>(job.output_dtype);
  a.head_stride = job.head_stride;
  a.token_stride = job.token_stride;
  a.stream = stream_;
  check(plugin_.dequantize(&a, message_, sizeof message_), "kvc_cuda_plugin_dequantize");
}

void CudaDeviceBackend::gather_rows(const TensorView& input, uint32_t heads, uint32_t token_begin,
                                    uint32_t count, uint32_t head_dim, unsigned char* out) const {
  activate();
  const uint64_t bytes = uint64_t{heads} * count * head_dim * dtype_size(input.dtype);
  if (bytes == 0) return;
  unsigned char* rows = scratch(rows_, bytes);
  check(plugin_.gather_rows(input.base, input.head_stride, input.token_stride,
                            static_cast<int32_t>(input.dtype), heads, token_begin, count, head_dim,
                            rows, stream_, message_, sizeof message_),
        "kvc_cuda_plugin_gather_rows");
  copy(out, rows, bytes, KVC_CUDA_COPY_DEVICE_TO_HOST);
  finish();
}

void CudaDeviceBackend::store(const void* src, DType src_dtype, void* dst, DType dst_dtype,
                              size_t n) const {
  if (n == 0) return;
  activate();
  const void* from = src;
  if (src_dtype != dst_dtype) {
    converted_.resize(n * dtype_size(dst_dtype));
    cpu_backend().convert(src, src_dtype, converted_.data(), dst_dtype, n);
    from = converted_.data();
  }
  copy(dst, from, n * dtype_size(dst_dtype), KVC_CUDA_COPY_HOST_TO_DEVICE);
}

void CudaDeviceBackend::convert(const void* src, DType src_dtype, void* dst, DType dst_dtype,
                                size_t n) const {
  cpu_backend().convert(src, src_dtype, dst, dst_dtype, n);
}

}  // namespace kvc
