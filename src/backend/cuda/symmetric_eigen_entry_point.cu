// symmetric_eigen_entry_point.cu: the plugin's batched symmetric eigendecomposition (cuSOLVER
// syevj, opened with dlopen so that the plugin itself still loads without libcusolver).
#include <cuda_runtime.h>
#include <cusolverDn.h>
#include <dlfcn.h>

#include <cstdint>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/plugin_abi.h"

namespace {

using kvc::cuda::require;

// The cuSOLVER functions used here, found in libcusolver at run time.
struct Cusolver {
  std::string why_not;
  decltype(&cusolverDnCreate) create = nullptr;
  decltype(&cusolverDnDestroy) destroy = nullptr;
  decltype(&cusolverDnSetStream) set_stream = nullptr;
  decltype(&cusolverDnCreateSyevjInfo) create_info = nullptr;
  decltype(&cusolverDnDestroySyevjInfo) destroy_info = nullptr;
  decltype(&cusolverDnSsyevj_bufferSize) syevj_buffer = nullptr;
  decltype(&cusolverDnSsyevj) syevj = nullptr;
  decltype(&cusolverDnSsyevjBatched_bufferSize) batched_buffer = nullptr;
  decltype(&cusolverDnSsyevjBatched) batched = nullptr;
};

template <class F>
void find(void* handle, const char* name, F& out, bool& is_complete) {
  out = reinterpret_cast<F>(dlsym(handle, name));
  is_complete = is_complete && out != nullptr;
}

Cusolver load_cusolver() {
  Cusolver c;
  for (const char* name : {"libcusolver.so.12", "libcusolver.so.11", "libcusolver.so"}) {
    void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* error = dlerror();
      c.why_not += std::string(error ? error : name) + "; ";
      continue;
    }
    bool is_complete = true;
    find(handle, "cusolverDnCreate", c.create, is_complete);
    find(handle, "cusolverDnDestroy", c.destroy, is_complete);
    find(handle, "cusolverDnSetStream", c.set_stream, is_complete);
    find(handle, "cusolverDnCreateSyevjInfo", c.create_info, is_complete);
    find(handle, "cusolverDnDestroySyevjInfo", c.destroy_info, is_complete);
    find(handle, "cusolverDnSsyevj_bufferSize", c.syevj_buffer, is_complete);
    find(handle, "cusolverDnSsyevj", c.syevj, is_complete);
    find(handle, "cusolverDnSsyevjBatched_bufferSize", c.batched_buffer, is_complete);
    find(handle, "cusolverDnSsyevjBatched", c.batched, is_complete);
    if (is_complete) {
      c.why_not.clear();
      return c;  // kept open for the life of the process
    }
    c.why_not += std::string(name) + ": lacks the syevj functions; ";
    dlclose(handle);
  }
  return c;
}

const Cusolver& cusolver() {
  static const Cusolver c = load_cusolver();
  return c;
}

template <class T>
struct DeviceArray {
  T* ptr = nullptr;
  explicit DeviceArray(size_t count) {
    KVC_CUDA_CHECK(cudaMalloc(&ptr, (count ? count : 1) * sizeof(T)));
  }
  ~DeviceArray() { cudaFree(ptr); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
};

struct Session {
  const Cusolver& c;
  cusolverDnHandle_t handle = nullptr;
  syevjInfo_t params = nullptr;
  explicit Session(const Cusolver& lib) : c(lib) {
    KVC_CUSOLVER_CHECK(c.create(&handle));
    KVC_CUSOLVER_CHECK(c.create_info(&params));
  }
  ~Session() {
    if (params) c.destroy_info(params);
    if (handle) c.destroy(handle);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_symmetric_eigen(
    const float* a, uint32_t n, uint32_t batch, float* eigenvalues, float* vectors, void* stream,
    char* message, size_t message_capacity) {
  return kvc::cuda::guarded(message, message_capacity, [&] {
    require(n >= 1 && n <= 4096, "n " + std::to_string(n) + " is not in 1..4096");
    require(batch >= 1, "batch must be at least 1");
    require(a != nullptr && eigenvalues != nullptr && vectors != nullptr,
            "a, eigenvalues and vectors must not be NULL");
    const Cusolver& c = cusolver();
    if (c.create == nullptr) {
      throw kvc::cuda::Failure(KVC_ERR_DEVICE, "cuSOLVER is not available: " + c.why_not);
    }
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const size_t nn = size_t{n} * n;
    KVC_CUDA_CHECK(
        cudaMemcpyAsync(vectors, a, nn * batch * sizeof(float), cudaMemcpyDeviceToDevice, s));
    Session session(c);
    KVC_CUSOLVER_CHECK(c.set_stream(session.handle, s));
    const int dim = static_cast<int>(n);
    // Lower triangle of a column-major matrix = upper triangle of the row-major one (CPU twin).
    const cublasFillMode_t fill = CUBLAS_FILL_MODE_LOWER;
    const cusolverEigMode_t jobz = CUSOLVER_EIG_MODE_VECTOR;
    DeviceArray<int> info(batch);
    int work_floats = 0;
    if (n <= 32) {  // syevjBatched handles matrices up to 32 x 32
      KVC_CUSOLVER_CHECK(c.batched_buffer(session.handle, jobz, fill, dim, vectors, dim,
                                          eigenvalues, &work_floats, session.params,
                                          static_cast<int>(batch)));
      DeviceArray<float> work(static_cast<size_t>(work_floats));
      KVC_CUSOLVER_CHECK(c.batched(session.handle, jobz, fill, dim, vectors, dim, eigenvalues,
                                   work.ptr, work_floats, info.ptr, session.params,
                                   static_cast<int>(batch)));
      KVC_CUDA_CHECK(cudaStreamSynchronize(s));
    } else {
      KVC_CUSOLVER_CHECK(c.syevj_buffer(session.handle, jobz, fill, dim, vectors, dim, eigenvalues,
                                        &work_floats, session.params));
      DeviceArray<float> work(static_cast<size_t>(work_floats));
      for (uint32_t b = 0; b < batch; ++b) {
        KVC_CUSOLVER_CHECK(c.syevj(session.handle, jobz, fill, dim, vectors + b * nn, dim,
                                   eigenvalues + size_t{b} * n, work.ptr, work_floats, info.ptr + b,
                                   session.params));
      }
      KVC_CUDA_CHECK(cudaStreamSynchronize(s));
    }
    std::vector<int> host_info(batch);
    KVC_CUDA_CHECK(
        cudaMemcpy(host_info.data(), info.ptr, batch * sizeof(int), cudaMemcpyDeviceToHost));
    for (uint32_t b = 0; b < batch; ++b) {
      if (host_info[b] != 0) {
        throw kvc::cuda::Failure(KVC_ERR_DEVICE, "cusolverDnSsyevj: matrix " + std::to_string(b) +
                                                     " gave info " + std::to_string(host_info[b]));
      }
    }
  });
}

}  // extern "C"
