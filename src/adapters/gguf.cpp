// gguf.cpp: GGUF header and key/value reader, bounded for untrusted files; adapters from it.
#include "adapters/gguf.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/error.h"

namespace kvc::adapters {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr uint32_t kTypeString = 8;
constexpr uint32_t kTypeArray = 9;
constexpr size_t kFirstReadBytes = size_t{1} << 20;

// Thrown when the bytes end before the metadata does; the file reader then reads more.
struct OutOfBytes {};

// Reads little-endian values from bytes; never past their end.
class Cursor {
 public:
  explicit Cursor(std::span<const unsigned char> bytes) : bytes_(bytes) {}

  size_t offset() const { return offset_; }

  const unsigned char* take(uint64_t n) {
    if (n > bytes_.size() - offset_) throw OutOfBytes{};
    const unsigned char* p = bytes_.data() + offset_;
    offset_ += static_cast<size_t>(n);
    return p;
  }
  template <class T>
  T read() {
    T value;
    std::memcpy(&value, take(sizeof value), sizeof value);  // the hosts kvc runs on are LE
    return value;
  }
  std::string read_string(uint64_t max_bytes, const char* what) {
    const uint64_t n = read<uint64_t>();
    require_intact(n <= max_bytes, std::string("GGUF: ") + what + " of " + std::to_string(n) +
                                       " bytes is beyond the limit of " +
                                       std::to_string(max_bytes));
    const unsigned char* p = take(n);
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  }

 private:
  std::span<const unsigned char> bytes_;
  size_t offset_ = 0;
};

// Bytes of one element of a fixed-size type; 0 for string, array or unknown types.
size_t fixed_size(uint32_t type) {
  switch (type) {
    case 0:  // uint8
    case 1:  // int8
    case 7:  // bool
      return 1;
    case 2:  // uint16
    case 3:  // int16
      return 2;
    case 4:  // uint32
    case 5:  // int32
    case 6:  // float32
      return 4;
    case 10:  // uint64
    case 11:  // int64
    case 12:  // float64
      return 8;
    default:
      return 0;
  }
}

void require_known_type(uint32_t type, const std::string& key) {
  require_intact(fixed_size(type) != 0 || type == kTypeString || type == kTypeArray,
                 "GGUF: " + key + " has unknown value type " + std::to_string(type));
}

void skip_array(Cursor& c, uint32_t type, uint64_t count, int depth, const std::string& key) {
  require_intact(depth <= kGgufMaxArrayDepth, "GGUF: " + key + " nests arrays too deeply");
  require_known_type(type, key);
  // Each item takes at least its fixed size, a string's length or an array's type and count.
  const size_t least_item_bytes =
      fixed_size(type) != 0 ? fixed_size(type) : (type == kTypeString ? 8 : 12);
  require_intact(count <= kGgufMaxMetadataBytes / least_item_bytes,
                 "GGUF: " + key + " has an array of " + std::to_string(count) + " items");
  if (const size_t size = fixed_size(type)) {
    c.take(count * size);
    return;
  }
  for (uint64_t i = 0; i < count; ++i) {
    if (type == kTypeString) {
      c.read_string(kGgufMaxMetadataBytes, "a string in an array");
    } else {
      const auto inner_type = c.read<uint32_t>();
      const auto inner_count = c.read<uint64_t>();
      skip_array(c, inner_type, inner_count, depth + 1, key);
    }
  }
}

GgufValue read_value(Cursor& c, uint32_t type, const std::string& key) {
  require_known_type(type, key);
  GgufValue v;
  v.type = type;
  switch (type) {
    case 0:
      v.kind = GgufValue::Kind::kUnsigned;
      v.as_unsigned = c.read<uint8_t>();
      break;
    case 1:
      v.kind = GgufValue::Kind::kSigned;
      v.as_signed = c.read<int8_t>();
      break;
    case 2:
      v.kind = GgufValue::Kind::kUnsigned;
      v.as_unsigned = c.read<uint16_t>();
      break;
    case 3:
      v.kind = GgufValue::Kind::kSigned;
      v.as_signed = c.read<int16_t>();
      break;
    case 4:
      v.kind = GgufValue::Kind::kUnsigned;
      v.as_unsigned = c.read<uint32_t>();
      break;
    case 5:
      v.kind = GgufValue::Kind::kSigned;
      v.as_signed = c.read<int32_t>();
      break;
    case 6:
      v.kind = GgufValue::Kind::kFloat;
      v.as_float = c.read<float>();
      break;
    case 7: {
      const auto b = c.read<uint8_t>();
      require_intact(b <= 1, "GGUF: " + key + " is a bool of value " + std::to_string(b));
      v.kind = GgufValue::Kind::kBool;
      v.as_unsigned = b;
      break;
    }
    case kTypeString:
      v.kind = GgufValue::Kind::kString;
      v.as_string = c.read_string(kGgufMaxMetadataBytes, "a string value");
      break;
    case kTypeArray:
      v.kind = GgufValue::Kind::kArray;
      v.array_type = c.read<uint32_t>();
      v.array_count = c.read<uint64_t>();
      skip_array(c, v.array_type, v.array_count, 1, key);
      break;
    case 10:
      v.kind = GgufValue::Kind::kUnsigned;
      v.as_unsigned = c.read<uint64_t>();
      break;
    case 11:
      v.kind = GgufValue::Kind::kSigned;
      v.as_signed = c.read<int64_t>();
      break;
    case 12:
      v.kind = GgufValue::Kind::kFloat;
      v.as_float = c.read<double>();
      break;
    default:
      break;
  }
  return v;
}

// Parses the metadata; throws OutOfBytes when bytes end first.
GgufMetadata parse(std::span<const unsigned char> bytes) {
  Cursor c(bytes);
  require_intact(c.read<uint32_t>() == kMagic, "GGUF: the file does not start with 'GGUF'");
  GgufMetadata m;
  m.version = c.read<uint32_t>();
  if (m.version != 2 && m.version != 3) {
    throw Error(KVC_ERR_UNSUPPORTED_VERSION,
                "GGUF: version " + std::to_string(m.version) + " is not 2 or 3");
  }
  m.tensor_count = c.read<uint64_t>();
  require_intact(m.tensor_count <= kGgufMaxTensors,
                 "GGUF: tensor_count " + std::to_string(m.tensor_count) + " is beyond the limit");
  const auto kv_count = c.read<uint64_t>();
  require_intact(kv_count <= kGgufMaxKeyValues,
                 "GGUF: kv_count " + std::to_string(kv_count) + " is beyond the limit");
  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string key = c.read_string(kGgufMaxKeyBytes, "a key");
    require_intact(!key.empty() && key.find('\0') == std::string::npos,
                   "GGUF: key " + std::to_string(i) + " is empty or holds a NUL byte");
    const auto type = c.read<uint32_t>();
    GgufValue value = read_value(c, type, key);
    require_intact(
        c.offset() <= kGgufMaxMetadataBytes,
        "GGUF: the metadata exceeds " + std::to_string(kGgufMaxMetadataBytes) + " bytes");
    const bool is_new = m.values.emplace(key, std::move(value)).second;
    require_intact(is_new, "GGUF: key " + key + " appears twice");
  }
  m.metadata_bytes = c.offset();
  return m;
}

