// safetensors.cpp: validating safetensors reader and atomic writer for layer_{i}_key/value caches.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/json_document.h"

namespace kvc::io {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian and is copied as is");

constexpr uint64_t kLengthFieldBytes = 8;
constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr uint64_t kMaxSidecarBytes = uint64_t{1} << 20;
constexpr uint64_t kMaxBytesPerCall = uint64_t{1} << 30;
constexpr uint64_t kWriteChunkBytes = uint64_t{4} << 20;
constexpr std::string_view kMetadataKey = "__metadata__";
constexpr std::string_view kSuffix = ".safetensors";

// Every dtype the safetensors format defines, with its size in bits.
struct SafetensorsDtype {
  std::string_view name;
  uint32_t bits;
};
constexpr SafetensorsDtype kSafetensorsDtypes[] = {
    {"BOOL", 8}, {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"I16", 16},
    {"U16", 16}, {"F16", 16},    {"BF16", 16},   {"I32", 32},    {"U32", 32},
    {"F32", 32}, {"C64", 64},    {"F64", 64},    {"I64", 64},    {"U64", 64},
};

std::optional<uint32_t> safetensors_dtype_bits(std::string_view name) {
  for (const SafetensorsDtype& d : kSafetensorsDtypes) {
    if (d.name == name) return d.bits;
  }
  return std::nullopt;
}

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
  }
  return "unknown";
}

std::optional<DType> cache_dtype(std::string_view safetensors_name) {
  if (safetensors_name == "F16") return DType::F16;
  if (safetensors_name == "BF16") return DType::BF16;
  if (safetensors_name == "F32") return DType::F32;
  return std::nullopt;
}

// ---- Messages -----------------------------------------------------------------------------

std::string errno_text(int error_number) {
  return std::error_code(error_number, std::generic_category()).message();
}

[[noreturn]] void throw_io(const std::string& path, int error_number) {
  throw Error(KVC_ERR_IO, path + ": " + errno_text(error_number));
}

[[noreturn]] void throw_corrupt(const std::string& path, const std::string& what) {
  throw Error(KVC_ERR_CORRUPT_DATA, path + ": " + what);
}

[[noreturn]] void throw_not_a_cache(const std::string& path, const std::string& what) {
  throw Error(KVC_ERR_INVALID_ARGUMENT, path + ": " + what);
}

// A JSON value as message text, cut short so that a hostile header cannot flood the message.
std::string short_dump(const JsonValue& value) { return value.brief(60); }

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ",";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

std::string offsets_text(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// ---- POSIX files --------------------------------------------------------------------------

// Owns a file descriptor; closes it on destruction.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  FileDescriptor& operator=(FileDescriptor&&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now; returns 0 or close()'s errno.
  int close_now() {
    const int fd = std::exchange(fd_, -1);
    return fd >= 0 && ::close(fd) != 0 ? errno : 0;
  }

 private:
  int fd_;
};

struct OpenFile {
  FileDescriptor fd;
  uint64_t size_bytes;
};

// Opens a regular file for reading; nullopt when it does not exist and may_be_absent holds.
std::optional<OpenFile> open_for_reading(const std::string& path, bool may_be_absent) {
  int raw_fd;
  do {
    raw_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block
  } while (raw_fd < 0 && errno == EINTR);
  if (raw_fd < 0) {
    if (may_be_absent && errno == ENOENT) return std::nullopt;
    throw_io(path, errno);
  }
  FileDescriptor fd(raw_fd);
  struct stat info;
  if (::fstat(fd.get(), &info) != 0) throw_io(path, errno);
  if (S_ISDIR(info.st_mode)) throw_io(path, EISDIR);
  if (!S_ISREG(info.st_mode)) throw Error(KVC_ERR_IO, path + ": not a regular file");
  return OpenFile{std::move(fd), static_cast<uint64_t>(info.st_size)};
}

