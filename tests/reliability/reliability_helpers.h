// reliability_helpers.h: shared pieces of the reliability tests: blobs of several codec settings,
// hand-made blobs written field by field with valid checksums, and peak-memory measurement.
#pragma once

#include <kvc/kvc.h>

#include <string>
#include <vector>

#include "api/api_helpers.h"
#include "format/header_fields.h"
#include "format/writer.h"
#include "reliability/alloc_counter.h"

namespace kvc_reliability {

// One codec setting, named for test output.
struct Setting {
  std::string name;
  int key_bits, value_bits, group_size, recent_tokens, zstd_level, shuffle;
};

// Settings covering 2/4/8/16 bits, zstd off and on, shuffle off and on.
inline std::vector<Setting> sweep_settings() {
  return {{"k2v2-zstd1-auto", 2, 2, 32, 0, 1, 0},    {"k4v4-raw", 4, 4, 64, 3, 0, 1},
          {"k8v8-zstd3-shuffle", 8, 8, 32, 2, 3, 2}, {"k16v16-zstd1-shuffle", 16, 16, 32, 0, 1, 2},
          {"k16v4-raw", 16, 4, 128, 0, 0, 1},        {"k3v8-zstd1", 3, 8, 64, 5, 1, 1}};
}

inline kvc_compress_params params_of(const Setting& s) {
  kvc_compress_params p =
      kvc_api_test::params(s.key_bits, s.value_bits, s.group_size, s.recent_tokens);
  p.zstd_level = s.zstd_level;
  p.byte_shuffle = s.shuffle;
  return p;
}

// A blob written directly with the format writer: any header and chunk fields, valid checksums.
inline std::vector<unsigned char> hand_made_blob(
    const kvc::format::HeaderFields& h, const std::vector<kvc::ChunkEncoding>& chunk_encodings,
    const std::vector<std::vector<unsigned char>>& payloads, uint32_t token_count) {
  // Twice: the first pass (no room) learns the size, the second writes.
  std::vector<unsigned char> blob;
  for (int pass = 0; pass < 2; ++pass) {
    kvc::format::StreamWriter w(blob.data(), blob.size());
    w.write_header(h);
    for (size_t i = 0; i < chunk_encodings.size(); ++i) {
      w.write_chunk(static_cast<uint32_t>(i / 2), static_cast<kvc::format::TensorKind>(i % 2), 0,
                    token_count, {}, chunk_encodings[i], payloads[i].data(), payloads[i].size());
    }
    const size_t n = w.finish();
    if (w.fits()) break;
    blob.resize(n);
  }
  return blob;
}

// A call's status and the peak live bytes the counting allocator saw while it ran.
struct Measured {
  kvc_status status;
  uint64_t peak;
};

// Runs body with the counting allocator armed; returns its status and peak live bytes.
template <class Body>
Measured measure(Body&& body) {
  kvc_alloc::Scope scope;
  const kvc_status st = body();
  return {st, kvc_alloc::stats().peak_bytes};
}

}  // namespace kvc_reliability
