// attention_logits_entry_point.cu: the plugin's attention logits for token selection (cuBLAS
// SgemmStridedBatched, opened with dlopen so that the plugin itself loads without libcublas), and
// the softmax and aggregation of those logits into attention mass (kernels/attention_mass.cu).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/plugin_abi.h"
#include "kernels/kernels.h"

namespace {

using kvc::cuda::require;

struct Cublas {
  std::string why_not;
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSgemmStridedBatched) gemm = nullptr;
};

Cublas load_cublas() {
  Cublas c;
  for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) {
    void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* error = dlerror();
      c.why_not += std::string(error ? error : name) + "; ";
      continue;
    }
    c.create = reinterpret_cast<decltype(c.create)>(dlsym(handle, "cublasCreate_v2"));
    c.destroy = reinterpret_cast<decltype(c.destroy)>(dlsym(handle, "cublasDestroy_v2"));
    c.set_stream = reinterpret_cast<decltype(c.set_stream)>(dlsym(handle, "cublasSetStream_v2"));
    c.gemm = reinterpret_cast<decltype(c.gemm)>(dlsym(handle, "cublasSgemmStridedBatched"));
    if (c.create && c.destroy && c.set_stream && c.gemm) {
      c.why_not.clear();
      return c;  // kept open for the life of the process
    }
    c = Cublas{c.why_not + name + ": lacks cublasSgemmStridedBatched; "};
    dlclose(handle);
  }
  return c;
}

const Cublas& cublas() {
  static const Cublas c = load_cublas();
  return c;
}

struct Handle {
  const Cublas& c;
  cublasHandle_t handle = nullptr;
  explicit Handle(const Cublas& lib) : c(lib) { KVC_CUBLAS_CHECK(c.create(&handle)); }
  ~Handle() {
    if (handle) c.destroy(handle);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_attention_logits(
    const float* keys, const float* queries, uint32_t kv_heads, uint32_t query_heads,
    uint32_t num_queries, uint32_t tokens, uint32_t head_dim, float* logits, void* stream,
    char* message, size_t message_capacity) {
  return kvc::cuda::guarded(message, message_capacity, [&] {
    require(kv_heads >= 1 && query_heads % kv_heads == 0 && query_heads >= kv_heads,
            "query_heads " + std::to_string(query_heads) + " is not a multiple of kv_heads " +
                std::to_string(kv_heads));
    require(num_queries >= 1 && tokens >= 1 && head_dim >= 1,
            "num_queries, tokens and head_dim must be at least 1");
    require(keys != nullptr && queries != nullptr && logits != nullptr,
            "keys, queries and logits must not be NULL");
    const Cublas& c = cublas();
    if (c.create == nullptr) {
      throw kvc::cuda::Failure(KVC_ERR_DEVICE, "cuBLAS is not available: " + c.why_not);
    }
    Handle h(c);
    KVC_CUBLAS_CHECK(c.set_stream(h.handle, static_cast<cudaStream_t>(stream)));
    // Row-major logits (rows = the group's query rows, columns = tokens) are the column-major
    // product keys^T-as-stored . queries: C (tokens x rows) = K^T (tokens x d) * Q (d x rows).
    const int rows = static_cast<int>((query_heads / kv_heads) * num_queries);
    const int n_tokens = static_cast<int>(tokens);
    const int dim = static_cast<int>(head_dim);
    const float alpha = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
    const float beta = 0.0f;
    KVC_CUBLAS_CHECK(c.gemm(h.handle, CUBLAS_OP_T, CUBLAS_OP_N, n_tokens, rows, dim, &alpha, keys,
                            dim, static_cast<long long>(tokens) * head_dim, queries, dim,
                            static_cast<long long>(rows) * head_dim, &beta, logits, n_tokens,
                            static_cast<long long>(rows) * tokens, static_cast<int>(kv_heads)));
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_attention_mass(
    const float* logits, uint32_t kv_heads, uint32_t query_heads, uint32_t num_queries,
    uint32_t tokens, double* mass, void* stream, char* message, size_t message_capacity) {
  return kvc::cuda::guarded(message, message_capacity, [&] {
    require(kv_heads >= 1 && query_heads % kv_heads == 0 && query_heads >= kv_heads,
            "query_heads " + std::to_string(query_heads) + " is not a multiple of kv_heads " +
                std::to_string(kv_heads));
    require(num_queries >= 1 && tokens >= 1, "num_queries and tokens must be at least 1");
    require(uint64_t{query_heads} * num_queries <= 0x7FFFFFFFu,
            "query_heads * num_queries exceeds the grid (2^31 - 1 rows)");
    require(logits != nullptr && mass != nullptr, "logits and mass must not be NULL");
    KVC_CUDA_CHECK(kvc::kernels::launch_attention_mass(logits, kv_heads, query_heads, num_queries,
                                                       tokens, mass, stream));
  });
}

}  // extern "C"