// Reads exactly size_bytes at offset: a failed read is KVC_ERR_IO, a file that ends first is
// KVC_ERR_CORRUPT_DATA (it shrank after its size was checked).
void read_exactly(int fd, uint64_t offset, void* dst, uint64_t size_bytes,
                  const std::string& path) {
  auto* out = static_cast<unsigned char*>(dst);
  while (size_bytes > 0) {
    const auto want = static_cast<size_t>(std::min(size_bytes, kMaxBytesPerCall));
    const ssize_t got = ::pread(fd, out, want, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_io(path, errno);
    }
    if (got == 0) throw_corrupt(path, "file ends early, at byte " + std::to_string(offset));
    out += got;
    offset += static_cast<uint64_t>(got);
    size_bytes -= static_cast<uint64_t>(got);
  }
}

// Writes "<path>.tmp.<pid>", then fsync and rename over path on flush() and commit(); removes
// the temporary file if destroyed before a successful commit.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path)
      : path_(std::move(path)),
        temp_path_(path_ + ".tmp." + std::to_string(::getpid())),
        directory_(parent_directory(path_)) {
    int raw_fd;
    do {
      raw_fd = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    } while (raw_fd < 0 && errno == EINTR);
    if (raw_fd < 0) throw_io(path_, errno);
    fd_ = raw_fd;
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (is_committed_) return;
    if (fd_ >= 0) ::close(fd_);
    ::unlink(temp_path_.c_str());
  }

  void write(const void* data, uint64_t size_bytes) {
    const auto* in = static_cast<const unsigned char*>(data);
    while (size_bytes > 0) {
      const auto want = static_cast<size_t>(std::min(size_bytes, kMaxBytesPerCall));
      const ssize_t put = ::write(fd_, in, want);
      if (put < 0) {
        if (errno == EINTR) continue;
        throw_io(path_, errno);
      }
      if (put == 0) throw_io(path_, EIO);
      in += put;
      size_bytes -= static_cast<uint64_t>(put);
    }
  }

  // Makes the written bytes durable (fsync and close): the step that may fail.
  void flush() {
    if (::fsync(fd_) != 0) throw_io(path_, errno);
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) throw_io(path_, errno);
  }

  // Renames the flushed temporary file over path.
  void commit() {
    if (fd_ >= 0) flush();
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) throw_io(path_, errno);
    is_committed_ = true;
    sync_parent_directory();
  }

 private:
  static std::string parent_directory(const std::string& path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash + 1);
  }

  // Makes the rename durable; best effort, as some file systems refuse fsync on directories.
  // Allocates nothing, so a committed file is never followed by an out-of-memory error.
  void sync_parent_directory() const {
    const int dir_fd = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return;
    (void)::fsync(dir_fd);
    ::close(dir_fd);
  }

  std::string path_;
  std::string temp_path_;
  std::string directory_;  // of path_, for sync_parent_directory()
  int fd_ = -1;
  bool is_committed_ = false;
};

// ---- JSON ---------------------------------------------------------------------------------

// Parses text as JSON, rejecting duplicate keys in any object (two readers of one file must not
// see different tensors) and nesting deeper than kMaxJsonDepth, as the reference reader does.
void parse_document(const std::string& text, const std::string& path, const std::string& what,
                    JsonDocument* document) {
  std::string error;
  if (!document->parse(text, DuplicateKeys::kReject, &error))
    throw_corrupt(path, what + " " + error);
}

// A non-negative integer from a JSON unsigned number or a string of decimal digits.
std::optional<uint64_t> as_count(const JsonValue& value) {
  if (value.is_unsigned()) return value.unsigned_value();
  if (!value.is_string()) return std::nullopt;
  const std::string_view text = value.string();
  uint64_t count = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, count);
  if (text.empty() || error != std::errc() || stop != end) return std::nullopt;
  return count;
}

// ---- Header validation (the safetensors rules) --------------------------------------------

struct TensorEntry {
  std::string name;
  std::string dtype;
  std::vector<uint64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
  uint32_t layer = 0;   // filled by the KV cache checks
  bool is_key = false;  // filled by the KV cache checks
};

struct Header {
  std::vector<TensorEntry> tensors;        // sorted by data_offsets
  std::unique_ptr<JsonDocument> document;  // the parsed header
  std::optional<JsonValue> metadata;       // its __metadata__ object, if any
};

