// device_context_test.cpp: kvc_compress and kvc_decompress on a KVC_DEVICE_CUDA context give the
// CPU context's bytes. Runs against the plugin named by KVC_CUDA_PLUGIN: the emulated plugin
// (tests/cuda_emulator, every CI run) or libkvc_cuda.so on a GPU machine.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../sized_buffers.h"
#include "api/api_helpers.h"
#include "backend/plugin_abi.h"

namespace {

using kvc_api_test::Cache;
using kvc_api_test::contains;

// The plugin's own memory entry points (ABI 3), opened from KVC_CUDA_PLUGIN as libkvc.so opens it.
struct PluginMemory {
  kvc_cuda_plugin_malloc_fn malloc = nullptr;
  kvc_cuda_plugin_free_fn free = nullptr;
  kvc_cuda_plugin_memcpy_fn memcpy = nullptr;
  kvc_cuda_plugin_synchronize_fn synchronize = nullptr;
  int64_t (*emulator_count)(const char*) = nullptr;  // emulated plugin only
  int64_t (*emulator_live)() = nullptr;
};

const PluginMemory& plugin() {
  static const PluginMemory m = [] {
    PluginMemory p;
    const char* path = std::getenv("KVC_CUDA_PLUGIN");
    void* handle = path != nullptr ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : nullptr;
    if (handle == nullptr) return p;
    p.malloc = reinterpret_cast<kvc_cuda_plugin_malloc_fn>(dlsym(handle, "kvc_cuda_plugin_malloc"));
    p.free = reinterpret_cast<kvc_cuda_plugin_free_fn>(dlsym(handle, "kvc_cuda_plugin_free"));
    p.memcpy = reinterpret_cast<kvc_cuda_plugin_memcpy_fn>(dlsym(handle, "kvc_cuda_plugin_memcpy"));
    p.synchronize = reinterpret_cast<kvc_cuda_plugin_synchronize_fn>(
        dlsym(handle, "kvc_cuda_plugin_synchronize"));
    p.emulator_count =
        reinterpret_cast<int64_t (*)(const char*)>(dlsym(handle, "kvc_cuda_emulator_count"));
    p.emulator_live =
        reinterpret_cast<int64_t (*)()>(dlsym(handle, "kvc_cuda_emulator_live_allocations"));
    return p;
  }();
  return m;
}

bool emulated() { return plugin().emulator_count != nullptr; }

// Device memory holding a copy of host bytes, or zeros-free scratch of a size.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) {
    char message[256] = "";
    EXPECT_EQ(plugin().malloc(bytes, &ptr_, message, sizeof message), KVC_OK) << message;
  }
  explicit DeviceBuffer(const std::vector<unsigned char>& host) : DeviceBuffer(host.size()) {
    char message[256] = "";
    EXPECT_EQ(plugin().memcpy(ptr_, host.data(), host.size(), KVC_CUDA_COPY_HOST_TO_DEVICE, nullptr,
                              message, sizeof message),
              KVC_OK)
        << message;
  }
  ~DeviceBuffer() { plugin().free(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  std::vector<unsigned char> to_host(size_t bytes) const {
    std::vector<unsigned char> out(bytes);
    char message[256] = "";
    EXPECT_EQ(plugin().memcpy(out.data(), ptr_, bytes, KVC_CUDA_COPY_DEVICE_TO_HOST, nullptr,
                              message, sizeof message),
              KVC_OK)
        << message;
    EXPECT_EQ(plugin().synchronize(nullptr, message, sizeof message), KVC_OK) << message;
    return out;
  }

 private:
  void* ptr_ = nullptr;
};

class DeviceContext {
 public:
  DeviceContext() {
    kvc_context_params p;
    EXPECT_EQ(kvc_context_params_default(&p, sizeof p), KVC_OK);
    p.device = KVC_DEVICE_CUDA;
    EXPECT_EQ(kvc_context_create(&p, &ctx_, nullptr, 0), KVC_OK);
  }
  ~DeviceContext() { kvc_context_free(ctx_); }
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;
  operator kvc_context*() const { return ctx_; }

 private:
  kvc_context* ctx_ = nullptr;
};

// Compresses a cache whose tensors are at keys/values (host or device, as ctx expects).
std::vector<unsigned char> compress_at(kvc_context* ctx, const kvc_compress_params& p,
                                       const kvc_cache_shape& shape, const void* keys,
                                       const void* values, const kvc_query_shape* qs = nullptr,
                                       const void* queries = nullptr) {
  std::vector<unsigned char> blob(kvc_compress_bound(&p, &shape));
  size_t size = 0;
  const kvc_status st = kvc_compress_with_queries(
      ctx, &p, &shape, keys, kvc_sized::extent(&shape), values, kvc_sized::extent(&shape), qs,
      queries, kvc_sized::query_extent(qs, &shape), blob.data(), blob.size(), &size, nullptr);
  EXPECT_EQ(st, KVC_OK) << kvc_context_last_error(ctx);
  blob.resize(st == KVC_OK ? size : 0);
  return blob;
}

struct Decode {
  kvc_dtype dtype = KVC_DTYPE_AS_STORED;
  uint32_t first = 0;
  uint32_t count = 0;
  int32_t scatter = 0;
};

kvc_decompress_params decompress_params(const Decode& d) {
  kvc_decompress_params p;
  EXPECT_EQ(kvc_decompress_params_default(&p, sizeof p), KVC_OK);
  p.dtype = d.dtype;
  p.first_layer = d.first;
  p.num_layers = d.count;
  p.scatter = d.scatter;
  return p;
}

// Decodes on a CPU context and on the device context; the bytes must agree.
void expect_same_decode(kvc_context* device_ctx, const std::vector<unsigned char>& blob,
                        const Decode& d) {
  kvc_api_test::Context cpu;
  const kvc_decompress_params p = decompress_params(d);
  size_t needed = 0;
  ASSERT_EQ(kvc_decompress(cpu, &p, blob.data(), blob.size(), nullptr, nullptr, 0, &needed),
            KVC_ERR_BUFFER_TOO_SMALL);
  std::vector<unsigned char> keys(needed), values(needed);
  size_t written = 0;
  ASSERT_EQ(kvc_decompress(cpu, &p, blob.data(), blob.size(), keys.data(), values.data(), needed,
                           &written),
            KVC_OK);
  DeviceBuffer device_keys(needed), device_values(needed);
  size_t device_written = 0;
  ASSERT_EQ(kvc_decompress(device_ctx, &p, blob.data(), blob.size(), device_keys.get(),
                           device_values.get(), needed, &device_written),
            KVC_OK)
      << kvc_context_last_error(device_ctx);
  EXPECT_EQ(device_written, written);
  EXPECT_TRUE(device_keys.to_host(needed) == keys) << "keys differ";
  EXPECT_TRUE(device_values.to_host(needed) == values) << "values differ";
}

kvc_compress_params params(int key_bits, int value_bits, int group, int recent, int zstd = 1) {
  kvc_compress_params p = kvc_api_test::params(key_bits, value_bits, group, recent);
  p.zstd_level = zstd;
  return p;
}

// Compresses c on the CPU and on the device: same blob; then every decode agrees.
void expect_same_bytes(const Cache& c, const kvc_compress_params& p,
                       const kvc_query_shape* qs = nullptr, const void* queries = nullptr) {
  kvc_api_test::Context cpu;
  const std::vector<unsigned char> expected =
      compress_at(cpu, p, c.shape, c.keys.data(), c.values.data(), qs, queries);
  ASSERT_FALSE(expected.empty());
  DeviceContext device;
  const DeviceBuffer keys(c.keys), values(c.values);
  const std::vector<unsigned char> blob =
      compress_at(device, p, c.shape, keys.get(), values.get(), qs, queries);
  ASSERT_EQ(blob.size(), expected.size());
  EXPECT_TRUE(blob == expected) << "the device blob differs from the CPU blob";
  expect_same_decode(device, blob, Decode{});
  expect_same_decode(device, blob, Decode{KVC_DTYPE_F32, 0, 0, 0});
  expect_same_decode(device, blob, Decode{KVC_DTYPE_AS_STORED, 0, 0, 1});
  if (c.shape.num_layers > 1) {
    expect_same_decode(device, blob, Decode{KVC_DTYPE_BF16, 1, 1, 0});
  }
}

TEST(DeviceContext, CompressesToTheCpuBytesInEverySetting) {
  for (const kvc_dtype dtype : {KVC_DTYPE_F16, KVC_DTYPE_BF16, KVC_DTYPE_F32}) {
    const Cache c = kvc_api_test::gaussian_cache(2, 3, 80, 64, dtype, 7);
    for (const int bits : {2, 3, 4, 8, 16}) {
      for (const int group : {32, 64, 128}) {
        SCOPED_TRACE("dtype " + std::to_string(dtype) + " bits " + std::to_string(bits) +
                     " group " + std::to_string(group));
        expect_same_bytes(c, params(bits, bits, group, 0));
      }
    }
    SCOPED_TRACE("dtype " + std::to_string(dtype));
    expect_same_bytes(c, params(8, 2, 64, 16));      // mixed bits, recent window
    expect_same_bytes(c, params(4, 4, 64, 200));     // window longer than the cache
    expect_same_bytes(c, params(4, 4, 128, 24, 0));  // no entropy stage
    expect_same_bytes(c, params(16, 4, 32, 0, 19));
  }
}

TEST(DeviceContext, RealCacheGivesTheCpuBytes) {
  for (const char* name : {"smollm2-135m", "stories260K"}) {
    const std::string path = std::string(KVC_TEST_DATA_DIR) + "/" + name + ".safetensors";
    kvc_api_test::Context cpu;
    kvc_cache* loaded = nullptr;
    if (kvc_cache_load(cpu, path.c_str(), &loaded) != KVC_OK) {
      ADD_FAILURE() << "no real cache at " << path << " (scripts/test.sh makes it)";
      continue;
    }
    Cache c;
    c.shape.struct_size = sizeof c.shape;
    ASSERT_EQ(kvc_cache_get_shape(loaded, &c.shape), KVC_OK);
    c.shape.num_layers = std::min<uint32_t>(c.shape.num_layers, 3);  // packed: a prefix
    const size_t bytes = c.elements() * (c.shape.dtype == KVC_DTYPE_F32 ? 4 : 2);
    const auto* k = static_cast<const unsigned char*>(kvc_cache_keys(loaded));
    const auto* v = static_cast<const unsigned char*>(kvc_cache_values(loaded));
    c.keys.assign(k, k + bytes);
    c.values.assign(v, v + bytes);
    kvc_cache_free(loaded);
    SCOPED_TRACE(name);
    expect_same_bytes(c, params(4, 4, 128, 0));
    expect_same_bytes(c, params(2, 2, 32, 64));
    expect_same_bytes(c, params(8, 4, 64, 0));
  }
}

TEST(DeviceContext, TokenSelectionGivesTheCpuBytes) {
  const Cache c = kvc_api_test::gaussian_cache(2, 2, 96, 32, KVC_DTYPE_F16, 3);
  // Four query heads (grouped onto two KV heads), five queries each, float32.
  const uint32_t query_heads = 4, num_queries = 5;
  std::vector<float> q(size_t{c.shape.num_layers} * query_heads * num_queries * c.shape.head_dim);
  for (size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.37f * static_cast<float>(i)) * 2.0f;
  kvc_query_shape qs;
  ASSERT_EQ(kvc_query_shape_default(&qs, sizeof qs), KVC_OK);
  qs.per_layer = 1;
  qs.num_query_heads = query_heads;
  qs.num_queries = num_queries;
  qs.head_dim = c.shape.head_dim;
  qs.dtype = KVC_DTYPE_F32;

  kvc_compress_params p = params(4, 4, 32, 8);
  p.selection = KVC_SELECT_ATTENTION;
  p.attention_threshold = 0.8f;
  p.recent_always_kept_tokens = 8;
  expect_same_bytes(c, p, &qs, q.data());
  p.per_head = 1;
  expect_same_bytes(c, p, &qs, q.data());
  p = params(16, 16, 64, 0);
  p.selection = KVC_SELECT_KEY_NORM;
  p.keep_ratio = 0.4f;
  expect_same_bytes(c, p);
  p = params(3, 3, 64, 0);
  p.sliding_window = 40;
  expect_same_bytes(c, p);
}

TEST(DeviceContext, StridedAndPerLayerInputGiveTheCpuBytes) {
  // Heads padded to 100 tokens and rows to 40 elements: strides the packed layout lacks.
  const Cache packed = kvc_api_test::gaussian_cache(2, 2, 90, 32, KVC_DTYPE_F16, 5);
  Cache c = packed;
  c.shape.token_stride = 40;
  c.shape.head_stride = 100 * 40;
  c.shape.layer_stride = 2 * 100 * 40;
  const size_t padded = size_t{2} * 2 * 100 * 40 * 2;
  c.keys.assign(padded, 0xAB);
  c.values.assign(padded, 0xCD);
  for (uint32_t l = 0; l < 2; ++l) {
    for (uint32_t h = 0; h < 2; ++h) {
      for (uint32_t t = 0; t < 90; ++t) {
        const size_t from = (((size_t{l} * 2 + h) * 90 + t) * 32) * 2;
        const size_t to = (size_t{l} * c.shape.layer_stride + h * c.shape.head_stride +
                           t * c.shape.token_stride) *
                          2;
        std::memcpy(&c.keys[to], &packed.keys[from], 64);
        std::memcpy(&c.values[to], &packed.values[from], 64);
      }
    }
  }
  const kvc_compress_params p = params(4, 2, 32, 10);
  expect_same_bytes(c, p);

  // kvc_compress_layers with one device allocation per layer.
  kvc_api_test::Context cpu;
  const std::vector<unsigned char> expected =
      compress_at(cpu, p, packed.shape, packed.keys.data(), packed.values.data());
  const size_t layer_bytes = packed.keys.size() / 2;
  std::vector<unsigned char> k0(packed.keys.begin(), packed.keys.begin() + layer_bytes),
      k1(packed.keys.begin() + layer_bytes, packed.keys.end()),
      v0(packed.values.begin(), packed.values.begin() + layer_bytes),
      v1(packed.values.begin() + layer_bytes, packed.values.end());
  const DeviceBuffer dk0(k0), dk1(k1), dv0(v0), dv1(v1);
  const void* keys[] = {dk0.get(), dk1.get()};
  const void* values[] = {dv0.get(), dv1.get()};
  DeviceContext device;
  std::vector<unsigned char> blob(kvc_compress_bound(&p, &packed.shape));
  size_t size = 0;
  ASSERT_EQ(kvc_compress_layers(device, &p, &packed.shape, 2, keys,
                                kvc_sized::layer_sizes(packed.shape).data(), values,
                                kvc_sized::layer_sizes(packed.shape).data(), blob.data(),
                                blob.size(), &size, nullptr),
            KVC_OK)
      << kvc_context_last_error(device);
  blob.resize(size);
  EXPECT_TRUE(blob == expected);
}

TEST(DeviceContext, Float32ScalesWhereFloat16WouldOverflowTheDecode) {
  // Groups whose maximum sits near fp16's largest value: a binary16 scale rounded up would
  // decode the top code to infinity, so the encoder must retry with float32 scales on the device
  // exactly as on the CPU.
  Cache c = kvc_api_test::gaussian_cache(1, 1, 64, 32, KVC_DTYPE_F16, 9);
  auto* keys = reinterpret_cast<uint16_t*>(c.keys.data());
  for (size_t i = 0; i < c.keys.size() / 2; i += 3) keys[i] = 0x7BFF;  // 65504
  for (size_t i = 1; i < c.keys.size() / 2; i += 7) keys[i] = 0xF800;  // -32768
  expect_same_bytes(c, params(3, 3, 32, 0));
  expect_same_bytes(c, params(2, 2, 64, 0));
}

TEST(DeviceContext, NonFiniteInputFailsAsOnTheCpu) {
  Cache c = kvc_api_test::gaussian_cache(1, 2, 40, 32, KVC_DTYPE_F16, 2);
  reinterpret_cast<uint16_t*>(c.values.data())[77] = 0x7E00;  // NaN
  const kvc_compress_params p = params(4, 4, 32, 0);
  kvc_api_test::Context cpu;
  std::vector<unsigned char> blob(kvc_compress_bound(&p, &c.shape));
  size_t size = 0;
  EXPECT_EQ(
      kvc_compress(cpu, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), blob.data(), blob.size(), &size, nullptr),
      KVC_ERR_INVALID_ARGUMENT);
  DeviceContext device;
  const DeviceBuffer keys(c.keys), values(c.values);
  EXPECT_EQ(
      kvc_compress(device, &p, &c.shape, keys.get(), kvc_sized::extent(&c.shape), values.get(),
                   kvc_sized::extent(&c.shape), blob.data(), blob.size(), &size, nullptr),
      KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(kvc_context_last_error(device), "layer 0 values hold a NaN"));
  // Lossless keeps any value, on the device too.
  expect_same_bytes(c, params(16, 16, 32, 0));
}