const GgufValue* lookup(const GgufMetadata& m, const std::string& key) {
  const auto it = m.values.find(key);
  return it == m.values.end() ? nullptr : &it->second;
}

// A positive count that fits int32; 0 when the key is absent.
int32_t count_or_zero(const GgufMetadata& m, const std::string& key) {
  const GgufValue* v = lookup(m, key);
  if (v == nullptr) return 0;
  require(v->kind != GgufValue::Kind::kArray,
          "GGUF: " + key + " is an array (per-layer values are not supported)");
  std::string shown;  // the value as stored, for the message
  int64_t n = 0;
  if (v->kind == GgufValue::Kind::kUnsigned) {
    n = v->as_unsigned > uint64_t{INT32_MAX} ? -1 : static_cast<int64_t>(v->as_unsigned);
    shown = std::to_string(v->as_unsigned);
  } else if (v->kind == GgufValue::Kind::kSigned) {
    n = v->as_signed;
    shown = std::to_string(v->as_signed);
  } else {
    throw Error(KVC_ERR_INVALID_ARGUMENT, "GGUF: " + key + " is not an integer");
  }
  require(n > 0 && n <= INT32_MAX,
          "GGUF: " + key + " " + shown + " is not a positive 32-bit count");
  return static_cast<int32_t>(n);
}

int32_t required_count(const GgufMetadata& m, const std::string& key) {
  require(lookup(m, key) != nullptr, "GGUF: " + key + " is missing");
  return count_or_zero(m, key);
}

std::string string_or_empty(const GgufMetadata& m, const std::string& key) {
  const GgufValue* v = lookup(m, key);
  return v != nullptr && v->kind == GgufValue::Kind::kString ? v->as_string : std::string();
}