TensorEntry parse_entry(const std::string& path, std::string_view name, const JsonValue& value,
                        uint64_t buffer_bytes) {
  const std::string where = "tensor " + std::string(name) + ": ";
  if (!value.is_object()) {
    throw_corrupt(path, where + "entry is " + short_dump(value) + ", not an object");
  }
  TensorEntry entry;
  entry.name = name;

  const std::optional<JsonValue> dtype = value.find("dtype");
  if (!dtype) throw_corrupt(path, where + "dtype is missing");
  if (!dtype->is_string()) {
    throw_corrupt(path, where + "dtype " + short_dump(*dtype) + " is not a string");
  }
  entry.dtype = dtype->string();
  const std::optional<uint32_t> dtype_bits = safetensors_dtype_bits(entry.dtype);
  if (!dtype_bits) throw_corrupt(path, where + "unknown dtype \"" + entry.dtype + "\"");

  const auto is_counts = [](const JsonValue& array) {
    return array.is_array() &&
           std::all_of(array.begin(), array.end(), [](JsonValue d) { return d.is_unsigned(); });
  };
  const std::optional<JsonValue> shape = value.find("shape");
  if (!shape) throw_corrupt(path, where + "shape is missing");
  if (!is_counts(*shape)) {
    throw_corrupt(
        path, where + "shape " + short_dump(*shape) + " is not an array of non-negative integers");
  }
  entry.shape.reserve(shape->size());
  for (const JsonValue d : *shape) entry.shape.push_back(d.unsigned_value());

  const std::optional<JsonValue> offsets = value.find("data_offsets");
  if (!offsets) throw_corrupt(path, where + "data_offsets is missing");
  if (!is_counts(*offsets) || offsets->size() != 2) {
    throw_corrupt(path, where + "data_offsets " + short_dump(*offsets) +
                            " is not [begin, end] with non-negative integers");
  }
  auto offset = offsets->begin();
  entry.begin = (*offset).unsigned_value();
  entry.end = (*++offset).unsigned_value();
  const std::string offsets_field = "data_offsets " + offsets_text(entry.begin, entry.end);
  if (entry.begin > entry.end) throw_corrupt(path, where + offsets_field + " begin after end");
  if (entry.end > buffer_bytes) {
    throw_corrupt(path, where + offsets_field + " exceed the data buffer of " +
                            std::to_string(buffer_bytes) + " bytes");
  }

  const std::string shape_field = "shape " + shape_text(entry.shape) + " x " + entry.dtype;
  uint64_t elements = 1;
  for (const uint64_t d : entry.shape) {
    if (__builtin_mul_overflow(elements, d, &elements)) {
      throw_corrupt(path, where + shape_field + " overflows 64 bits");
    }
  }
  uint64_t bits = 0;
  if (__builtin_mul_overflow(elements, uint64_t{*dtype_bits}, &bits)) {
    throw_corrupt(path, where + shape_field + " overflows 64 bits");
  }
  if (bits % 8 != 0) throw_corrupt(path, where + shape_field + " is not a whole number of bytes");
  if (bits / 8 != entry.end - entry.begin) {
    throw_corrupt(path, where + offsets_field + " do not match " + shape_field + " = " +
                            std::to_string(bits / 8) + " bytes");
  }
  return entry;
}

// Tensors sorted by offset must tile the data buffer: first at 0, each starting where the
// previous ends, the last ending at the buffer's end.
void check_coverage(const std::string& path, std::vector<TensorEntry>& tensors,
                    uint64_t buffer_bytes) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t covered = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& t : tensors) {
    if (t.begin < covered) {
      throw_corrupt(path, "tensor " + t.name + ": data_offsets " + offsets_text(t.begin, t.end) +
                              " overlap tensor " + previous->name + " at " +
                              offsets_text(previous->begin, previous->end));
    }
    if (t.begin > covered) {
      throw_corrupt(path, "data buffer bytes [" + std::to_string(covered) + ", " +
                              std::to_string(t.begin) + ") belong to no tensor (gap before " +
                              t.name + ")");
    }
    covered = t.end;
    previous = &t;
  }
  if (covered != buffer_bytes) {
    throw_corrupt(path, "data buffer bytes [" + std::to_string(covered) + ", " +
                            std::to_string(buffer_bytes) +
                            ") belong to no tensor (trailing bytes after the last tensor)");
  }
}

