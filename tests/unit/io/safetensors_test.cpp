// safetensors_test.cpp: round trips, sidecar handling and every rejection rule of io/safetensors.
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/cache_view.h"
#include "core/dtype.h"
#include "core/error.h"
#include "unit/io/scratch_directory.h"

namespace kvc::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

// ---- Files --------------------------------------------------------------------------------

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string length_field(uint64_t header_bytes) {
  std::string field(8, '\0');
  for (int i = 0; i < 8; ++i) field[i] = static_cast<char>((header_bytes >> (8 * i)) & 0xFF);
  return field;
}

// Bytes whose value tells their position, so misplaced data shows.
std::string pattern_bytes(uint64_t size_bytes) {
  std::string data(size_bytes, '\0');
  for (uint64_t i = 0; i < size_bytes; ++i) data[i] = static_cast<char>((i * 7 + i / 251) & 0xFF);
  return data;
}

// A safetensors file: length field, header text as given, then buffer_bytes of pattern data.
void write_safetensors(const std::string& path, const std::string& header_text,
                       uint64_t buffer_bytes) {
  write_text(path, length_field(header_text.size()) + header_text + pattern_bytes(buffer_bytes));
}

ordered_json tensor_entry(const std::string& dtype, const std::vector<uint64_t>& shape,
                          uint64_t begin, uint64_t end) {
  return {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, end}}};
}

// Header of a well-formed cache, tensors packed in the order layer_0_key, layer_0_value, ...
ordered_json cache_header(uint32_t num_layers, const std::vector<uint64_t>& shape,
                          const std::string& dtype, uint64_t element_bytes,
                          uint64_t* buffer_bytes) {
  uint64_t tensor_bytes = element_bytes;
  for (const uint64_t d : shape) tensor_bytes *= d;
  ordered_json header = ordered_json::object();
  uint64_t offset = 0;
  for (uint32_t l = 0; l < num_layers; ++l) {
    for (const char* kind : {"_key", "_value"}) {
      header["layer_" + std::to_string(l) + kind] =
          tensor_entry(dtype, shape, offset, offset + tensor_bytes);
      offset += tensor_bytes;
    }
  }
  *buffer_bytes = offset;
  return header;
}

// Tests with a scratch directory, removed with everything in it when the test ends.
class Safetensors : public ::testing::Test {
 protected:
  std::string file(const std::string& name) const { return scratch_.file(name); }
  std::vector<std::string> names() const { return scratch_.names(); }

  // Writes a header (plus pattern data) to cache.safetensors and returns its path.
  std::string write_cache(const ordered_json& header, uint64_t buffer_bytes) {
    std::string path = file("cache.safetensors");
    write_safetensors(path, header.dump(), buffer_bytes);
    return path;
  }

  kvc_test::ScratchDirectory scratch_{"kvc_safetensors_test"};
};

// Loads path and checks that it fails with code and a message containing fragment.
void expect_load_error(const std::string& path, kvc_status code, const std::string& fragment) {
  try {
    (void)load_kv_safetensors(path);
    ADD_FAILURE() << "loading " << path << " succeeded; expected \"" << fragment << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << fragment;
    EXPECT_EQ(std::string(e.what()).rfind(path, 0), 0u) << "message does not start with the path";
  }
}

// ---- Caches in memory ---------------------------------------------------------------------

// A cache in caller memory, one buffer per layer and tensor, with optional padding between
// tokens and heads (filled with a sentinel that must never reach the file).
struct TestCache {
  CacheDims dims;
  uint64_t head_stride = 0;
  uint64_t token_stride = 0;
  std::vector<std::vector<unsigned char>> keys, values;

  CacheView view() const {
    CacheView v;
    v.dims = dims;
    v.head_stride = head_stride;
    v.token_stride = token_stride;
    for (uint32_t l = 0; l < dims.num_layers; ++l) {
      v.keys.push_back(keys[l].data());
      v.values.push_back(values[l].data());
    }
    return v;
  }

  // The layers of keys or values packed [layer][head][token][dim].
  std::vector<unsigned char> packed(bool of_keys) const {
    const size_t element_bytes = dtype_size(dims.dtype);
    std::vector<unsigned char> out;
    for (uint32_t l = 0; l < dims.num_layers; ++l) {
      const auto& src = of_keys ? keys[l] : values[l];
      for (uint32_t h = 0; h < dims.num_kv_heads; ++h) {
        for (uint32_t t = 0; t < dims.num_tokens; ++t) {
          const auto* row = src.data() + (h * head_stride + t * token_stride) * element_bytes;
          out.insert(out.end(), row, row + dims.head_dim * element_bytes);
        }
      }
    }
    return out;
  }
};

TestCache make_cache(DType dtype, uint32_t num_layers, uint32_t num_kv_heads, uint32_t num_tokens,
                     uint32_t head_dim, uint32_t token_padding = 0, uint32_t head_padding = 0) {
  TestCache c;
  c.dims = {num_layers, num_kv_heads, num_tokens, head_dim, dtype};
  c.token_stride = head_dim + token_padding;
  c.head_stride = c.token_stride * num_tokens + head_padding;
  const uint64_t elements = c.head_stride * num_kv_heads;
  uint32_t state = 12345;
  auto next_value = [&state] {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(static_cast<int32_t>(state >> 8) - (1 << 23)) / float(1 << 21);
  };
  for (uint32_t l = 0; l < num_layers; ++l) {
    for (auto* layers : {&c.keys, &c.values}) {
      std::vector<unsigned char> buffer(elements * dtype_size(dtype));
      for (uint64_t i = 0; i < elements; ++i) store_from_f32(buffer.data(), dtype, i, 1e30f);
      for (uint32_t h = 0; h < num_kv_heads; ++h) {
        for (uint32_t t = 0; t < num_tokens; ++t) {
          for (uint32_t d = 0; d < head_dim; ++d) {
            store_from_f32(buffer.data(), dtype, h * c.head_stride + t * c.token_stride + d,
                           next_value());
          }
        }
      }
      layers->push_back(std::move(buffer));
    }
  }
  return c;
}