TEST(DeviceContext, StreamsAndContexts) {
  kvc_api_test::Context cpu;
  int dummy = 0;
  EXPECT_EQ(kvc_context_set_stream(cpu, &dummy), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(kvc_context_last_error(cpu), "KVC_DEVICE_CPU"));
  EXPECT_EQ(kvc_context_set_stream(cpu, nullptr), KVC_OK);
  EXPECT_EQ(kvc_context_set_stream(nullptr, nullptr), KVC_ERR_INVALID_ARGUMENT);
  DeviceContext device;
  EXPECT_EQ(kvc_context_set_stream(device, nullptr), KVC_OK);

  kvc_context_params p;
  ASSERT_EQ(kvc_context_params_default(&p, sizeof p), KVC_OK);
  p.device = KVC_DEVICE_CUDA;
  p.device_index = kvc_device_count(KVC_DEVICE_CUDA);  // one past the last
  kvc_context* ctx = nullptr;
  EXPECT_EQ(kvc_context_create(&p, &ctx, nullptr, 0), KVC_ERR_DEVICE);
  EXPECT_EQ(ctx, nullptr);
  p.device_index = -1;
  EXPECT_EQ(kvc_context_create(&p, &ctx, nullptr, 0), KVC_ERR_INVALID_ARGUMENT);
}