Header parse_header(const std::string& path, const std::string& text, uint64_t buffer_bytes) {
  Header header;
  header.document = std::make_unique<JsonDocument>();
  parse_document(text, path, "header", header.document.get());
  const JsonValue document = header.document->root();
  if (!document.is_object()) {
    throw_corrupt(path,
                  "header is a JSON " + std::string(document.type_name()) + ", not an object");
  }
  header.tensors.reserve(document.size());
  for (const JsonValue value : document) {
    const std::string_view name = value.key();
    if (name != kMetadataKey) {
      header.tensors.push_back(parse_entry(path, name, value, buffer_bytes));
      continue;
    }
    if (value.is_null()) continue;  // the reference reader treats null as absent
    if (!value.is_object()) {
      throw_corrupt(path, "__metadata__ is " + short_dump(value) + ", not an object");
    }
    for (const JsonValue field : value) {
      if (!field.is_string()) {
        throw_corrupt(path, "__metadata__ \"" + std::string(field.key()) + "\" is " +
                                short_dump(field) + ", not a string");
      }
    }
    header.metadata = value;
  }
  check_coverage(path, header.tensors, buffer_bytes);
  return header;
}

// ---- KV cache convention ------------------------------------------------------------------

// "layer_<i>_key" or "layer_<i>_value" with i a decimal without leading zeros.
bool parse_layer_name(std::string_view name, uint32_t* layer, bool* is_key) {
  constexpr std::string_view kPrefix = "layer_";
  if (!name.starts_with(kPrefix)) return false;
  name.remove_prefix(kPrefix.size());
  if (name.ends_with("_key")) {
    *is_key = true;
    name.remove_suffix(4);
  } else if (name.ends_with("_value")) {
    *is_key = false;
    name.remove_suffix(6);
  } else {
    return false;
  }
  if (name.empty() || (name.size() > 1 && name[0] == '0')) return false;
  const char* end = name.data() + name.size();
  const auto [stop, error] = std::from_chars(name.data(), end, *layer);
  return error == std::errc() && stop == end && *layer < std::numeric_limits<uint32_t>::max();
}

// Checks that the tensors form one KV cache and returns its dimensions.
CacheDims check_kv_cache(const std::string& path, std::vector<TensorEntry>& tensors) {
  struct LayerTensors {
    const TensorEntry* key = nullptr;
    const TensorEntry* value = nullptr;
  };
  std::unordered_map<uint32_t, LayerTensors> layers;
  uint32_t max_layer = 0;
  for (TensorEntry& t : tensors) {
    if (!parse_layer_name(t.name, &t.layer, &t.is_key)) {
      throw_not_a_cache(path, "unexpected tensor \"" + t.name +
                                  "\": a KV cache holds only layer_<i>_key and layer_<i>_value");
    }
    (t.is_key ? layers[t.layer].key : layers[t.layer].value) = &t;
    max_layer = std::max(max_layer, t.layer);
  }
  if (tensors.empty()) {
    throw_not_a_cache(path, "no tensors: a KV cache holds layer_<i>_key and layer_<i>_value");
  }
  // Stops at the first gap, so this runs at most layers.size() + 1 times.
  for (uint32_t l = 0; l <= max_layer; ++l) {
    const auto found = layers.find(l);
    const bool has_key = found != layers.end() && found->second.key;
    const bool has_value = found != layers.end() && found->second.value;
    if (!has_key || !has_value) {
      throw_not_a_cache(path, "missing tensor layer_" + std::to_string(l) +
                                  (has_key ? "_value" : "_key") + " (the file has layers up to " +
                                  std::to_string(max_layer) + ")");
    }
  }

  const TensorEntry& first = *layers[0].key;
  const std::optional<DType> dtype = cache_dtype(first.dtype);
  if (!dtype) {
    throw_not_a_cache(
        path, "tensor " + first.name + ": dtype " + first.dtype + " is not F16, BF16 or F32");
  }
  const std::vector<uint64_t>& shape = first.shape;
  const bool is_batched = shape.size() == 4 && shape[0] == 1;
  if (!is_batched && shape.size() != 3) {
    throw_not_a_cache(path, "tensor " + first.name + ": shape " + shape_text(shape) +
                                " is not [1, kv_heads, tokens, head_dim] or [kv_heads, "
                                "tokens, head_dim]");
  }
  for (const TensorEntry& t : tensors) {
    if (t.dtype != first.dtype) {
      throw_not_a_cache(path, "tensor " + t.name + ": dtype " + t.dtype + " differs from " +
                                  first.name + "'s " + first.dtype);
    }
    if (t.shape != shape) {
      throw_not_a_cache(path, "tensor " + t.name + ": shape " + shape_text(t.shape) +
                                  " differs from " + first.name + "'s " + shape_text(shape));
    }
  }

  const size_t first_dim = is_batched ? 1 : 0;
  const char* const kDimNames[] = {"num_kv_heads", "num_tokens", "head_dim"};
  uint32_t dims[3];
  for (size_t i = 0; i < 3; ++i) {
    const uint64_t extent = shape[first_dim + i];
    const std::string field = "tensor " + first.name + ": shape " + shape_text(shape) + " has " +
                              kDimNames[i] + " " + std::to_string(extent);
    if (extent == 0) throw_not_a_cache(path, field);
    if (extent > std::numeric_limits<uint32_t>::max()) {
      throw_not_a_cache(path, field + ", more than 4294967295");
    }
    dims[i] = static_cast<uint32_t>(extent);
  }
  CacheDims result;
  result.num_layers = max_layer + 1;
  result.num_kv_heads = dims[0];
  result.num_tokens = dims[1];
  result.head_dim = dims[2];
  result.dtype = *dtype;
  return result;
}