// A name safe to print: control characters become '?'; at most 63 bytes.
std::string printable_name(const std::string& text) {
  std::string out;
  for (const char ch : text.substr(0, 63)) {
    const auto u = static_cast<unsigned char>(ch);
    out += (u < 0x20 || u == 0x7F) ? '?' : ch;
  }
  return out;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

GgufMetadata parse_gguf_metadata(std::span<const unsigned char> bytes) {
  try {
    return parse(bytes);
  } catch (const OutOfBytes&) {
    throw Error(KVC_ERR_CORRUPT_DATA, "GGUF: the data ends inside the metadata (truncated)");
  }
}

GgufMetadata read_gguf_metadata(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw Error(KVC_ERR_IO, path + ": " + std::strerror(errno));
  std::vector<unsigned char> bytes;
  size_t want = kFirstReadBytes;
  for (;;) {
    const size_t have = bytes.size();
    bytes.resize(want);
    const size_t got = std::fread(bytes.data() + have, 1, want - have, file.get());
    if (got < want - have && std::ferror(file.get())) {
      throw Error(KVC_ERR_IO, path + ": " + std::strerror(errno));
    }
    bytes.resize(have + got);
    const bool is_whole_file = got < want - have;
    try {
      return parse(bytes);
    } catch (const OutOfBytes&) {
      require_intact(!is_whole_file,
                     path + ": GGUF: the file ends inside the metadata (truncated)");
      require_intact(want < kGgufMaxMetadataBytes + 8, path + ": GGUF: the metadata exceeds " +
                                                           std::to_string(kGgufMaxMetadataBytes) +
                                                           " bytes");
      want = std::min(want * 2, kGgufMaxMetadataBytes + 8);
    } catch (const Error& e) {
      if (e.code() == KVC_ERR_CORRUPT_DATA || e.code() == KVC_ERR_UNSUPPORTED_VERSION) {
        throw Error(e.code(), path + ": " + e.what());
      }
      throw;
    }
  }
}

Adapter from_gguf_metadata(const GgufMetadata& m) {
  const std::string arch = string_or_empty(m, "general.architecture");
  require(!arch.empty(), "GGUF: general.architecture is missing or not a string");
  const std::string p = arch + ".";

  Adapter a;
  a.name = printable_name(string_or_empty(m, "general.name"));
  if (a.name.empty()) a.name = printable_name(arch);
  a.family = printable_name(arch);
  const Adapter* known = find(a.name);
  const std::string basename = string_or_empty(m, "general.basename");
  const std::string size_label = string_or_empty(m, "general.size_label");
  if (known == nullptr && !basename.empty()) known = find(basename + "-" + size_label);
  if (known != nullptr) a.policy = known->policy;
  a.source = "GGUF (general.architecture " + a.family + ")";

  a.num_layers = required_count(m, p + "block_count");
  a.num_query_heads = required_count(m, p + "attention.head_count");
  a.num_kv_heads = count_or_zero(m, p + "attention.head_count_kv");
  if (a.num_kv_heads == 0) a.num_kv_heads = a.num_query_heads;
  a.head_dim = count_or_zero(m, p + "attention.key_length");
  if (a.head_dim == 0) {
    const int32_t embedding = required_count(m, p + "embedding_length");
    require(embedding % a.num_query_heads == 0,
            "GGUF: " + p + "embedding_length " + std::to_string(embedding) +
                " is not a multiple of " + p + "attention.head_count " +
                std::to_string(a.num_query_heads));
    a.head_dim = embedding / a.num_query_heads;
  }
  a.rope_theta = 10000.0;
  if (const GgufValue* v = lookup(m, p + "rope.freq_base")) {
    require(v->kind == GgufValue::Kind::kFloat && v->as_float > 0.0 &&
                v->as_float < std::numeric_limits<double>::infinity(),
            "GGUF: " + p + "rope.freq_base is not a positive float");
    a.rope_theta = v->as_float;
  }
  a.context_tokens = count_or_zero(m, p + "context_length");
  if (lookup(m, p + "attention.kv_lora_rank") != nullptr) {
    a.attention = AttentionType::kLatent;
    a.latent_dim = required_count(m, p + "attention.kv_lora_rank");
    a.rope_key_dim = required_count(m, p + "rope.dimension_count");
    const int64_t cached = int64_t{a.latent_dim} + a.rope_key_dim;
    require(cached <= INT32_MAX,
            "GGUF: " + p + "attention.kv_lora_rank " + std::to_string(a.latent_dim) + " + " + p +
                "rope.dimension_count " + std::to_string(a.rope_key_dim) + " is out of range");
    a.num_kv_heads = 1;
    a.head_dim = static_cast<int32_t>(cached);
  } else if (const int32_t window = count_or_zero(m, p + "attention.sliding_window")) {
    a.attention = AttentionType::kSlidingWindow;
    a.window_tokens = window;
  }
  validate(a);
  return a;
}

Adapter from_gguf(const std::string& path) {
  Adapter a = from_gguf_metadata(read_gguf_metadata(path));
  a.source = path + ": " + a.source;
  return a;
}

}  // namespace kvc::adapters
