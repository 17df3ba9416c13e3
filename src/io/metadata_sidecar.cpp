// metadata_sidecar.cpp: reads a cache's JSON sidecar, checks metadata against the tensors, and
// writes the sidecar's text.
#include "io/metadata_sidecar.h"

#include <charconv>
#include <memory>

#include "core/json_document.h"
#include "io/file_reader.h"
#include "io/io_error.h"
#include "io/safetensors.h"
#include "io/safetensors_header.h"

namespace kvc::io {
namespace {

constexpr uint64_t kMaxSidecarBytes = uint64_t{1} << 20;
constexpr size_t kBriefChars = 60;
constexpr std::string_view kSuffix = ".safetensors";
constexpr std::string_view kFieldNames[] = {"num_layers", "num_kv_heads", "seq_len",
                                            "head_dim",   "dtype",        "model_name"};

const MetadataValue* find(const Metadata& metadata, std::string_view name) {
  for (const auto& [field, value] : metadata.fields) {
    if (field == name) return &value;
  }
  return nullptr;
}

// A non-negative integer from a JSON unsigned number or a string of decimal digits.
std::optional<uint64_t> as_count(const MetadataValue& value) {
  if (value.kind == MetadataValue::Kind::kUnsigned) return value.count;
  if (value.kind != MetadataValue::Kind::kString) return std::nullopt;
  const std::string_view text = value.string;
  uint64_t count = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, count);
  if (text.empty() || error != std::errc() || stop != end) return std::nullopt;
  return count;
}

MetadataValue value_of(const JsonValue& json) {
  MetadataValue value;
  value.brief = json.brief(kBriefChars);
  if (json.is_string()) {
    value.kind = MetadataValue::Kind::kString;
    value.string = json.string();
  } else if (json.is_unsigned()) {
    value.kind = MetadataValue::Kind::kUnsigned;
    value.count = json.unsigned_value();
  } else if (json.is_null()) {
    value.kind = MetadataValue::Kind::kNull;
  }
  return value;
}

}  // namespace

bool is_metadata_field(std::string_view name) {
  for (const std::string_view field : kFieldNames) {
    if (field == name) return true;
  }
  return false;
}

std::string metadata_sidecar_path(const std::string& path) {
  std::string_view stem = path;
  if (stem.ends_with(kSuffix)) stem.remove_suffix(kSuffix.size());
  return std::string(stem) + ".metadata.json";
}

std::optional<Metadata> read_sidecar(const std::string& path) {
  const std::string sidecar_path = metadata_sidecar_path(path);
  std::optional<OpenFile> file = open_for_reading(sidecar_path, /*may_be_absent=*/true);
  if (!file) return std::nullopt;
  if (file->size_bytes > kMaxSidecarBytes) {
    throw_corrupt(sidecar_path, "sidecar is " + std::to_string(file->size_bytes) +
                                    " bytes, more than the " + std::to_string(kMaxSidecarBytes) +
                                    "-byte limit");
  }
  std::string text(file->size_bytes, '\0');
  read_exactly(file->fd.get(), 0, text.data(), text.size(), sidecar_path);
  // Rejects duplicate keys (two readers of one file must not see different values) and nesting
  // deeper than kMaxJsonDepth, as the safetensors reference reader does for its header.
  auto document = std::make_unique<JsonDocument>();
  std::string error;
  if (!document->parse(text, DuplicateKeys::kReject, &error)) {
    throw_corrupt(sidecar_path, "sidecar " + error);
  }
  const JsonValue fields = document->root();
  if (!fields.is_object()) {
    throw_corrupt(sidecar_path,
                  "sidecar is a JSON " + std::string(fields.type_name()) + ", not an object");
  }
  Metadata metadata{"sidecar " + sidecar_path, {}};
  for (const std::string_view name : kFieldNames) {
    if (const std::optional<JsonValue> found = fields.find(name)) {
      metadata.fields.emplace_back(std::string(name), value_of(*found));
    }
  }
  return metadata;
}

std::string check_metadata(const std::string& path, const Metadata& metadata,
                           const CacheDims& dims) {
  const std::pair<const char*, uint64_t> counts[] = {
      {"num_layers", dims.num_layers},
      {"num_kv_heads", dims.num_kv_heads},
      {"seq_len", dims.num_tokens},
      {"head_dim", dims.head_dim},
  };
  for (const auto& [field, actual] : counts) {
    const MetadataValue* found = find(metadata, field);
    if (!found) continue;
    const std::optional<uint64_t> declared = as_count(*found);
    if (!declared) {
      throw_corrupt(path, metadata.origin + ": " + field + " " + found->brief +
                              " is not a non-negative integer");
    }
    if (*declared != actual) {
      throw_not_a_cache(path, metadata.origin + ": " + field + " " + std::to_string(*declared) +
                                  " does not match the tensors' " + std::to_string(actual));
    }
  }
  if (const MetadataValue* dtype = find(metadata, "dtype")) {
    if (dtype->kind != MetadataValue::Kind::kString) {
      throw_corrupt(path, metadata.origin + ": dtype " + dtype->brief + " is not a string");
    }
    if (dtype->string != dtype_name(dims.dtype)) {
      throw_not_a_cache(path, metadata.origin + ": dtype \"" + dtype->string +
                                  "\" does not match the tensors' " + dtype_name(dims.dtype) +
                                  " (" + safetensors_dtype_name(dims.dtype) + ")");
    }
  }
  const MetadataValue* model_name = find(metadata, "model_name");
  if (!model_name || model_name->kind == MetadataValue::Kind::kNull) return "";
  if (model_name->kind != MetadataValue::Kind::kString) {
    throw_corrupt(path, metadata.origin + ": model_name " + model_name->brief + " is not a string");
  }
  return model_name->string;
}

std::string sidecar_json(const CacheDims& dims, const std::string& quoted_model_name) {
  return "{\n  \"num_layers\": " + std::to_string(dims.num_layers) +
         ",\n  \"num_kv_heads\": " + std::to_string(dims.num_kv_heads) +
         ",\n  \"seq_len\": " + std::to_string(dims.num_tokens) +
         ",\n  \"head_dim\": " + std::to_string(dims.head_dim) + ",\n  \"dtype\": \"" +
         dtype_name(dims.dtype) + "\",\n  \"model_name\": " + quoted_model_name + "\n}\n";
}

}  // namespace kvc::io