// Fields of the sidecar or of __metadata__ (where every value is a string).
struct MetadataSource {
  std::string origin;                      // "sidecar <path>" or "__metadata__"
  std::unique_ptr<JsonDocument> document;  // the sidecar's; nullptr for __metadata__
  JsonValue fields;                        // a JSON object
};

// Checks that metadata agrees with the tensors' dimensions; returns its model_name or "".
std::string check_metadata(const std::string& path, const MetadataSource& source,
                           const CacheDims& dims) {
  const std::pair<const char*, uint64_t> counts[] = {
      {"num_layers", dims.num_layers},
      {"num_kv_heads", dims.num_kv_heads},
      {"seq_len", dims.num_tokens},
      {"head_dim", dims.head_dim},
  };
  for (const auto& [field, actual] : counts) {
    const std::optional<JsonValue> found = source.fields.find(field);
    if (!found) continue;
    const std::optional<uint64_t> declared = as_count(*found);
    if (!declared) {
      throw_corrupt(path, source.origin + ": " + field + " " + short_dump(*found) +
                              " is not a non-negative integer");
    }
    if (*declared != actual) {
      throw_not_a_cache(path, source.origin + ": " + field + " " + std::to_string(*declared) +
                                  " does not match the tensors' " + std::to_string(actual));
    }
  }
  if (const std::optional<JsonValue> dtype = source.fields.find("dtype")) {
    if (!dtype->is_string()) {
      throw_corrupt(path, source.origin + ": dtype " + short_dump(*dtype) + " is not a string");
    }
    const std::string_view declared = dtype->string();
    if (declared != dtype_name(dims.dtype)) {
      throw_not_a_cache(path, source.origin + ": dtype \"" + std::string(declared) +
                                  "\" does not match the tensors' " + dtype_name(dims.dtype) +
                                  " (" + safetensors_dtype_name(dims.dtype) + ")");
    }
  }
  const std::optional<JsonValue> model_name = source.fields.find("model_name");
  if (!model_name || model_name->is_null()) return "";
  if (!model_name->is_string()) {
    throw_corrupt(path,
                  source.origin + ": model_name " + short_dump(*model_name) + " is not a string");
  }
  return std::string(model_name->string());
}

// The sidecar's fields, or nullopt if there is no sidecar.
std::optional<MetadataSource> read_sidecar(const std::string& path) {
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
  auto document = std::make_unique<JsonDocument>();
  parse_document(text, sidecar_path, "sidecar", document.get());
  const JsonValue fields = document->root();
  if (!fields.is_object()) {
    throw_corrupt(sidecar_path,
                  "sidecar is a JSON " + std::string(fields.type_name()) + ", not an object");
  }
  return MetadataSource{"sidecar " + sidecar_path, std::move(document), fields};
}