void expect_same_cache(const KvCacheFile& loaded, const TestCache& expected) {
  EXPECT_EQ(loaded.dims.num_layers, expected.dims.num_layers);
  EXPECT_EQ(loaded.dims.num_kv_heads, expected.dims.num_kv_heads);
  EXPECT_EQ(loaded.dims.num_tokens, expected.dims.num_tokens);
  EXPECT_EQ(loaded.dims.head_dim, expected.dims.head_dim);
  EXPECT_EQ(loaded.dims.dtype, expected.dims.dtype);
  EXPECT_TRUE(loaded.keys == expected.packed(true)) << "keys differ";
  EXPECT_TRUE(loaded.values == expected.packed(false)) << "values differ";
}

// ---- Round trips --------------------------------------------------------------------------

TEST_F(Safetensors, RoundTripsPackedFp16CacheExactly) {
  const TestCache cache = make_cache(DType::F16, 3, 2, 5, 8);
  save_kv_safetensors(file("cache.safetensors"), cache.view(), "stories260K");
  const KvCacheFile loaded = load_kv_safetensors(file("cache.safetensors"));
  expect_same_cache(loaded, cache);
  EXPECT_EQ(loaded.model_name, "stories260K");
}

TEST_F(Safetensors, RoundTripsBf16CacheExactly) {
  const TestCache cache = make_cache(DType::BF16, 2, 3, 7, 4);
  save_kv_safetensors(file("cache.safetensors"), cache.view(), "m");
  expect_same_cache(load_kv_safetensors(file("cache.safetensors")), cache);
}

TEST_F(Safetensors, RoundTripsFp32CacheExactly) {
  const TestCache cache = make_cache(DType::F32, 4, 1, 3, 16);
  save_kv_safetensors(file("cache.safetensors"), cache.view(), "");
  const KvCacheFile loaded = load_kv_safetensors(file("cache.safetensors"));
  expect_same_cache(loaded, cache);
  EXPECT_EQ(loaded.model_name, "");
}

TEST_F(Safetensors, RoundTripsStridedFp16CacheExactly) {
  const TestCache cache = make_cache(DType::F16, 2, 3, 6, 5, /*token_padding=*/3,
                                     /*head_padding=*/7);
  save_kv_safetensors(file("cache.safetensors"), cache.view(), "strided");
  const KvCacheFile loaded = load_kv_safetensors(file("cache.safetensors"));
  expect_same_cache(loaded, cache);
  // Padding holds 1e30 (infinity in fp16); none of it may reach the file.
  for (size_t i = 0; i < loaded.keys.size() / 2; ++i) {
    ASSERT_TRUE(std::isfinite(load_as_f32(loaded.keys.data(), DType::F16, i))) << i;
    ASSERT_TRUE(std::isfinite(load_as_f32(loaded.values.data(), DType::F16, i))) << i;
  }
}

TEST_F(Safetensors, WritesAlignedHeaderWithBatchedShapesAndStringMetadata) {
  const TestCache cache = make_cache(DType::F16, 2, 2, 3, 3);  // 36-byte tensors
  const std::string path = file("cache.safetensors");
  save_kv_safetensors(path, cache.view(), "tiny");
  const std::string bytes = read_text(path);
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data(), 8);
  EXPECT_EQ((8 + header_bytes) % 8, 0u);
  const json header = json::parse(bytes.substr(8, header_bytes));
  EXPECT_EQ(header["layer_0_key"]["dtype"], "F16");
  EXPECT_EQ(header["layer_0_key"]["shape"], json({1, 2, 3, 3}));
  EXPECT_EQ(header["layer_0_key"]["data_offsets"], json({0, 36}));
  EXPECT_EQ(header["layer_0_value"]["data_offsets"], json({36, 72}));
  EXPECT_EQ(header["layer_1_value"]["data_offsets"], json({108, 144}));
  EXPECT_EQ(bytes.size(), 8 + header_bytes + 144);
  const json expected_metadata = {{"num_layers", "2"},  {"num_kv_heads", "2"},
                                  {"seq_len", "3"},     {"head_dim", "3"},
                                  {"dtype", "float16"}, {"model_name", "tiny"}};
  EXPECT_EQ(header["__metadata__"], expected_metadata);
}

TEST_F(Safetensors, WritesSidecarWithDimensionsDtypeAndModelName) {
  const TestCache cache = make_cache(DType::BF16, 5, 4, 9, 8);
  save_kv_safetensors(file("cache.safetensors"), cache.view(), "stories260K");
  const json sidecar = json::parse(read_text(file("cache.metadata.json")));
  const json expected = {{"num_layers", 5}, {"num_kv_heads", 4},   {"seq_len", 9},
                         {"head_dim", 8},   {"dtype", "bfloat16"}, {"model_name", "stories260K"}};
  EXPECT_EQ(sidecar, expected);
}

TEST_F(Safetensors, SidecarPathReplacesSafetensorsSuffixOrAppends) {
  EXPECT_EQ(metadata_sidecar_path("dir/cache.safetensors"), "dir/cache.metadata.json");
  EXPECT_EQ(metadata_sidecar_path("/a/b.c.safetensors"), "/a/b.c.metadata.json");
  EXPECT_EQ(metadata_sidecar_path("dir/cache.bin"), "dir/cache.bin.metadata.json");
  EXPECT_EQ(metadata_sidecar_path("cache"), "cache.metadata.json");
  EXPECT_EQ(metadata_sidecar_path("cache.safetensors.bak"), "cache.safetensors.bak.metadata.json");
}

