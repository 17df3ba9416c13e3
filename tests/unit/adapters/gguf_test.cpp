// gguf_test.cpp: the GGUF metadata reader on real model files and on malformed bytes.
#include "adapters/gguf.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "unit/test_data.h"

namespace kvc::adapters {
namespace {

std::string stories_gguf() { return std::string(KVC_SHARED_DIR) + "/data/stories260K.gguf"; }

std::string smollm2_gguf() {
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/kvc/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

// Writes GGUF bytes: header, then key/values appended one by one.
class GgufBuilder {
 public:
  explicit GgufBuilder(uint32_t version = 3) {
    put<uint32_t>(0x46554747);
    put<uint32_t>(version);
    put<uint64_t>(0);  // tensors
    count_offset_ = bytes_.size();
    put<uint64_t>(0);
  }
  GgufBuilder& u32(const std::string& key, uint32_t v) {
    begin(key, 4);
    put(v);
    return *this;
  }
  GgufBuilder& i64(const std::string& key, int64_t v) {
    begin(key, 11);
    put(v);
    return *this;
  }
  GgufBuilder& f32(const std::string& key, float v) {
    begin(key, 6);
    put(v);
    return *this;
  }
  GgufBuilder& str(const std::string& key, const std::string& v) {
    begin(key, 8);
    put_string(v);
    return *this;
  }
  GgufBuilder& strings(const std::string& key, const std::vector<std::string>& items) {
    begin(key, 9);
    put<uint32_t>(8);
    put<uint64_t>(items.size());
    for (const std::string& s : items) put_string(s);
    return *this;
  }
  GgufBuilder& u32s(const std::string& key, const std::vector<uint32_t>& items) {
    begin(key, 9);
    put<uint32_t>(4);
    put<uint64_t>(items.size());
    for (const uint32_t v : items) put(v);
    return *this;
  }
  // A key with a raw type and raw value bytes.
  GgufBuilder& raw(const std::string& key, uint32_t type, const std::vector<unsigned char>& v) {
    begin(key, type);
    bytes_.insert(bytes_.end(), v.begin(), v.end());
    return *this;
  }
  // A llama model's keys.
  GgufBuilder& llama(uint32_t layers, uint32_t heads, uint32_t kv_heads, uint32_t embedding) {
    str("general.architecture", "llama");
    u32("llama.block_count", layers);
    u32("llama.attention.head_count", heads);
    u32("llama.attention.head_count_kv", kv_heads);
    return u32("llama.embedding_length", embedding);
  }
  std::vector<unsigned char> bytes() const { return bytes_; }

  template <class T>
  void put(T v) {
    unsigned char b[sizeof v];
    std::memcpy(b, &v, sizeof v);
    bytes_.insert(bytes_.end(), b, b + sizeof v);
  }

 private:
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  void begin(const std::string& key, uint32_t type) {
    uint64_t count;
    std::memcpy(&count, bytes_.data() + count_offset_, 8);
    ++count;
    std::memcpy(bytes_.data() + count_offset_, &count, 8);
    put_string(key);
    put(type);
  }

  std::vector<unsigned char> bytes_;
  size_t count_offset_ = 0;
};

kvc_status status_of(const std::vector<unsigned char>& bytes) {
  try {
    from_gguf_metadata(parse_gguf_metadata(bytes));
    return KVC_OK;
  } catch (const Error& e) {
    return e.code();
  }
}

std::string error_of(const std::vector<unsigned char>& bytes) {
  try {
    from_gguf_metadata(parse_gguf_metadata(bytes));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Gguf, Stories260KFileGivesItsShape) {
  if (!kvc_test::file_exists(stories_gguf())) GTEST_SKIP() << stories_gguf() << " not found";
  const GgufMetadata m = read_gguf_metadata(stories_gguf());
  EXPECT_EQ(m.version, 3u);
  EXPECT_EQ(m.tensor_count, 48u);
  EXPECT_EQ(m.values.size(), 19u);
  const Adapter a = from_gguf(stories_gguf());
  const Adapter& r = *find("stories260k");
  EXPECT_EQ(a.family, "llama");
  EXPECT_EQ(a.num_layers, r.num_layers);
  EXPECT_EQ(a.num_query_heads, r.num_query_heads);
  EXPECT_EQ(a.num_kv_heads, r.num_kv_heads);
  EXPECT_EQ(a.head_dim, r.head_dim);
  EXPECT_DOUBLE_EQ(a.rope_theta, 10000.0);  // no rope.freq_base key: the default
  EXPECT_EQ(a.context_tokens, 2048);        // as the conversion recorded it
  EXPECT_NE(a.source.find(stories_gguf()), std::string::npos);
}

TEST(Gguf, SmolLM2FileGivesItsShapeRopeBaseAndRegistryPolicy) {
  if (!kvc_test::file_exists(smollm2_gguf())) {
    GTEST_SKIP() << smollm2_gguf() << " not found (a SmolLM2-135M-Instruct GGUF of ~98 MB)";
  }
  const GgufMetadata m = read_gguf_metadata(smollm2_gguf());
  EXPECT_LT(m.metadata_bytes, size_t{16} << 20);  // the tensors were never read
  const Adapter a = from_gguf(smollm2_gguf());
  const Adapter& r = *find("smollm2-135m");
  EXPECT_EQ(a.num_layers, 30);
  EXPECT_EQ(a.num_query_heads, 9);
  EXPECT_EQ(a.num_kv_heads, 3);
  EXPECT_EQ(a.head_dim, 64);
  EXPECT_DOUBLE_EQ(a.rope_theta, r.rope_theta);
  EXPECT_EQ(a.context_tokens, 8192);
  EXPECT_FLOAT_EQ(a.policy.attention_threshold, r.policy.attention_threshold);
}

TEST(Gguf, SyntheticMetadataWithArraysStringsAndOptionalKeys) {
  GgufBuilder b;
  b.str("general.name", "tiny").strings("tokenizer.ggml.tokens", {"a", "bb", ""});
  b.u32s("tokenizer.ggml.token_type", {1, 2, 3}).llama(4, 8, 2, 256);
  b.f32("llama.rope.freq_base", 500000.0f).i64("llama.context_length", 4096);
  b.u32("llama.attention.sliding_window", 1024);
  const GgufMetadata m = parse_gguf_metadata(b.bytes());
  EXPECT_EQ(m.values.at("tokenizer.ggml.tokens").array_count, 3u);
  EXPECT_EQ(m.metadata_bytes, b.bytes().size());
  const Adapter a = from_gguf_metadata(m);
  EXPECT_EQ(a.name, "tiny");
  EXPECT_EQ(a.num_layers, 4);
  EXPECT_EQ(a.num_kv_heads, 2);
  EXPECT_EQ(a.head_dim, 32);
  EXPECT_DOUBLE_EQ(a.rope_theta, 500000.0);
  EXPECT_EQ(a.context_tokens, 4096);
  EXPECT_EQ(a.attention, AttentionType::kSlidingWindow);
  EXPECT_EQ(a.window_tokens, 1024);
}

TEST(Gguf, LatentAttentionFromDeepSeek2Keys) {
  GgufBuilder b;
  b.str("general.architecture", "deepseek2").u32("deepseek2.block_count", 60);
  b.u32("deepseek2.attention.head_count", 128).u32("deepseek2.attention.head_count_kv", 128);
  b.u32("deepseek2.attention.key_length", 192).u32("deepseek2.attention.kv_lora_rank", 512);
  b.u32("deepseek2.rope.dimension_count", 64);
  const Adapter a = from_gguf_metadata(parse_gguf_metadata(b.bytes()));
  EXPECT_EQ(a.attention, AttentionType::kLatent);
  EXPECT_EQ(a.num_kv_heads, 1);
  EXPECT_EQ(a.head_dim, 576);
}

// Each fits int32, their sum (the cached vector) does not: out of range, not a wrapped head_dim
// (signed overflow; found by the model_config fuzz target,
// tests/fuzz/corpus/model_config/crash-gguf-latent-dims-sum-overflows-int32.gguf).
TEST(Gguf, LatentDimsWhoseSumOverflowsInt32AreOutOfRange) {
  GgufBuilder b;
  b.str("general.architecture", "deepseek2").u32("deepseek2.block_count", 2);
  b.u32("deepseek2.attention.head_count", 1).u32("deepseek2.embedding_length", 4);
  b.u32("deepseek2.attention.kv_lora_rank", 2147483647).u32("deepseek2.rope.dimension_count", 2);
  EXPECT_EQ(status_of(b.bytes()), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(error_of(b.bytes()).find("deepseek2.attention.kv_lora_rank 2147483647 + "
                                     "deepseek2.rope.dimension_count 2 is out of range"),
            std::string::npos)
      << error_of(b.bytes());
}

TEST(Gguf, MissingOrInvalidKeysAreNamed) {
  GgufBuilder no_arch;
  no_arch.u32("llama.block_count", 2);
  EXPECT_EQ(status_of(no_arch.bytes()), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(error_of(no_arch.bytes()).find("general.architecture"), std::string::npos);

  GgufBuilder no_layers;
  no_layers.str("general.architecture", "llama").u32("llama.attention.head_count", 8);
  EXPECT_NE(error_of(no_layers.bytes()).find("llama.block_count is missing"), std::string::npos);

  GgufBuilder zero;
  zero.llama(0, 8, 4, 64);
  EXPECT_NE(error_of(zero.bytes()).find("llama.block_count 0 is not a positive"),
            std::string::npos);

  // A uint32 beyond INT32_MAX and an int64 beyond it are named with their stored values.
  GgufBuilder huge;
  huge.llama(4294967295u, 8, 4, 64);
  EXPECT_NE(error_of(huge.bytes()).find("llama.block_count 4294967295 is not a positive"),
            std::string::npos)
      << error_of(huge.bytes());
  GgufBuilder huge_signed;
  huge_signed.llama(2, 8, 4, 64).i64("llama.context_length", int64_t{1} << 40);
  EXPECT_NE(error_of(huge_signed.bytes()).find("llama.context_length 1099511627776 is not a"),
            std::string::npos)
      << error_of(huge_signed.bytes());

  GgufBuilder per_layer;
  per_layer.str("general.architecture", "llama").u32("llama.block_count", 2);
  per_layer.u32s("llama.attention.head_count", {8, 8}).u32("llama.embedding_length", 64);
  EXPECT_NE(error_of(per_layer.bytes()).find("is an array"), std::string::npos);

  GgufBuilder not_a_number;
  not_a_number.str("general.architecture", "llama").str("llama.block_count", "five");
  EXPECT_NE(error_of(not_a_number.bytes()).find("llama.block_count is not an integer"),
            std::string::npos);

  GgufBuilder indivisible;
  indivisible.llama(2, 6, 2, 64);
  EXPECT_NE(error_of(indivisible.bytes()).find("embedding_length 64 is not a multiple"),
            std::string::npos);

  GgufBuilder bad_kv;
  bad_kv.llama(2, 8, 3, 64);
  EXPECT_NE(error_of(bad_kv.bytes()).find("num_kv_heads 3 does not divide"), std::string::npos);
}

TEST(Gguf, BadMagicAndVersionsAreRejected) {
  std::vector<unsigned char> bytes = GgufBuilder().llama(2, 8, 4, 64).bytes();
  bytes[0] = 'X';
  EXPECT_EQ(status_of(bytes), KVC_ERR_CORRUPT_DATA);
  EXPECT_NE(error_of(bytes).find("does not start with 'GGUF'"), std::string::npos);
  EXPECT_EQ(status_of(GgufBuilder(1).llama(2, 8, 4, 64).bytes()), KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_EQ(status_of(GgufBuilder(4).llama(2, 8, 4, 64).bytes()), KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_EQ(status_of(GgufBuilder(2).llama(2, 8, 4, 64).bytes()), KVC_OK);
}

TEST(Gguf, MalformedLengthsTypesAndDuplicatesAreCorrupt) {
  // Unknown value type.
  EXPECT_EQ(status_of(GgufBuilder().raw("x", 13, {0, 0, 0, 0}).bytes()), KVC_ERR_CORRUPT_DATA);
  // A bool that is neither 0 nor 1.
  EXPECT_EQ(status_of(GgufBuilder().raw("x", 7, {2}).bytes()), KVC_ERR_CORRUPT_DATA);
  // A string whose length runs past the end, and one beyond the limit.
  GgufBuilder long_string;
  long_string.raw("x", 8, {});
  long_string.put<uint64_t>(1000);
  EXPECT_EQ(status_of(long_string.bytes()), KVC_ERR_CORRUPT_DATA);
  GgufBuilder huge_string;
  huge_string.raw("x", 8, {});
  huge_string.put<uint64_t>(~uint64_t{0});
  EXPECT_EQ(status_of(huge_string.bytes()), KVC_ERR_CORRUPT_DATA);
  // An array whose count cannot fit, of fixed-size items and of strings.
  for (const uint32_t type : {12u, 8u, 9u}) {
    GgufBuilder huge_array;
    huge_array.raw("x", 9, {});
    huge_array.put<uint32_t>(type);
    huge_array.put<uint64_t>(uint64_t{1} << 61);
    EXPECT_EQ(status_of(huge_array.bytes()), KVC_ERR_CORRUPT_DATA) << type;
  }
  // Arrays nested beyond the depth limit.
  GgufBuilder nested;
  nested.raw("x", 9, {});
  for (int i = 0; i < 20; ++i) {
    nested.put<uint32_t>(9);
    nested.put<uint64_t>(1);
  }
  EXPECT_EQ(status_of(nested.bytes()), KVC_ERR_CORRUPT_DATA);
  EXPECT_NE(error_of(nested.bytes()).find("nests arrays too deeply"), std::string::npos);
  // A key twice, an empty key, counts beyond the limits.
  EXPECT_NE(error_of(GgufBuilder().u32("a", 1).u32("a", 2).bytes()).find("appears twice"),
            std::string::npos);
  EXPECT_EQ(status_of(GgufBuilder().u32("", 1).bytes()), KVC_ERR_CORRUPT_DATA);
  std::vector<unsigned char> many = GgufBuilder().bytes();
  std::memset(many.data() + 16, 0xFF, 8);
  EXPECT_NE(error_of(many).find("kv_count"), std::string::npos);
  std::vector<unsigned char> tensors = GgufBuilder().bytes();
  std::memset(tensors.data() + 8, 0xFF, 8);
  EXPECT_NE(error_of(tensors).find("tensor_count"), std::string::npos);
}

TEST(Gguf, EveryTruncationIsCorruptNeverACrash) {
  GgufBuilder b;
  b.str("general.name", "t").strings("tokens", {"x", "yy"}).llama(2, 8, 4, 64);
  b.f32("llama.rope.freq_base", 10000.0f);
  const std::vector<unsigned char> whole = b.bytes();
  ASSERT_EQ(status_of(whole), KVC_OK);
  for (size_t n = 0; n < whole.size(); ++n) {
    const std::vector<unsigned char> cut(whole.begin(), whole.begin() + n);
    EXPECT_EQ(status_of(cut), KVC_ERR_CORRUPT_DATA) << n;
  }
}

TEST(Gguf, RandomByteFlipsGiveAStatusNeverACrash) {
  GgufBuilder b;
  b.str("general.name", "t")
      .strings("tokens", {"x", "yy"})
      .u32s("types", {1, 2})
      .llama(2, 8, 4, 64);
  const std::vector<unsigned char> whole = b.bytes();
  std::mt19937 rng(7);
  for (int trial = 0; trial < 4000; ++trial) {
    std::vector<unsigned char> bytes = whole;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f)
      bytes[rng() % bytes.size()] ^= static_cast<unsigned char>(rng());
    const kvc_status s = status_of(bytes);
    EXPECT_TRUE(s == KVC_OK || s == KVC_ERR_CORRUPT_DATA || s == KVC_ERR_INVALID_ARGUMENT ||
                s == KVC_ERR_UNSUPPORTED_VERSION)
        << s;
  }
}

TEST(Gguf, TruncatedAndMissingFilesOnDisk) {
  if (!kvc_test::file_exists(stories_gguf())) GTEST_SKIP() << stories_gguf() << " not found";
  std::ifstream in(stories_gguf(), std::ios::binary);
  std::vector<char> head(600);
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  const std::string path = ::testing::TempDir() + "/kvc_truncated.gguf";
  std::ofstream(path, std::ios::binary).write(head.data(), in.gcount());
  try {
    read_gguf_metadata(path);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), KVC_ERR_CORRUPT_DATA);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
  try {
    read_gguf_metadata(path);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), KVC_ERR_IO);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
}

}  // namespace
}  // namespace kvc::adapters
