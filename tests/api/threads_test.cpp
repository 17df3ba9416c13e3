// threads_test.cpp: 8 threads, each with its own context, compress and decompress at once while
// sharing one loaded kvc_cache and the adapter registry; every output equals a one-thread run.
// A context used from two threads at once gets KVC_ERR_BUSY. scripts/test_tsan.sh runs these
// under ThreadSanitizer.
#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../sized_buffers.h"
#include "api/api_helpers.h"

namespace {

using kvc_api_test::Context;

constexpr int kThreads = 8;
constexpr int kRounds = 3;

struct Outcome {
  std::vector<unsigned char> blob;
  kvc_api_test::Decoded decoded;
  kvc_adapter_info adapter{};
};

// One thread's work: settings picked by index, over the shared cache.
Outcome work(kvc_context* ctx, const kvc_cache* cache, int index) {
  kvc_cache_shape shape;
  kvc_cache_shape_default(&shape, sizeof shape);
  Outcome o;
  if (kvc_cache_get_shape(cache, &shape) != KVC_OK) return o;
  const int bits[] = {2, 3, 4, 8, 16};
  kvc_compress_params p =
      kvc_api_test::params(bits[index % 5], bits[(index + 2) % 5], 32 << (index % 3), index);
  p.byte_shuffle = index % 3;
  std::vector<unsigned char> blob(kvc_compress_bound(&p, &shape));
  size_t size = 0;
  if (kvc_compress(ctx, &p, &shape, kvc_cache_keys(cache), kvc_sized::extent(&shape),
                   kvc_cache_values(cache), kvc_sized::extent(&shape), blob.data(), blob.size(),
                   &size, nullptr) != KVC_OK) {
    return o;
  }
  blob.resize(size);
  kvc_decompress_params dp;
  kvc_decompress_params_default(&dp, sizeof dp);
  dp.dtype = index % 2 ? KVC_DTYPE_F32 : KVC_DTYPE_AS_STORED;
  size_t needed = 0;
  kvc_decompress(ctx, &dp, blob.data(), blob.size(), nullptr, nullptr, 0, &needed);
  o.decoded.keys.resize(needed);
  o.decoded.values.resize(needed);
  if (kvc_decompress(ctx, &dp, blob.data(), blob.size(), o.decoded.keys.data(),
                     o.decoded.values.data(), needed, &needed) != KVC_OK ||
      kvc_verify(ctx, blob.data(), blob.size()) != KVC_OK) {
    return o;
  }
  o.blob = std::move(blob);
  const kvc_adapter* adapter = nullptr;
  o.adapter.struct_size = sizeof o.adapter;
  if (kvc_adapter_get(static_cast<uint32_t>(index) % kvc_adapter_count(), &adapter) == KVC_OK) {
    kvc_adapter_get_info(adapter, &o.adapter);
  }
  return o;
}

TEST(Threads, SeparateContextsSharingACacheMatchASingleThreadRun) {
  Context setup;
  const kvc_api_test::Cache c = kvc_api_test::gaussian_cache(2, 2, 96, 64, KVC_DTYPE_F16, 4);
  const std::string path =
      ::testing::TempDir() + "/kvc_threads_" + std::to_string(getpid()) + ".safetensors";
  ASSERT_EQ(kvc_cache_save(setup, path.c_str(), &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                           c.values.data(), kvc_sized::nbytes(c.values), "t"),
            KVC_OK);
  kvc_cache* cache = nullptr;
  ASSERT_EQ(kvc_cache_load(setup, path.c_str(), &cache), KVC_OK);

  std::vector<Outcome> expected;
  for (int i = 0; i < kThreads; ++i) {
    expected.push_back(work(setup, cache, i));
    ASSERT_FALSE(expected.back().blob.empty()) << "thread " << i << " settings fail alone";
  }

  std::vector<std::vector<Outcome>> got(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      kvc_context* ctx = nullptr;
      if (kvc_context_create(nullptr, &ctx, nullptr, 0) != KVC_OK) return;
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();  // start together
      for (int r = 0; r < kRounds; ++r) got[i].push_back(work(ctx, cache, i));
      const kvc_adapter* found = nullptr;
      kvc_adapter_find("llama-3-8b", &found);
      kvc_context_free(ctx);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_EQ(got[i].size(), size_t{kRounds}) << "thread " << i << " could not make a context";
    for (const Outcome& o : got[i]) {
      EXPECT_EQ(o.blob, expected[i].blob) << "thread " << i;
      EXPECT_EQ(o.decoded.keys, expected[i].decoded.keys) << "thread " << i;
      EXPECT_EQ(o.decoded.values, expected[i].decoded.values) << "thread " << i;
      EXPECT_EQ(std::memcmp(&o.adapter, &expected[i].adapter, sizeof o.adapter), 0);
    }
  }
  kvc_cache_free(cache);
  std::remove(path.c_str());
  std::remove((path.substr(0, path.size() - 12) + ".metadata.json").c_str());
}

}  // namespace

// One context used from two threads at once (not allowed, and done anyway): the second call gets
// KVC_ERR_BUSY and leaves the first call's work and message alone. Thread A is held inside its
// call by its progress callback until thread B has made its own.
struct HeldCall {
  std::atomic<bool> inside{false};
  std::atomic<bool> released{false};
};

void hold(void* user_data, uint64_t, uint64_t) {
  auto* h = static_cast<HeldCall*>(user_data);
  h->inside.store(true);
  while (!h->released.load()) std::this_thread::yield();
}

TEST(Threads, ACallOnAContextBusyInAnotherThreadIsRefusedAndChangesNothing) {
  Context ctx;
  const kvc_api_test::Cache c = kvc_api_test::gaussian_cache(2, 2, 64, 64);
  const kvc_compress_params p = kvc_api_test::params();
  const std::vector<unsigned char> expected = kvc_api_test::compress(ctx, p, c);
  HeldCall held;
  ASSERT_EQ(kvc_context_set_progress(ctx, hold, &held), KVC_OK);
  std::vector<unsigned char> blob(kvc_compress_bound(&p, &c.shape));
  size_t size = 0;
  kvc_status first = KVC_ERR_INTERNAL;
  std::thread a([&] {
    first =
        kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                     kvc_sized::nbytes(c.values), blob.data(), blob.size(), &size, nullptr);
  });
  while (!held.inside.load()) std::this_thread::yield();
  std::vector<unsigned char> other(blob.size());
  size_t other_size = 0;
  const kvc_status second =
      kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), other.data(), other.size(), &other_size, nullptr);
  const kvc_status third = kvc_verify(ctx, expected.data(), expected.size());
  held.released.store(true);
  a.join();
  EXPECT_EQ(second, KVC_ERR_BUSY);
  EXPECT_EQ(third, KVC_ERR_BUSY);
  EXPECT_EQ(other_size, 0u);  // nothing written
  ASSERT_EQ(first, KVC_OK) << ctx.error();
  blob.resize(size);
  EXPECT_EQ(blob, expected);
  EXPECT_EQ(ctx.error(), "");
}
