// golden_test.cpp: the committed blobs of each past format version (tests/golden/v<M.m>/, made
// once by tests/golden/make_golden.py) still decode to the tensors their manifest records.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "format/reader.h"
#include "unit/codec_helpers.h"
#include "unit/sha256.h"

namespace kvc {
namespace {

std::vector<unsigned char> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), {});
}

void check_version(const std::string& version) {
  const std::filesystem::path dir =
      std::filesystem::path(KVC_SOURCE_DIR) / "tests/golden" / version;
  std::ifstream manifest_file(dir / "manifest.json");
  ASSERT_TRUE(manifest_file.good()) << dir / "manifest.json";
  const nlohmann::json manifest = nlohmann::json::parse(manifest_file);
  ASSERT_GE(manifest.size(), 4u);
  for (const nlohmann::json& entry : manifest) {
    const std::string file = entry.at("file");
    SCOPED_TRACE(version + "/" + file);
    const std::vector<unsigned char> blob = read_bytes(dir / file);
    ASSERT_EQ(kvc_test::sha256_hex(blob.data(), blob.size()), entry.at("blob_sha256"))
        << "the committed file changed: golden files are never regenerated";
    const format::BlobReader reader(blob.data(), blob.size());
    EXPECT_EQ(std::to_string(reader.header().format_major) + "." +
                  std::to_string(reader.header().format_minor),
              entry.at("format").get<std::string>());
    EXPECT_NO_THROW(reader.verify_all());
    const test::PackedCache back = test::decompress(blob);
    const auto& shape = entry.at("shape");
    EXPECT_EQ(back.dims.num_layers, shape[0].get<uint32_t>());
    EXPECT_EQ(back.dims.num_tokens, shape[2].get<uint32_t>());
    EXPECT_EQ(kvc_test::sha256_hex(back.keys.data(), back.keys.size()), entry.at("keys_sha256"));
    EXPECT_EQ(kvc_test::sha256_hex(back.values.data(), back.values.size()),
              entry.at("values_sha256"));
  }
}

TEST(Golden, Sha256MatchesTheStandardTestVectors) {
  EXPECT_EQ(kvc_test::sha256_hex("", 0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string abc = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(kvc_test::sha256_hex(abc.data(), abc.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Golden, Format1_0BlobsDecodeExactly) { check_version("v1.0"); }

}  // namespace
}  // namespace kvc