TEST(DeviceContext, BenchmarkAndValidateTakeHostMemory) {
  const Cache c = kvc_api_test::gaussian_cache(2, 2, 64, 32, KVC_DTYPE_F16, 4);
  const kvc_compress_params p = params(4, 4, 32, 0);
  kvc_benchmark_result on_cpu{}, on_device{};
  on_cpu.struct_size = on_device.struct_size = sizeof on_cpu;
  kvc_api_test::Context cpu;
  ASSERT_EQ(
      kvc_benchmark(cpu, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                    kvc_sized::nbytes(c.values), nullptr, nullptr, 0, 3, &on_cpu),
      KVC_OK);
  DeviceContext device;
  ASSERT_EQ(
      kvc_benchmark(device, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                    kvc_sized::nbytes(c.values), nullptr, nullptr, 0, 3, &on_device),
      KVC_OK)
      << kvc_context_last_error(device);
  EXPECT_EQ(on_device.compressed_bytes, on_cpu.compressed_bytes);
  EXPECT_EQ(on_device.quality_passed, on_cpu.quality_passed);

  const std::vector<unsigned char> blob =
      compress_at(cpu, p, c.shape, c.keys.data(), c.values.data());
  kvc_validation v{};
  v.struct_size = sizeof v;
  EXPECT_EQ(kvc_validate(device, nullptr, nullptr, &c.shape, c.keys.data(),
                         kvc_sized::nbytes(c.keys), c.values.data(), kvc_sized::nbytes(c.values),
                         nullptr, nullptr, 0, blob.data(), blob.size(), &v),
            KVC_OK)
      << kvc_context_last_error(device);
  EXPECT_TRUE(v.passed);
}