TEST_F(Safetensors, SavingTwiceReplacesBothFilesAndLeavesNoTemporaryFiles) {
  const std::string path = file("cache.safetensors");
  save_kv_safetensors(path, make_cache(DType::F32, 1, 1, 2, 2).view(), "old");
  const TestCache cache = make_cache(DType::F16, 2, 2, 4, 4);
  save_kv_safetensors(path, cache.view(), "new");
  const KvCacheFile loaded = load_kv_safetensors(path);
  expect_same_cache(loaded, cache);
  EXPECT_EQ(loaded.model_name, "new");
  EXPECT_EQ(names(), (std::vector<std::string>{"cache.metadata.json", "cache.safetensors"}));
}

TEST_F(Safetensors, SaveIntoMissingDirectoryThrowsIoErrorAndLeavesNoTemporaryFile) {
  const std::string path = file("missing/cache.safetensors");
  try {
    save_kv_safetensors(path, make_cache(DType::F16, 1, 1, 1, 1).view(), "");
    ADD_FAILURE() << "saving into a missing directory succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), KVC_ERR_IO);
    EXPECT_EQ(std::string(e.what()), path + ": No such file or directory");
  }
  EXPECT_TRUE(names().empty());
}

TEST_F(Safetensors, SaveRejectsViewWhoseLayerPointersDoNotMatchItsDims) {
  CacheView view = make_cache(DType::F16, 2, 1, 1, 1).view();
  view.values.pop_back();
  try {
    save_kv_safetensors(file("cache.safetensors"), view, "");
    ADD_FAILURE() << "saving a broken view succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), KVC_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("1 value pointers for num_layers 2"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(names().empty());
}

// Threads of one process saving to one path: every save succeeds, and the pair left behind is
// one thread's whole cache and its own sidecar (the tester saw half of 2,400 saves fail with
// ENOENT when all threads shared the temporary name "<path>.tmp.<pid>").
TEST_F(Safetensors, ConcurrentSavesToOnePathAllSucceedAndLeaveOneMatchingPair) {
  constexpr int kThreads = 8;
  constexpr int kSavesPerThread = 25;
  const std::string path = file("cache.safetensors");
  std::vector<TestCache> caches;
  for (int t = 0; t < kThreads; ++t) {
    caches.push_back(make_cache(DType::F16, 1 + t % 3, 2, 3 + t, 4));  // dims differ per thread
  }
  std::atomic<int> failures{0};
  std::vector<std::string> first_failure(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSavesPerThread; ++i) {
        try {
          save_kv_safetensors(path, caches[t].view(), "thread " + std::to_string(t));
        } catch (const Error& e) {
          if (failures++ == 0) first_failure[t] = e.what();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::string failure_text;
  for (const std::string& text : first_failure) failure_text += text;
  EXPECT_EQ(failures.load(), 0) << "of " << kThreads * kSavesPerThread
                                << " saves; first: " << failure_text;
  const KvCacheFile loaded = load_kv_safetensors(path);  // the sidecar agrees with the tensors
  ASSERT_TRUE(loaded.model_name.starts_with("thread ")) << loaded.model_name;
  const int winner = std::stoi(loaded.model_name.substr(7));
  ASSERT_TRUE(winner >= 0 && winner < kThreads) << loaded.model_name;
  expect_same_cache(loaded, caches[winner]);
  EXPECT_EQ(names(), (std::vector<std::string>{"cache.metadata.json", "cache.safetensors"}));
}

// A 250-byte name is legal (NAME_MAX is 255); its temporary file must be legal too.
TEST_F(Safetensors, SavesAndLoadsACacheWhoseFileNameIs250BytesLong) {
  const std::string name = std::string(238, 'c') + ".safetensors";
  ASSERT_EQ(name.size(), 250u);
  const TestCache cache = make_cache(DType::F16, 2, 1, 3, 4);
  save_kv_safetensors(file(name), cache.view(), "long");
  const KvCacheFile loaded = load_kv_safetensors(file(name));
  expect_same_cache(loaded, cache);
  EXPECT_EQ(loaded.model_name, "long");
  EXPECT_EQ(names(), (std::vector<std::string>{std::string(238, 'c') + ".metadata.json", name}));
}

// ---- Metadata sources ---------------------------------------------------------------------

TEST_F(Safetensors, ReadsFileWithoutSidecarFromHeaderMetadata) {
  const TestCache cache = make_cache(DType::F16, 2, 2, 3, 4);
  save_kv_safetensors(file("cache.safetensors"), cache.view(), "from-header");
  fs::remove(file("cache.metadata.json"));
  const KvCacheFile loaded = load_kv_safetensors(file("cache.safetensors"));
  expect_same_cache(loaded, cache);
  EXPECT_EQ(loaded.model_name, "from-header");
}

TEST_F(Safetensors, PrefersSidecarOverHeaderMetadata) {
  save_kv_safetensors(file("cache.safetensors"), make_cache(DType::F16, 1, 1, 2, 2).view(),
                      "from-header");
  write_text(file("cache.metadata.json"), R"({"num_layers": 1, "model_name": "from-sidecar"})");
  EXPECT_EQ(load_kv_safetensors(file("cache.safetensors")).model_name, "from-sidecar");
}

TEST_F(Safetensors, InfersDimensionsFromTensorsWithoutAnyMetadata) {
  uint64_t buffer_bytes = 0;
  const ordered_json header = cache_header(3, {1, 2, 5, 4}, "F32", 4, &buffer_bytes);
  const std::string path = write_cache(header, buffer_bytes);
  const KvCacheFile loaded = load_kv_safetensors(path);
  EXPECT_EQ(loaded.dims.num_layers, 3u);
  EXPECT_EQ(loaded.dims.num_kv_heads, 2u);
  EXPECT_EQ(loaded.dims.num_tokens, 5u);
  EXPECT_EQ(loaded.dims.head_dim, 4u);
  EXPECT_EQ(loaded.dims.dtype, DType::F32);
  EXPECT_EQ(loaded.model_name, "");
  const std::string data = pattern_bytes(buffer_bytes);
  const uint64_t tensor_bytes = buffer_bytes / 6;
  EXPECT_EQ(0, std::memcmp(loaded.keys.data() + 2 * tensor_bytes, data.data() + 4 * tensor_bytes,
                           tensor_bytes));
  EXPECT_EQ(0, std::memcmp(loaded.values.data(), data.data() + tensor_bytes, tensor_bytes));
}

TEST_F(Safetensors, AcceptsThreeDimensionalShapes) {
  uint64_t buffer_bytes = 0;
  const ordered_json header = cache_header(2, {4, 3, 8}, "BF16", 2, &buffer_bytes);
  const std::string path = write_cache(header, buffer_bytes);
  const KvCacheFile loaded = load_kv_safetensors(path);
  EXPECT_EQ(loaded.dims.num_layers, 2u);
  EXPECT_EQ(loaded.dims.num_kv_heads, 4u);
  EXPECT_EQ(loaded.dims.num_tokens, 3u);
  EXPECT_EQ(loaded.dims.head_dim, 8u);
  EXPECT_EQ(loaded.dims.dtype, DType::BF16);
  EXPECT_EQ(loaded.keys.size(), 2u * 4 * 3 * 8 * 2);
}

TEST_F(Safetensors, PlacesTensorsByNameWhateverTheirOrderInTheFile) {
  const ordered_json header = {
      {"layer_1_value", tensor_entry("F16", {1, 1, 1, 2}, 0, 4)},
      {"layer_0_key", tensor_entry("F16", {1, 1, 1, 2}, 4, 8)},
      {"layer_1_key", tensor_entry("F16", {1, 1, 1, 2}, 8, 12)},
      {"layer_0_value", tensor_entry("F16", {1, 1, 1, 2}, 12, 16)},
  };
  const KvCacheFile loaded = load_kv_safetensors(write_cache(header, 16));
  const std::string data = pattern_bytes(16);
  EXPECT_EQ(std::string(loaded.keys.begin(), loaded.keys.end()),
            data.substr(4, 4) + data.substr(8, 4));
  EXPECT_EQ(std::string(loaded.values.begin(), loaded.values.end()),
            data.substr(12, 4) + data.substr(0, 4));
}

TEST_F(Safetensors, AcceptsSidecarWithoutModelNameOrSomeFields) {
  save_kv_safetensors(file("cache.safetensors"), make_cache(DType::F16, 1, 2, 2, 2).view(), "x");
  write_text(file("cache.metadata.json"), R"({"num_kv_heads": 2, "dtype": "float16"})");
  EXPECT_EQ(load_kv_safetensors(file("cache.safetensors")).model_name, "");
}

TEST_F(Safetensors, RejectsSidecarThatDisagreesWithTensors) {
  save_kv_safetensors(file("cache.safetensors"), make_cache(DType::F16, 2, 4, 3, 8).view(), "");
  write_text(file("cache.metadata.json"),
             R"({"num_layers": 2, "num_kv_heads": 8, "seq_len": 3, "head_dim": 8})");
  expect_load_error(file("cache.safetensors"), KVC_ERR_INVALID_ARGUMENT,
                    "cache.metadata.json: num_kv_heads 8 does not match the tensors' 4");
}

TEST_F(Safetensors, RejectsHeaderMetadataThatDisagreesWithTensors) {
  uint64_t buffer_bytes = 0;
  ordered_json header = cache_header(1, {1, 1, 2, 2}, "F16", 2, &buffer_bytes);
  header["__metadata__"] = {{"dtype", "float32"}, {"seq_len", "2"}};
  expect_load_error(write_cache(header, buffer_bytes), KVC_ERR_INVALID_ARGUMENT,
                    "__metadata__: dtype \"float32\" does not match the tensors' float16");
}

TEST_F(Safetensors, RejectsMetadataCountThatIsNotAnInteger) {
  uint64_t buffer_bytes = 0;
  ordered_json header = cache_header(1, {1, 1, 2, 2}, "F16", 2, &buffer_bytes);
  header["__metadata__"] = {{"seq_len", "two"}};
  expect_load_error(write_cache(header, buffer_bytes), KVC_ERR_CORRUPT_DATA,
                    "__metadata__: seq_len \"two\" is not a non-negative integer");
}

TEST_F(Safetensors, RejectsMalformedSidecar) {
  save_kv_safetensors(file("cache.safetensors"), make_cache(DType::F16, 1, 1, 1, 1).view(), "");
  write_text(file("cache.metadata.json"), R"({"num_layers": 1,)");
  try {
    (void)load_kv_safetensors(file("cache.safetensors"));
    ADD_FAILURE() << "loaded a cache with a malformed sidecar";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), KVC_ERR_CORRUPT_DATA);
    EXPECT_EQ(
        std::string(e.what()).rfind(file("cache.metadata.json") + ": sidecar is not valid JSON", 0),
        0u)
        << e.what();
  }
}

// ---- The safetensors rules ----------------------------------------------------------------

TEST_F(Safetensors, ReportsMissingFileAsIoError) {
  expect_load_error(file("absent.safetensors"), KVC_ERR_IO, ": No such file or directory");
}

TEST_F(Safetensors, ReportsDirectoryAsIoError) {
  fs::create_directory(file("dir.safetensors"));
  expect_load_error(file("dir.safetensors"), KVC_ERR_IO, ": Is a directory");
}

TEST_F(Safetensors, RejectsFileShorterThanTheLengthField) {
  write_text(file("cache.safetensors"), std::string("\x10\x00\x00", 3));
  expect_load_error(file("cache.safetensors"), KVC_ERR_CORRUPT_DATA,
                    "file is 3 bytes, too short for the 8-byte header length");
}

TEST_F(Safetensors, RejectsHugeDeclaredHeaderLength) {
  write_text(file("cache.safetensors"), length_field(uint64_t{1} << 62) + "{}");
  expect_load_error(file("cache.safetensors"), KVC_ERR_CORRUPT_DATA,
                    "header length 4611686018427387904 exceeds the 100000000-byte limit");
}

TEST_F(Safetensors, RejectsHeaderLengthJustAboveTheHundredMegabyteLimit) {
  write_text(file("cache.safetensors"), length_field(100'000'001) + "{}");
  expect_load_error(file("cache.safetensors"), KVC_ERR_CORRUPT_DATA,
                    "header length 100000001 exceeds the 100000000-byte limit");
}

TEST_F(Safetensors, RejectsHeaderLengthPastTheEndOfTheFile) {
  write_text(file("cache.safetensors"), length_field(64) + "{}      ");
  expect_load_error(file("cache.safetensors"), KVC_ERR_CORRUPT_DATA,
                    "header length 64 runs past the end of the file (8 bytes follow");
}

TEST_F(Safetensors, RejectsHeaderThatIsNotJson) {
  write_safetensors(file("cache.safetensors"), "{\"layer_0_key\": ", 0);
  expect_load_error(file("cache.safetensors"), KVC_ERR_CORRUPT_DATA, "header is not valid JSON");
}

TEST_F(Safetensors, RejectsHeaderThatIsNotAJsonObject) {
  write_safetensors(file("cache.safetensors"), "[1, 2]  ", 0);
  expect_load_error(file("cache.safetensors"), KVC_ERR_CORRUPT_DATA,
                    "header is a JSON array, not an object");
}

TEST_F(Safetensors, RejectsDuplicateTensorNames) {
  const std::string entry = R"({"dtype": "F16", "shape": [1, 1, 1, 1], "data_offsets": [0, 2]})";
  const std::string second = R"({"dtype": "F16", "shape": [1, 1, 1, 1], "data_offsets": [2, 4]})";
  write_safetensors(file("cache.safetensors"),
                    "{\"layer_0_key\": " + entry + ", \"layer_0_key\": " + second + "}", 4);
  expect_load_error(file("cache.safetensors"), KVC_ERR_CORRUPT_DATA,
                    "header has duplicate key \"layer_0_key\"");
}

TEST_F(Safetensors, RejectsDuplicateFieldsInsideATensorEntry) {
  write_safetensors(
      file("cache.safetensors"),
      R"({"layer_0_key": {"dtype": "F16", "dtype": "F32", "shape": [1], "data_offsets": [0, 2]}})",
      2);
  expect_load_error(file("cache.safetensors"), KVC_ERR_CORRUPT_DATA,
                    "header has duplicate key \"dtype\" in \"layer_0_key\"");
}

TEST_F(Safetensors, RejectsNestingDeeperThanTheReferenceReader) {
  // serde_json (the reference reader) stops at 128 levels; a deeper unknown field is refused
  // before anything is built from it.
  const std::string deep = std::string(200, '[') + std::string(200, ']');
  write_safetensors(
      file("cache.safetensors"),
      R"({"layer_0_key": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2], "x": )" + deep +
          "}}",
      2);
  expect_load_error(file("cache.safetensors"), KVC_ERR_CORRUPT_DATA,
                    "header nests arrays and objects deeper than 128 levels");
}

TEST_F(Safetensors, IgnoresUnknownFieldsOfAnEntry) {
  write_safetensors(file("cache.safetensors"),
                    R"({"layer_0_key": {"dtype": "F16", "extra": {"a": [1, {"b": null}]},
                        "shape": [1, 1, 1, 1], "data_offsets": [0, 2]},
                        "layer_0_value": {"dtype": "F16", "shape": [1, 1, 1, 1],
                        "data_offsets": [2, 4]}})",
                    4);
  const KvCacheFile cache = load_kv_safetensors(file("cache.safetensors"));
  EXPECT_EQ(cache.dims.num_layers, 1u);
  EXPECT_EQ(cache.dims.head_dim, 1u);
}

