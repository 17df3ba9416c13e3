// metadata_sidecar.h: a cache's metadata, from its JSON sidecar or its header's __metadata__: the
// fields kvc reads, their check against the tensors, and the sidecar's text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/cache_view.h"

namespace kvc::io {

// One metadata value as the file holds it.
struct MetadataValue {
  enum class Kind : uint8_t { kString, kUnsigned, kNull, kOther };
  Kind kind = Kind::kOther;
  std::string string;  // kString
  uint64_t count = 0;  // kUnsigned
  std::string brief;   // the value as JSON text, cut short for messages
};

// The fields kvc reads (num_layers, num_kv_heads, seq_len, head_dim, dtype, model_name) of a
// sidecar or of __metadata__; other fields are not kept.
struct Metadata {
  std::string origin;  // "sidecar <path>" or "__metadata__"
  std::vector<std::pair<std::string, MetadataValue>> fields;
};

// Whether name is one of the fields Metadata keeps.
bool is_metadata_field(std::string_view name);

// The sidecar of the cache file at path (see metadata_sidecar_path), or nullopt if there is none.
// Throws Error: KVC_ERR_IO, or KVC_ERR_CORRUPT_DATA for a sidecar over 1 MiB or not a JSON object.
std::optional<Metadata> read_sidecar(const std::string& path);

// Checks that metadata agrees with the tensors' dims; returns its model_name, or "" when it has
// none. A field of the wrong type is KVC_ERR_CORRUPT_DATA, one that disagrees
// KVC_ERR_INVALID_ARGUMENT; messages start with path.
std::string check_metadata(const std::string& path, const Metadata& metadata,
                           const CacheDims& dims);

// The sidecar's text: the dimensions as numbers, indented as json.dump(indent=2) writes them.
std::string sidecar_json(const CacheDims& dims, const std::string& quoted_model_name);

}  // namespace kvc::io
