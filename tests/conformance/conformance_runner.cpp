// conformance_runner.cpp: replays conformance/manifest.json through the C API: every valid vector
// decodes to the manifest's bytes, every invalid one fails verify and decompress with its status.
#include <kvc/kvc.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../sized_buffers.h"
#include "sha256.h"

namespace {

using Context = std::unique_ptr<kvc_context, decltype(&kvc_context_free)>;
int failures = 0;

void fail(const std::string& what) {
  std::fprintf(stderr, "FAIL %s\n", what.c_str());
  ++failures;
}

std::vector<unsigned char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string hex(const std::vector<unsigned char>& b, size_t n) {
  return kvc_conformance::sha256_hex(b.data(), n);
}

// Token selection vectors: kvc_decompress_positions and kvc_decompress_mask.
void check_positions_and_mask(kvc_context* ctx, const kvc_decompress_params& p,
                              const std::vector<unsigned char>& blob, const nlohmann::json& d,
                              const std::string& what) {
  const auto want_counts = d.at("layer_counts").get<std::vector<uint32_t>>();
  const auto want_positions = d.at("positions").get<std::vector<uint32_t>>();
  std::vector<uint32_t> counts(want_counts.size()), positions(want_positions.size());
  size_t n = 0;
  if (kvc_decompress_positions(ctx, &p, blob.data(), blob.size(), counts.data(),
                               kvc_sized::nbytes(counts), positions.data(), positions.size(),
                               &n) != KVC_OK ||
      n != positions.size() || counts != want_counts || positions != want_positions) {
    fail(what + ": kept positions differ");
  }
  size_t mask_bytes = 0;
  if (kvc_decompress_mask(ctx, &p, blob.data(), blob.size(), nullptr, 0, &mask_bytes) !=
      KVC_ERR_BUFFER_TOO_SMALL) {
    return fail(what + ": mask size query");
  }
  std::vector<unsigned char> mask(mask_bytes);
  if (kvc_decompress_mask(ctx, &p, blob.data(), blob.size(), mask.data(), mask.size(), &n) !=
          KVC_OK ||
      hex(mask, n) != d.at("mask_sha256")) {
    fail(what + ": mask differs");
  }
}

void check_valid(kvc_context* ctx, const std::string& dir, const nlohmann::json& v) {
  const std::string name = v.at("name");
  const auto blob = read_file(dir + "/" + v.at("file").get<std::string>());
  if (hex(blob, blob.size()) != v.at("sha256")) return fail(name + ": file SHA-256");
  if (kvc_verify(ctx, blob.data(), blob.size()) != KVC_OK) {
    return fail(name + ": verify: " + kvc_context_last_error(ctx));
  }
  kvc_blob_info info{};
  info.struct_size = sizeof info;
  if (kvc_inspect(ctx, blob.data(), blob.size(), &info) != KVC_OK) return fail(name + ": inspect");
  const std::pair<const char*, int64_t> fields[] = {
      {"format_major", info.format_major},
      {"format_minor", info.format_minor},
      {"num_layers", info.num_layers},
      {"num_kv_heads", info.num_kv_heads},
      {"num_tokens", info.num_tokens},
      {"head_dim", info.head_dim},
      {"dtype", info.dtype},
      {"key_bits", info.key_bits},
      {"value_bits", info.value_bits},
      {"group_size", info.group_size},
      {"recent_tokens", info.recent_full_precision_tokens},
      {"num_chunks", info.num_chunks}};
  for (const auto& [field, value] : fields) {
    if (v.at("info").at(field).get<int64_t>() != value) fail(name + ": info " + field);
  }
  for (const auto& d : v.at("decodes")) {
    kvc_decompress_params p;
    kvc_decompress_params_default(&p, sizeof p);
    p.dtype = d.at("dtype_code");
    p.first_layer = d.at("first_layer");
    p.num_layers = d.at("num_layers");
    p.scatter = d.at("scatter");
    const size_t bytes = d.at("tensor_bytes");
    std::vector<unsigned char> keys(bytes), values(bytes);
    size_t n = 0;
    const std::string what = name + " decode " + d.dump();
    if (kvc_decompress(ctx, &p, blob.data(), blob.size(), keys.data(), values.data(), bytes, &n) !=
        KVC_OK) {
      fail(what + ": " + kvc_context_last_error(ctx));
    } else if (n != bytes || hex(keys, n) != d.at("keys_sha256") ||
               hex(values, n) != d.at("values_sha256")) {
      fail(what + ": decoded tensors differ");
    }
    if (d.contains("mask_sha256")) check_positions_and_mask(ctx, p, blob, d, what);
  }
}

void check_invalid(kvc_context* ctx, const std::string& dir, const nlohmann::json& v) {
  const std::string name = v.at("name");
  const auto blob = read_file(dir + "/" + v.at("file").get<std::string>());
  const kvc_status want = v.at("status_code");
  if (v.at("status") != kvc_status_name(want)) return fail(name + ": status code and name");
  const kvc_status verified = kvc_verify(ctx, blob.data(), blob.size());
  if (verified != want) fail(name + ": verify gave " + kvc_status_name(verified));
  // Into 1 MiB buffers: the status itself, never a request for a larger buffer first.
  std::vector<unsigned char> keys(1 << 20), values(1 << 20);
  size_t n = 0;
  const kvc_status decoded = kvc_decompress(ctx, nullptr, blob.data(), blob.size(), keys.data(),
                                            values.data(), keys.size(), &n);
  if (decoded != want) fail(name + ": decompress gave " + kvc_status_name(decoded));
  if (std::strlen(kvc_context_last_error(ctx)) == 0) fail(name + ": no message");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CONFORMANCE_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const auto text = read_file(dir + "/manifest.json");
  const auto manifest = nlohmann::json::parse(text.begin(), text.end());
  kvc_context* raw = nullptr;
  if (kvc_context_create(nullptr, &raw, nullptr, 0) != KVC_OK) return 1;
  const Context ctx(raw, &kvc_context_free);
  if (kvc_conformance::sha256_hex("abc", 3) !=
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") {
    fail("SHA-256 of \"abc\"");
  }
  const auto& valid = manifest.at("valid");
  const auto& invalid = manifest.at("invalid");
  if (valid.empty() || invalid.empty()) fail("the manifest lists no vectors");
  for (const auto& v : valid) check_valid(ctx.get(), dir, v);
  for (const auto& v : invalid) check_invalid(ctx.get(), dir, v);
  std::printf("%zu valid and %zu invalid vectors, %d failures\n", valid.size(), invalid.size(),
              failures);
  return failures == 0 ? 0 : 1;
}
