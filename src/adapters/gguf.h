// gguf.h: a bounded reader of GGUF metadata (header and key/values only), and adapters from it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "adapters/adapter.h"

namespace kvc::adapters {

// One metadata value. Arrays keep their element type and count only (their items are checked
// and skipped): the adapter needs scalars.
struct GgufValue {
  enum class Kind { kUnsigned, kSigned, kFloat, kBool, kString, kArray };
  Kind kind = Kind::kUnsigned;
  uint32_t type = 0;  // the GGUF value type as stored (0 = uint8 ... 12 = float64)
  uint64_t as_unsigned = 0;
  int64_t as_signed = 0;
  double as_float = 0.0;
  std::string as_string;
  uint32_t array_type = 0;
  uint64_t array_count = 0;
};

struct GgufMetadata {
  uint32_t version = 0;
  uint64_t tensor_count = 0;
  std::map<std::string, GgufValue> values;
  size_t metadata_bytes = 0;  // header and key/value section, the bytes read
};

// Limits on untrusted input: anything beyond them is KVC_ERR_CORRUPT_DATA.
constexpr size_t kGgufMaxMetadataBytes = size_t{256} << 20;
constexpr uint64_t kGgufMaxKeyValues = 65536;
constexpr uint64_t kGgufMaxKeyBytes = 65535;
constexpr uint64_t kGgufMaxTensors = uint64_t{1} << 24;
constexpr int kGgufMaxArrayDepth = 8;

// Parses the header and key/value section at the start of bytes (the tensor infos and data
// that follow are not read). Throws KVC_ERR_CORRUPT_DATA for a bad magic, truncation, an
// unknown value type, a duplicate key or a size beyond the limits, and
// KVC_ERR_UNSUPPORTED_VERSION for a GGUF version other than 2 or 3.
GgufMetadata parse_gguf_metadata(std::span<const unsigned char> bytes);

// As parse_gguf_metadata, reading only as much of the file as the metadata needs.
// Throws KVC_ERR_IO when the file cannot be opened or read, with its path.
GgufMetadata read_gguf_metadata(const std::string& path);

// An adapter from GGUF metadata of architecture A = general.architecture: A.block_count,
// A.attention.head_count, A.attention.head_count_kv (default: head_count),
// A.attention.key_length (default: A.embedding_length / head_count), A.rope.freq_base
// (default 10000), A.context_length, A.attention.sliding_window, and for latent attention
// A.attention.kv_lora_rank with A.rope.dimension_count. The name is general.name, else A.
// Throws KVC_ERR_INVALID_ARGUMENT naming the missing or invalid key.
Adapter from_gguf_metadata(const GgufMetadata& metadata);

// read_gguf_metadata then from_gguf_metadata; the source names the file.
Adapter from_gguf(const std::string& path);

}  // namespace kvc::adapters
