// safetensors_memory_test.cpp: hostile safetensors headers and query files are refused in memory
// far below what they declare and below their own size: nothing is sized before it is checked.
#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "api/api_helpers.h"
#include "reliability/reliability_helpers.h"

namespace {

using kvc_api_test::Context;
using kvc_reliability::measure;
using kvc_reliability::Measured;

// A file of this test process in the test temporary directory, removed when the object dies.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& name)
      : path_(::testing::TempDir() + "/kvc_" + std::to_string(::getpid()) + "_" + name) {}
  ~ScratchFile() { std::remove(path_.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  const std::string& path() const { return path_; }

  // Writes a safetensors file: the 8-byte little-endian header length, the header padded with
  // spaces to a multiple of 8 bytes, then data_bytes zero bytes. Returns the file's size.
  uint64_t write_safetensors(std::string header, uint64_t data_bytes) const {
    header.append((8 - header.size() % 8) % 8, ' ');
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    const uint64_t header_bytes = header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((header_bytes >> (8 * i)) & 0xFF));
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    const std::string zeros(data_bytes, '\0');
    out.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    EXPECT_TRUE(out.good()) << path_;
    return 8 + header.size() + data_bytes;
  }

 private:
  std::string path_;
};

// "[0,0,...,0]" of about target_bytes.
std::string zeros_array(uint64_t target_bytes) {
  std::string text = "[0";
  text.reserve(target_bytes + 2);
  while (text.size() + 2 < target_bytes) text += ",0";
  return text + "]";
}

void expect_message_contains(const Context& ctx, const std::string& fragment) {
  EXPECT_NE(ctx.error().find(fragment), std::string::npos)
      << "message: " << ctx.error() << "\nexpected to contain: " << fragment;
}

// A header of almost the 100 MB limit that is one long array of zeros, at the top, as a tensor's
// shape, or in a field the reader ignores: each used to cost about 22 times the file (2.2 GB)
// before it was refused, because the whole JSON value tree was built first.
TEST(SafetensorsMemory, HundredMegabyteArraysInTheHeaderAreRefusedInUnderOneMebibyte) {
  constexpr uint64_t kArrayBytes = 99'000'000;
  constexpr uint64_t kPeakLimitBytes = uint64_t{1} << 20;
  struct Hostile {
    const char* name;
    std::string prefix, suffix;
    uint64_t data_bytes;
    kvc_status status;
    std::string fragment;
  };
  const Hostile cases[] = {
      {"top-level array", "", "", 0, KVC_ERR_CORRUPT_DATA, "header is a JSON array, not an object"},
      {"shape of a tensor", R"({"layer_0_key":{"dtype":"F16","shape":)",
       R"(,"data_offsets":[0,0]}})", 0, KVC_ERR_CORRUPT_DATA,
       "tensor layer_0_key: shape [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0..."
       " has more than 64 dimensions"},
      {"ignored field of a tensor",
       R"({"layer_0_key":{"dtype":"F16","shape":[1,1,1,1],"data_offsets":[0,2],"x":)", "}}", 2,
       KVC_ERR_INVALID_ARGUMENT, "missing tensor layer_0_value"},
  };
  for (const Hostile& c : cases) {
    SCOPED_TRACE(c.name);
    const ScratchFile file("hostile_header.safetensors");
    const uint64_t file_bytes =
        file.write_safetensors(c.prefix + zeros_array(kArrayBytes) + c.suffix, c.data_bytes);
    Context ctx;
    kvc_cache* cache = nullptr;
    const Measured m = measure([&] { return kvc_cache_load(ctx, file.path().c_str(), &cache); });
    std::printf("[ header   ] %-28s file %9llu B  peak %9llu B  x%.4f\n", c.name,
                static_cast<unsigned long long>(file_bytes),
                static_cast<unsigned long long>(m.peak), double(m.peak) / double(file_bytes));
    EXPECT_EQ(m.status, c.status) << kvc_status_name(m.status) << ": " << ctx.error();
    EXPECT_EQ(cache, nullptr);
    expect_message_contains(ctx, c.fragment);
    EXPECT_LE(m.peak, kPeakLimitBytes);
    kvc_cache_free(cache);
  }
}

// A query file of one 128 KiB tensor and 4,095 empty ones: the loader sized its buffer as the
// tensor count times the first tensor's size (512 MiB) before it compared the others with it.
TEST(SafetensorsMemory, QueryFileOfOneLargeAndManyEmptyTensorsIsRefusedBeforeAllocating) {
  constexpr uint64_t kFirstBytes = 512 * 64 * 4;  // [1, 1, 512, 64] x F32
  constexpr int kTensors = 4096;
  std::string header =
      R"({"layer_0_query":{"dtype":"F32","shape":[1,1,512,64],"data_offsets":[0,)" +
      std::to_string(kFirstBytes) + "]}";
  for (int i = 1; i < kTensors; ++i) {
    header += ",\"layer_" + std::to_string(i) + R"(_query":{"dtype":"F32","shape":[0],)" +
              "\"data_offsets\":[" + std::to_string(kFirstBytes) + "," +
              std::to_string(kFirstBytes) + "]}";
  }
  header += "}";
  const ScratchFile file("hostile_queries.safetensors");
  const uint64_t file_bytes = file.write_safetensors(header, kFirstBytes);
  Context ctx;
  kvc_query_file* queries = nullptr;
  const Measured m =
      measure([&] { return kvc_query_file_load(ctx, file.path().c_str(), &queries); });
  std::printf("[ queries  ] file %llu B  peak %llu B  x%.3f\n",
              static_cast<unsigned long long>(file_bytes), static_cast<unsigned long long>(m.peak),
              double(m.peak) / double(file_bytes));
  EXPECT_EQ(m.status, KVC_ERR_INVALID_ARGUMENT) << kvc_status_name(m.status) << ": " << ctx.error();
  EXPECT_EQ(queries, nullptr);
  expect_message_contains(ctx,
                          "tensor layer_1_query: shape [0] differs from layer_0_query's "
                          "[1,1,512,64]");
  // The tensor table costs a few times the header; the declared 512 MiB is never asked for.
  EXPECT_LE(m.peak, 2 * file_bytes);
  kvc_query_file_free(queries);
}

}  // namespace