// ---- Writing ------------------------------------------------------------------------------

void check_view(const CacheView& cache) {
  const CacheDims& d = cache.dims;
  require(d.num_layers > 0, "num_layers is 0");
  require(d.num_kv_heads > 0, "num_kv_heads is 0");
  require(d.num_tokens > 0, "num_tokens is 0");
  require(d.head_dim > 0, "head_dim is 0");
  require(cache.keys.size() == d.num_layers && cache.values.size() == d.num_layers,
          "cache has " + std::to_string(cache.keys.size()) + " key and " +
              std::to_string(cache.values.size()) + " value pointers for num_layers " +
              std::to_string(d.num_layers));
  require(cache.token_stride >= d.head_dim, "token_stride " + std::to_string(cache.token_stride) +
                                                " is smaller than head_dim " +
                                                std::to_string(d.head_dim));
  for (uint32_t l = 0; l < d.num_layers; ++l) {
    require(cache.keys[l] != nullptr, "keys[" + std::to_string(l) + "] is NULL");
    require(cache.values[l] != nullptr, "values[" + std::to_string(l) + "] is NULL");
  }
}

// Writes one tensor packed [head][token][dim], gathering rows through staging when strided.
void write_tensor(AtomicFile& out, const TensorView& tensor, const CacheDims& dims,
                  std::vector<unsigned char>& staging) {
  const uint64_t row_bytes = uint64_t{dims.head_dim} * dtype_size(dims.dtype);
  const bool is_packed = tensor.token_stride == dims.head_dim &&
                         tensor.head_stride == uint64_t{dims.num_tokens} * dims.head_dim;
  if (is_packed) {
    out.write(tensor.base, dims.bytes_per_tensor());
    return;
  }
  if (staging.empty()) {
    staging.resize(std::max(row_bytes, std::min(kWriteChunkBytes, dims.bytes_per_tensor())));
  }
  size_t used = 0;
  for (uint32_t h = 0; h < dims.num_kv_heads; ++h) {
    for (uint32_t t = 0; t < dims.num_tokens; ++t) {
      if (used + row_bytes > staging.size()) {
        out.write(staging.data(), used);
        used = 0;
      }
      std::memcpy(staging.data() + used, tensor.row(h, t), row_bytes);
      used += row_bytes;
    }
  }
  out.write(staging.data(), used);
}

// name as a JSON string literal; nlohmann escapes it (a string value allocates nothing when
// destroyed, unlike an object).
std::string quoted(const std::string& name) {
  try {
    return nlohmann::json(name).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::type_error&) {
    throw Error(KVC_ERR_INVALID_ARGUMENT, "model_name is not valid UTF-8");
  }
}

// The header's JSON text: __metadata__ (every value a string), then one entry per tensor.
std::string header_json(const CacheDims& dims, const std::string& quoted_model_name) {
  const uint64_t tensor_bytes = dims.bytes_per_tensor();
  std::string text = "{\"" + std::string(kMetadataKey) + "\":{";
  text += "\"num_layers\":\"" + std::to_string(dims.num_layers) + "\",";
  text += "\"num_kv_heads\":\"" + std::to_string(dims.num_kv_heads) + "\",";
  text += "\"seq_len\":\"" + std::to_string(dims.num_tokens) + "\",";
  text += "\"head_dim\":\"" + std::to_string(dims.head_dim) + "\",";
  text += "\"dtype\":\"" + std::string(dtype_name(dims.dtype)) + "\",";
  text += "\"model_name\":" + quoted_model_name + "}";
  const std::string shape = "[1," + std::to_string(dims.num_kv_heads) + "," +
                            std::to_string(dims.num_tokens) + "," + std::to_string(dims.head_dim) +
                            "]";
  uint64_t offset = 0;
  for (uint32_t l = 0; l < dims.num_layers; ++l) {
    for (const char* kind : {"_key", "_value"}) {
      text += ",\"layer_" + std::to_string(l) + kind + "\":{\"dtype\":\"" +
              safetensors_dtype_name(dims.dtype) + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + tensor_bytes) + "]}";
      offset += tensor_bytes;
    }
  }
  text += "}";
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  return text;
}