TEST_F(Safetensors, RejectsEntryThatIsNotAnObject) {
  expect_load_error(write_cache({{"layer_0_key", {1, 2}}}, 0), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: entry is [1,2], not an object");
}

TEST_F(Safetensors, RejectsEntryWithoutDtype) {
  const ordered_json header = {{"layer_0_key", {{"shape", {1}}, {"data_offsets", {0, 2}}}}};
  expect_load_error(write_cache(header, 2), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: dtype is missing");
}

TEST_F(Safetensors, RejectsDtypeThatIsNotAString) {
  ordered_json header = {{"layer_0_key", tensor_entry("F16", {1}, 0, 2)}};
  header["layer_0_key"]["dtype"] = 16;
  expect_load_error(write_cache(header, 2), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: dtype 16 is not a string");
}

TEST_F(Safetensors, RejectsUnknownDtype) {
  const ordered_json header = {{"layer_0_key", tensor_entry("F17", {1}, 0, 2)}};
  expect_load_error(write_cache(header, 2), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: unknown dtype \"F17\"");
}

TEST_F(Safetensors, RejectsEntryWithoutShape) {
  const ordered_json header = {{"layer_0_key", {{"dtype", "F16"}, {"data_offsets", {0, 2}}}}};
  expect_load_error(write_cache(header, 2), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: shape is missing");
}

TEST_F(Safetensors, RejectsShapeWithNegativeDimension) {
  ordered_json header = {{"layer_0_key", tensor_entry("F16", {1}, 0, 2)}};
  header["layer_0_key"]["shape"] = {1, -1};
  expect_load_error(write_cache(header, 2), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: shape [1,-1] is not an array of non-negative integers");
}

TEST_F(Safetensors, RejectsShapeThatIsNotAnArray) {
  ordered_json header = {{"layer_0_key", tensor_entry("F16", {1}, 0, 2)}};
  header["layer_0_key"]["shape"] = "1x1";
  expect_load_error(write_cache(header, 2), KVC_ERR_CORRUPT_DATA,
                    "shape \"1x1\" is not an array of non-negative integers");
}

TEST_F(Safetensors, RejectsEntryWithoutDataOffsets) {
  const ordered_json header = {{"layer_0_key", {{"dtype", "F16"}, {"shape", {1}}}}};
  expect_load_error(write_cache(header, 2), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: data_offsets is missing");
}

TEST_F(Safetensors, RejectsDataOffsetsThatAreNotTwoIntegers) {
  ordered_json header = {{"layer_0_key", tensor_entry("F16", {1}, 0, 2)}};
  header["layer_0_key"]["data_offsets"] = {0, 2, 4};
  expect_load_error(write_cache(header, 2), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: data_offsets [0,2,4] is not [begin, end]");
  header["layer_0_key"]["data_offsets"] = {0, 2.0};
  expect_load_error(write_cache(header, 2), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: data_offsets [0,2.0] is not [begin, end]");
}

TEST_F(Safetensors, RejectsDataOffsetsWithBeginAfterEnd) {
  const ordered_json header = {{"layer_0_key", tensor_entry("F16", {1}, 4, 2)}};
  expect_load_error(write_cache(header, 4), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: data_offsets [4, 2] begin after end");
}

TEST_F(Safetensors, RejectsDataOffsetsPastTheDataBuffer) {
  const ordered_json header = {{"layer_0_key", tensor_entry("F16", {1, 1, 1, 8}, 0, 16)}};
  expect_load_error(write_cache(header, 10), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: data_offsets [0, 16] exceed the data buffer of 10 bytes");
}

TEST_F(Safetensors, RejectsDataOffsetsThatDoNotMatchShape) {
  const ordered_json header = {{"layer_2_key", tensor_entry("F16", {1, 4, 512, 8}, 0, 100)}};
  expect_load_error(write_cache(header, 100), KVC_ERR_CORRUPT_DATA,
                    "cache.safetensors: tensor layer_2_key: data_offsets [0, 100] do not match "
                    "shape [1,4,512,8] x F16 = 32768 bytes");
}

TEST_F(Safetensors, RejectsShapeWhoseByteSizeOverflows) {
  const ordered_json header = {
      {"layer_0_key", tensor_entry("F16", {uint64_t{1} << 32, uint64_t{1} << 32, 2}, 0, 0)}};
  expect_load_error(write_cache(header, 0), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: shape [4294967296,4294967296,2] x F16 overflows 64 bits");
  const ordered_json by_dtype = {
      {"layer_0_key", tensor_entry("F32", {uint64_t{1} << 32, uint64_t{1} << 31}, 0, 0)}};
  expect_load_error(write_cache(by_dtype, 0), KVC_ERR_CORRUPT_DATA, "x F32 overflows 64 bits");
}

TEST_F(Safetensors, RejectsGapBetweenTensors) {
  const ordered_json header = {
      {"layer_0_key", tensor_entry("F16", {1, 1, 1, 2}, 0, 4)},
      {"layer_0_value", tensor_entry("F16", {1, 1, 1, 2}, 6, 10)},
  };
  expect_load_error(write_cache(header, 10), KVC_ERR_CORRUPT_DATA,
                    "data buffer bytes [4, 6) belong to no tensor (gap before layer_0_value)");
}

TEST_F(Safetensors, RejectsOverlappingTensors) {
  const ordered_json header = {
      {"layer_0_key", tensor_entry("F16", {1, 1, 1, 2}, 0, 4)},
      {"layer_0_value", tensor_entry("F16", {1, 1, 1, 2}, 2, 6)},
  };
  expect_load_error(write_cache(header, 6), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_value: data_offsets [2, 6] overlap tensor layer_0_key at "
                    "[0, 4]");
}

TEST_F(Safetensors, RejectsFirstTensorNotAtOffsetZero) {
  const ordered_json header = {
      {"layer_0_key", tensor_entry("F16", {1, 1, 1, 2}, 2, 6)},
      {"layer_0_value", tensor_entry("F16", {1, 1, 1, 2}, 6, 10)},
  };
  expect_load_error(write_cache(header, 10), KVC_ERR_CORRUPT_DATA,
                    "data buffer bytes [0, 2) belong to no tensor (gap before layer_0_key)");
}

TEST_F(Safetensors, RejectsTrailingBytesAfterTheLastTensor) {
  uint64_t buffer_bytes = 0;
  const ordered_json header = cache_header(1, {1, 1, 1, 2}, "F16", 2, &buffer_bytes);
  expect_load_error(write_cache(header, buffer_bytes + 3), KVC_ERR_CORRUPT_DATA,
                    "data buffer bytes [8, 11) belong to no tensor (trailing bytes");
}

TEST_F(Safetensors, RejectsTruncatedFile) {
  const std::string path = file("cache.safetensors");
  save_kv_safetensors(path, make_cache(DType::F16, 2, 2, 4, 4).view(), "");  // 64-byte tensors
  fs::resize_file(path, fs::file_size(path) - 10);
  expect_load_error(path, KVC_ERR_CORRUPT_DATA,
                    "tensor layer_1_value: data_offsets [192, 256] exceed the data buffer of 246 "
                    "bytes");
}

TEST_F(Safetensors, RejectsMetadataThatIsNotAMapOfStrings) {
  uint64_t buffer_bytes = 0;
  ordered_json header = cache_header(1, {1, 1, 1, 2}, "F16", 2, &buffer_bytes);
  header["__metadata__"] = {{"seq_len", 1}};
  expect_load_error(write_cache(header, buffer_bytes), KVC_ERR_CORRUPT_DATA,
                    "__metadata__ \"seq_len\" is 1, not a string");
  header["__metadata__"] = "none";
  expect_load_error(write_cache(header, buffer_bytes), KVC_ERR_CORRUPT_DATA,
                    "__metadata__ is \"none\", not an object");
}

TEST_F(Safetensors, RejectsMetadataKeyGivenTwice) {
  uint64_t buffer_bytes = 0;
  const ordered_json header = cache_header(1, {1, 1, 1, 2}, "F16", 2, &buffer_bytes);
  std::string text = header.dump();
  text.insert(1, R"("__metadata__": {"seq_len": "1", "format": "pt", "seq_len": "2"}, )");
  write_safetensors(file("cache.safetensors"), text, buffer_bytes);
  expect_load_error(file("cache.safetensors"), KVC_ERR_CORRUPT_DATA,
                    "header has duplicate key \"seq_len\" in \"__metadata__\"");
}

TEST_F(Safetensors, TreatsNullMetadataAsAbsent) {
  uint64_t buffer_bytes = 0;
  ordered_json header = cache_header(1, {1, 1, 1, 2}, "F16", 2, &buffer_bytes);
  header["__metadata__"] = nullptr;
  EXPECT_EQ(load_kv_safetensors(write_cache(header, buffer_bytes)).model_name, "");
}

TEST_F(Safetensors, RejectsDataOffsetsWithOneInteger) {
  ordered_json header = {{"layer_0_key", tensor_entry("F16", {1}, 0, 2)}};
  header["layer_0_key"]["data_offsets"] = {2};
  expect_load_error(write_cache(header, 2), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: data_offsets [2] is not [begin, end]");
}

// The reference reader has no rank limit, but numpy and PyTorch stop at 64 dimensions: a longer
// shape is refused when its 65th dimension is read, so a huge one costs nothing.
TEST_F(Safetensors, RejectsShapeOfMoreThanSixtyFourDimensions) {
  ordered_json header = {{"layer_0_key", tensor_entry("F16", std::vector<uint64_t>(64, 1), 0, 2)}};
  const ordered_json sixty_four = header;
  write_safetensors(file("ok.safetensors"), sixty_four.dump(), 2);
  expect_load_error(file("ok.safetensors"), KVC_ERR_INVALID_ARGUMENT,  // a valid header
                    "missing tensor layer_0_value");
  header["layer_0_key"]["shape"] = std::vector<uint64_t>(65, 1);
  expect_load_error(
      write_cache(header, 2), KVC_ERR_CORRUPT_DATA,
      "tensor layer_0_key: shape [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
      "1,1,1,1... has more than 64 dimensions");
}

// A wrong value is quoted as JSON, cut after 60 bytes, and the parse stops there.
TEST_F(Safetensors, QuotesALongOffendingValueBriefly) {
  ordered_json header = {{"layer_0_key", tensor_entry("F16", {1}, 0, 2)}};
  header["layer_0_key"]["shape"] = {1, 2, {{"nested", std::string(100, 'x')}}, 3};
  expect_load_error(write_cache(header, 2), KVC_ERR_CORRUPT_DATA,
                    "tensor layer_0_key: shape [1,2,{\"nested\":\"" + std::string(44, 'x') +
                        "... is not an array of non-negative integers");
}

// ---- The KV cache convention --------------------------------------------------------------

TEST_F(Safetensors, RejectsCacheMissingAValueTensor) {
  uint64_t buffer_bytes = 0;
  ordered_json header = cache_header(4, {1, 1, 1, 2}, "F16", 2, &buffer_bytes);
  header.erase("layer_3_value");
  expect_load_error(write_cache(header, buffer_bytes - 4), KVC_ERR_INVALID_ARGUMENT,
                    "missing tensor layer_3_value");
}

TEST_F(Safetensors, RejectsCacheMissingAWholeLayer) {
  const ordered_json header = {
      {"layer_0_key", tensor_entry("F16", {1, 1, 1, 2}, 0, 4)},
      {"layer_0_value", tensor_entry("F16", {1, 1, 1, 2}, 4, 8)},
      {"layer_2_key", tensor_entry("F16", {1, 1, 1, 2}, 8, 12)},
      {"layer_2_value", tensor_entry("F16", {1, 1, 1, 2}, 12, 16)},
  };
  expect_load_error(write_cache(header, 16), KVC_ERR_INVALID_ARGUMENT,
                    "missing tensor layer_1_key (the file has layers up to 2)");
}

TEST_F(Safetensors, RejectsTensorsOfDifferentShapes) {
  const ordered_json header = {
      {"layer_0_key", tensor_entry("F16", {1, 2, 3, 4}, 0, 48)},
      {"layer_0_value", tensor_entry("F16", {1, 2, 4, 3}, 48, 96)},
  };
  expect_load_error(write_cache(header, 96), KVC_ERR_INVALID_ARGUMENT,
                    "tensor layer_0_value: shape [1,2,4,3] differs from layer_0_key's [1,2,3,4]");
}

TEST_F(Safetensors, RejectsUnsupportedDtypeI64) {
  uint64_t buffer_bytes = 0;
  const ordered_json header = cache_header(1, {1, 1, 1, 2}, "I64", 8, &buffer_bytes);
  expect_load_error(write_cache(header, buffer_bytes), KVC_ERR_INVALID_ARGUMENT,
                    "tensor layer_0_key: dtype I64 is not F16, BF16 or F32");
}

TEST_F(Safetensors, RejectsTensorsOfDifferentDtypes) {
  const ordered_json header = {
      {"layer_0_key", tensor_entry("F16", {1, 1, 1, 2}, 0, 4)},
      {"layer_0_value", tensor_entry("BF16", {1, 1, 1, 2}, 4, 8)},
  };
  expect_load_error(write_cache(header, 8), KVC_ERR_INVALID_ARGUMENT,
                    "tensor layer_0_value: dtype BF16 differs from layer_0_key's F16");
}

TEST_F(Safetensors, RejectsUnexpectedTensorName) {
  uint64_t buffer_bytes = 0;
  ordered_json header = cache_header(1, {1, 1, 1, 2}, "F16", 2, &buffer_bytes);
  header["rope_freqs"] = tensor_entry("F16", {2}, buffer_bytes, buffer_bytes + 4);
  expect_load_error(write_cache(header, buffer_bytes + 4), KVC_ERR_INVALID_ARGUMENT,
                    "unexpected tensor \"rope_freqs\"");
}

TEST_F(Safetensors, RejectsLayerIndexWithLeadingZero) {
  const ordered_json header = {
      {"layer_0_key", tensor_entry("F16", {1, 1, 1, 2}, 0, 4)},
      {"layer_00_value", tensor_entry("F16", {1, 1, 1, 2}, 4, 8)},
  };
  expect_load_error(write_cache(header, 8), KVC_ERR_INVALID_ARGUMENT,
                    "unexpected tensor \"layer_00_value\"");
}

TEST_F(Safetensors, RejectsBatchOfMoreThanOneSequence) {
  uint64_t buffer_bytes = 0;
  const ordered_json header = cache_header(1, {2, 1, 1, 2}, "F16", 2, &buffer_bytes);
  expect_load_error(write_cache(header, buffer_bytes), KVC_ERR_INVALID_ARGUMENT,
                    "tensor layer_0_key: shape [2,1,1,2] is not [1, kv_heads, tokens, head_dim]");
}

TEST_F(Safetensors, RejectsTwoDimensionalShape) {
  uint64_t buffer_bytes = 0;
  const ordered_json header = cache_header(1, {3, 2}, "F32", 4, &buffer_bytes);
  expect_load_error(write_cache(header, buffer_bytes), KVC_ERR_INVALID_ARGUMENT,
                    "shape [3,2] is not [1, kv_heads, tokens, head_dim] or [kv_heads, tokens, "
                    "head_dim]");
}

TEST_F(Safetensors, RejectsCacheWithZeroTokens) {
  uint64_t buffer_bytes = 0;
  const ordered_json header = cache_header(1, {1, 2, 0, 4}, "F16", 2, &buffer_bytes);
  expect_load_error(write_cache(header, buffer_bytes), KVC_ERR_INVALID_ARGUMENT,
                    "tensor layer_0_key: shape [1,2,0,4] has num_tokens 0");
}

TEST_F(Safetensors, RejectsFileWithoutTensors) {
  write_safetensors(file("cache.safetensors"), R"({"__metadata__": {"format": "pt"}})", 0);
  expect_load_error(file("cache.safetensors"), KVC_ERR_INVALID_ARGUMENT, "no tensors");
}

// ---- Real data ----------------------------------------------------------------------------

TEST_F(Safetensors, ReadsRealCacheWrittenByPythonTool) {
  const std::string path = KVC_TEST_DATA_DIR "/stories260K.safetensors";
  if (!fs::exists(path)) {
    GTEST_SKIP() << path << " is absent: the Python export tool has not written a real "
                 << "stories260K cache into the test data directory";
  }
  const KvCacheFile loaded = load_kv_safetensors(path);
  EXPECT_EQ(loaded.dims.num_layers, 5u);  // stories260K: 5 layers, 4 KV heads, head_dim 8
  EXPECT_EQ(loaded.dims.num_kv_heads, 4u);
  EXPECT_EQ(loaded.dims.head_dim, 8u);
  EXPECT_GT(loaded.dims.num_tokens, 0u);
  EXPECT_EQ(loaded.model_name, "stories260K");
  ASSERT_EQ(loaded.keys.size(), loaded.dims.num_layers * loaded.dims.bytes_per_tensor());
  ASSERT_EQ(loaded.values.size(), loaded.keys.size());
  const size_t elements = loaded.keys.size() / dtype_size(loaded.dims.dtype);
  size_t nonzero = 0;
  for (size_t i = 0; i < elements; ++i) {
    const float k = load_as_f32(loaded.keys.data(), loaded.dims.dtype, i);
    const float v = load_as_f32(loaded.values.data(), loaded.dims.dtype, i);
    ASSERT_TRUE(std::isfinite(k) && std::isfinite(v)) << "element " << i;
    nonzero += (k != 0.0f) + (v != 0.0f);
  }
  EXPECT_GT(nonzero, elements);  // a real cache is mostly nonzero

  // Writing it back and reading it again changes nothing.
  CacheView view;
  view.dims = loaded.dims;
  view.token_stride = loaded.dims.head_dim;
  view.head_stride = uint64_t{loaded.dims.num_tokens} * loaded.dims.head_dim;
  for (uint32_t l = 0; l < loaded.dims.num_layers; ++l) {
    view.keys.push_back(loaded.keys.data() + l * loaded.dims.bytes_per_tensor());
    view.values.push_back(loaded.values.data() + l * loaded.dims.bytes_per_tensor());
  }
  save_kv_safetensors(file("copy.safetensors"), view, loaded.model_name);
  const KvCacheFile copy = load_kv_safetensors(file("copy.safetensors"));
  EXPECT_EQ(copy.model_name, loaded.model_name);
  EXPECT_TRUE(copy.keys == loaded.keys);
  EXPECT_TRUE(copy.values == loaded.values);
}

}  // namespace
}  // namespace kvc::io