TEST(DeviceContext, SeparateContextsRunInParallel) {
  // Eight threads, each with its own CUDA context, compress and decode at once (ThreadSanitizer
  // runs this in scripts/test_tsan.sh); every result equals the single-threaded CPU one.
  const Cache c = kvc_api_test::gaussian_cache(2, 2, 64, 32, KVC_DTYPE_F16, 11);
  const kvc_compress_params p = params(4, 2, 32, 8);
  kvc_api_test::Context cpu;
  const std::vector<unsigned char> expected =
      compress_at(cpu, p, c.shape, c.keys.data(), c.values.data());
  const kvc_api_test::Decoded decoded = kvc_api_test::decompress(cpu, expected);
  std::vector<int> same(8, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      DeviceContext device;
      const DeviceBuffer keys(c.keys), values(c.values);
      bool ok = true;
      for (int round = 0; round < 3; ++round) {
        std::vector<unsigned char> blob(kvc_compress_bound(&p, &c.shape));
        size_t size = 0;
        ok = ok && kvc_compress(device, &p, &c.shape, keys.get(), kvc_sized::extent(&c.shape),
                                values.get(), kvc_sized::extent(&c.shape), blob.data(), blob.size(),
                                &size, nullptr) == KVC_OK;
        blob.resize(size);
        ok = ok && blob == expected;
        const size_t bytes = decoded.keys.size();
        DeviceBuffer out_keys(bytes), out_values(bytes);
        size_t written = 0;
        ok = ok && kvc_decompress(device, nullptr, blob.data(), blob.size(), out_keys.get(),
                                  out_values.get(), bytes, &written) == KVC_OK;
        ok = ok && out_keys.to_host(bytes) == decoded.keys &&
             out_values.to_host(bytes) == decoded.values;
      }
      same[i] = ok ? 1 : 0;
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(same[i], 1) << "thread " << i;
}

TEST(DeviceContext, TheDeviceDidTheWorkAndFreedItsMemory) {
  if (!emulated()) GTEST_SKIP() << "call counts exist only in the emulated plugin";
  const int64_t quantized = plugin().emulator_count("quantize");
  const int64_t dequantized = plugin().emulator_count("dequantize");
  const int64_t live = plugin().emulator_live();
  {
    const Cache c = kvc_api_test::gaussian_cache(2, 2, 64, 32, KVC_DTYPE_F16, 8);
    expect_same_bytes(c, params(4, 4, 32, 8));
  }
  // Two layers x keys and values in the device compress; four decodes (a scattered decode of a
  // blob without selection decodes on the device too), the last of one layer.
  EXPECT_EQ(plugin().emulator_count("quantize") - quantized, 4);
  EXPECT_EQ(plugin().emulator_count("dequantize") - dequantized, 4 + 4 + 4 + 2);
  EXPECT_EQ(plugin().emulator_live(), live) << "device memory left allocated";

  // A host pointer where device memory belongs is refused, not read.
  const Cache c = kvc_api_test::gaussian_cache(1, 1, 32, 32, KVC_DTYPE_F16, 1);
  const kvc_compress_params p = params(4, 4, 32, 0);
  DeviceContext device;
  std::vector<unsigned char> blob(kvc_compress_bound(&p, &c.shape));
  size_t size = 0;
  EXPECT_EQ(
      kvc_compress(device, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), blob.data(), blob.size(), &size, nullptr),
      KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(kvc_context_last_error(device), "not device memory"));
}

}  // namespace

// Exit code 77 (ctest SKIP_RETURN_CODE) when this machine has no device for the plugin.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (kvc_device_count(KVC_DEVICE_CUDA) == 0) {
    std::printf("skipped: no CUDA device (KVC_CUDA_PLUGIN=%s)\n",
                std::getenv("KVC_CUDA_PLUGIN") ? std::getenv("KVC_CUDA_PLUGIN") : "");
    return 77;
  }
  if (plugin().malloc == nullptr) {
    std::printf("KVC_CUDA_PLUGIN does not name a loadable plugin\n");
    return 1;
  }
  return RUN_ALL_TESTS();
}