// The sidecar's text: the dimensions as numbers, indented as json.dump(indent=2) writes them.
std::string sidecar_json(const CacheDims& dims, const std::string& quoted_model_name) {
  return "{\n  \"num_layers\": " + std::to_string(dims.num_layers) +
         ",\n  \"num_kv_heads\": " + std::to_string(dims.num_kv_heads) +
         ",\n  \"seq_len\": " + std::to_string(dims.num_tokens) +
         ",\n  \"head_dim\": " + std::to_string(dims.head_dim) + ",\n  \"dtype\": \"" +
         dtype_name(dims.dtype) + "\",\n  \"model_name\": " + quoted_model_name + "\n}\n";
}

}  // namespace

std::string metadata_sidecar_path(const std::string& path) {
  std::string_view stem = path;
  if (stem.ends_with(kSuffix)) stem.remove_suffix(kSuffix.size());
  return std::string(stem) + ".metadata.json";
}

namespace {

// A safetensors file opened and its header validated.
struct OpenedSafetensors {
  OpenFile file;
  Header header;
  uint64_t data_start = 0;
};

OpenedSafetensors open_safetensors(const std::string& path) {
  std::optional<OpenFile> file = open_for_reading(path, /*may_be_absent=*/false);
  const int fd = file->fd.get();
  const uint64_t file_bytes = file->size_bytes;
  if (file_bytes < kLengthFieldBytes) {
    throw_corrupt(path, "file is " + std::to_string(file_bytes) +
                            " bytes, too short for the 8-byte header length");
  }
  uint64_t header_bytes = 0;
  read_exactly(fd, 0, &header_bytes, kLengthFieldBytes, path);  // little-endian host
  if (header_bytes > kMaxHeaderBytes) {
    throw_corrupt(path, "header length " + std::to_string(header_bytes) + " exceeds the " +
                            std::to_string(kMaxHeaderBytes) + "-byte limit");
  }
  if (header_bytes > file_bytes - kLengthFieldBytes) {
    throw_corrupt(path, "header length " + std::to_string(header_bytes) +
                            " runs past the end of the file (" +
                            std::to_string(file_bytes - kLengthFieldBytes) +
                            " bytes follow the length field)");
  }
  OpenedSafetensors opened{std::move(*file), {}, kLengthFieldBytes + header_bytes};
  std::string text(header_bytes, '\0');
  read_exactly(fd, kLengthFieldBytes, text.data(), header_bytes, path);
  opened.header = parse_header(path, text, file_bytes - opened.data_start);
  return opened;
}

}  // namespace

KvCacheFile load_kv_safetensors(const std::string& path) {
  OpenedSafetensors opened = open_safetensors(path);
  const int fd = opened.file.fd.get();
  const uint64_t data_start = opened.data_start;
  Header& header = opened.header;

  KvCacheFile cache;
  cache.dims = check_kv_cache(path, header.tensors);
  check_dims(cache.dims);  // the limits every cache meets, as for caller memory
  std::optional<MetadataSource> metadata = read_sidecar(path);
  if (!metadata && header.metadata)
    metadata = MetadataSource{"__metadata__", nullptr, *header.metadata};
  if (metadata) cache.model_name = check_metadata(path, *metadata, cache.dims);

  // The tensors tile the buffer, so these sizes add up to buffer_bytes <= file_bytes.
  const uint64_t tensor_bytes = cache.dims.bytes_per_tensor();
  cache.keys.resize(cache.dims.num_layers * tensor_bytes);
  cache.values.resize(cache.dims.num_layers * tensor_bytes);
  for (const TensorEntry& t : header.tensors) {  // in file order
    unsigned char* dst = (t.is_key ? cache.keys : cache.values).data() + t.layer * tensor_bytes;
    read_exactly(fd, data_start + t.begin, dst, t.end - t.begin, path);
  }
  return cache;
}

void save_kv_safetensors(const std::string& path, const CacheView& cache,
                         const std::string& model_name) {
  check_view(cache);
  const CacheDims& dims = cache.dims;
  const std::string quoted_model_name = quoted(model_name);
  const std::string header_text = header_json(dims, quoted_model_name);
  const std::string sidecar_text = sidecar_json(dims, quoted_model_name);
  const std::string sidecar_path = metadata_sidecar_path(path);  // before the first rename

  // Both temporary files exist before either is renamed, so a failure (out of memory included)
  // leaves the old pair in place; only the renames come after the last allocation.
  AtomicFile cache_out(path);
  AtomicFile sidecar_out(sidecar_path);
  const uint64_t header_bytes = header_text.size();  // little-endian host
  cache_out.write(&header_bytes, sizeof header_bytes);
  cache_out.write(header_text.data(), header_text.size());
  std::vector<unsigned char> staging;
  for (uint32_t l = 0; l < dims.num_layers; ++l) {
    write_tensor(cache_out, cache.key(l), dims, staging);
    write_tensor(cache_out, cache.value(l), dims, staging);
  }
  sidecar_out.write(sidecar_text.data(), sidecar_text.size());
  cache_out.flush();
  sidecar_out.flush();
  cache_out.commit();
  sidecar_out.commit();
}

QueryFile load_query_safetensors(const std::string& path) {
  OpenedSafetensors opened = open_safetensors(path);
  std::vector<TensorEntry>& tensors = opened.header.tensors;
  const auto not_queries = [&](const std::string& why) {
    throw Error(KVC_ERR_INVALID_ARGUMENT, path + ": not a query file: " + why);
  };
  if (tensors.empty()) not_queries("no tensors: a query file holds layer_<i>_query");
  std::vector<const TensorEntry*> by_layer(tensors.size(), nullptr);
  for (TensorEntry& t : tensors) {
    std::string_view name = t.name;
    uint32_t layer = 0;
    const bool named = name.starts_with("layer_") && name.ends_with("_query");
    if (named) {
      name = name.substr(6, name.size() - 12);
      const auto [stop, error] = std::from_chars(name.data(), name.data() + name.size(), layer);
      if (error != std::errc() || stop != name.data() + name.size() || name.empty() ||
          (name.size() > 1 && name[0] == '0') || layer >= by_layer.size() || by_layer[layer]) {
        not_queries("tensor \"" + t.name +
                    "\" is not layer_<i>_query of a distinct layer "
                    "below the tensor count");
      }
      by_layer[layer] = &t;
    } else {
      not_queries("unexpected tensor \"" + t.name + "\": a query file holds only layer_<i>_query");
    }
  }
  const TensorEntry& first = *by_layer[0];
  const std::optional<DType> dtype = cache_dtype(first.dtype);
  if (!dtype)
    not_queries("tensor " + first.name + ": dtype " + first.dtype + " is not F16, BF16 or F32");
  const std::vector<uint64_t>& shape = first.shape;
  const bool is_batched = shape.size() == 4 && shape[0] == 1;
  if (!is_batched && shape.size() != 3) {
    not_queries("tensor " + first.name + ": shape " + shape_text(shape) +
                " is not [1, query_heads, queries, head_dim] or [query_heads, queries, head_dim]");
  }
  QueryFile q;
  q.num_layers = static_cast<uint32_t>(tensors.size());
  q.dtype = *dtype;
  const size_t f = is_batched ? 1 : 0;
  for (size_t i = 0; i < 3; ++i) {
    if (shape[f + i] == 0 || shape[f + i] > 65536) {
      not_queries("tensor " + first.name + ": shape " + shape_text(shape) +
                  " has an extent of 0 or above 65536");
    }
  }
  q.num_query_heads = static_cast<uint32_t>(shape[f]);
  q.num_queries = static_cast<uint32_t>(shape[f + 1]);
  q.head_dim = static_cast<uint32_t>(shape[f + 2]);
  const uint64_t layer_bytes =
      uint64_t{q.num_query_heads} * q.num_queries * q.head_dim * dtype_size(q.dtype);
  q.data.resize(q.num_layers * layer_bytes);
  for (uint32_t l = 0; l < q.num_layers; ++l) {
    const TensorEntry& t = *by_layer[l];
    if (t.dtype != first.dtype || t.shape != shape) {
      not_queries("tensor " + t.name + " differs from " + first.name + " in dtype or shape");
    }
    read_exactly(opened.file.fd.get(), opened.data_start + t.begin, q.data.data() + l * layer_bytes,
                 t.end - t.begin, path);
  }
  return q;
}

}  // namespace kvc::io
