// safetensors_header.cpp: checks a safetensors header as nlohmann's SAX parser reads it from the
// file, keeping only the tensor entries and refusing anything else where it is first seen.
#include "io/safetensors_header.h"

#include <algorithm>
#include <bit>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>
#include <utility>

#include "core/json_document.h"
#include "io/io_error.h"

namespace kvc::io {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian and is copied as is");

constexpr uint64_t kLengthFieldBytes = 8;
constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr size_t kReadChunkBytes = 64 * 1024;      // of the header, read as it is parsed
constexpr size_t kMaxShapeRank = 64;               // as numpy 2 and PyTorch allow
constexpr size_t kBriefChars = 60;                 // of a JSON value quoted in a message
constexpr std::string_view kMetadataKey = "__metadata__";

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

const SafetensorsDtype* find_dtype(std::string_view name) {
  for (const SafetensorsDtype& d : kSafetensorsDtypes) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

std::string offsets_text(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// ---- The header's bytes, read from the file as the parser asks for them ------------------

class HeaderBytes {
 public:
  HeaderBytes(int fd, uint64_t offset, uint64_t size_bytes, const std::string& path)
      : fd_(fd),
        offset_(offset),
        size_bytes_(size_bytes),
        path_(path),
        buffer_(std::make_unique_for_overwrite<char[]>(kReadChunkBytes)) {}

  // An input iterator over the bytes, for nlohmann's iterator input adapter.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = char;
    using difference_type = std::ptrdiff_t;
    using pointer = const char*;
    using reference = char;

    Iterator() = default;
    explicit Iterator(HeaderBytes* bytes) : bytes_(bytes) {}
    char operator*() const { return bytes_->current(); }
    Iterator& operator++() {
      bytes_->advance();
      return *this;
    }
    bool operator==(const Iterator& other) const { return is_end() == other.is_end(); }

   private:
    bool is_end() const { return bytes_ == nullptr || bytes_->consumed_ == bytes_->size_bytes_; }
    HeaderBytes* bytes_ = nullptr;
  };

  Iterator begin() { return Iterator(this); }
  Iterator end() { return Iterator(); }

 private:
  char current() {
    if (used_ == filled_) refill();
    return buffer_[used_];
  }
  void advance() {
    if (used_ == filled_) refill();
    ++used_;
    ++consumed_;
  }
  void refill() {
    const uint64_t want = std::min<uint64_t>(kReadChunkBytes, size_bytes_ - consumed_);
    read_exactly(fd_, offset_ + consumed_, buffer_.get(), want, path_);
    used_ = 0;
    filled_ = static_cast<size_t>(want);
  }

  int fd_;
  uint64_t offset_;
  uint64_t size_bytes_;
  const std::string& path_;
  std::unique_ptr<char[]> buffer_;
  size_t used_ = 0;
  size_t filled_ = 0;
  uint64_t consumed_ = 0;
};

// ---- A JSON value rendered for a message, from its SAX events ----------------------------

// Compact JSON text, as JsonValue::brief writes it; the caller stops feeding it once is_done().
class BriefText {
 public:
  void open(bool is_object) {
    separate();
    text_ += is_object ? '{' : '[';
    open_.push_back({is_object, false});
  }
  void close() {
    text_ += open_.back().is_object ? '}' : ']';
    open_.pop_back();
  }
  void key(std::string_view name) {
    separate();
    append_json_string(text_, name, kBriefChars);
    text_ += ':';
    is_after_key_ = true;
  }
  void literal(std::string_view json_text) {
    separate();
    text_ += json_text;
  }
  void string(std::string_view value) {
    separate();
    append_json_string(text_, value, kBriefChars);
  }
  // The value is complete (every container closed), or the text long enough to be cut.
  bool is_done() const { return open_.empty() || text_.size() > kBriefChars; }
  size_t depth() const { return open_.size(); }
  std::string text() const { return cut_json_brief(text_, kBriefChars); }

 private:
  struct Open {
    bool is_object;
    bool has_items;
  };
  void separate() {
    if (std::exchange(is_after_key_, false) || open_.empty()) return;
    if (open_.back().has_items) text_ += ',';
    open_.back().has_items = true;
  }

  std::string text_;
  std::vector<Open> open_;
  bool is_after_key_ = false;
};

// "[d0,d1,...": an array of counts as far as it was read, open for more.
BriefText counts_brief(const uint64_t* counts, size_t size) {
  BriefText brief;
  brief.open(false);
  for (size_t i = 0; i < size && !brief.is_done(); ++i) brief.literal(std::to_string(counts[i]));
  return brief;
}

// ---- The header's shape, checked event by event ------------------------------------------

// One scalar SAX event.
struct Scalar {
  enum class Kind : uint8_t { kNull, kBoolean, kSigned, kUnsigned, kFloat, kString };
  Kind kind;
  std::string_view text;  // JSON text of a literal or a number other than unsigned; a string's
                          // characters
  uint64_t count = 0;     // kUnsigned
};

const char* type_name(Scalar::Kind kind) {
  switch (kind) {
    case Scalar::Kind::kNull:
      return "null";
    case Scalar::Kind::kBoolean:
      return "boolean";
    case Scalar::Kind::kString:
      return "string";
    default:
      return "number";
  }
}

// What a SAX event is: a scalar, or the start of an array or object.
struct Event {
  const Scalar* scalar;  // nullptr: the start of a container
  bool is_object = false;
};

void render(BriefText& brief, const Event& event) {
  if (!event.scalar) return brief.open(event.is_object);
  const Scalar& s = *event.scalar;
  if (s.kind == Scalar::Kind::kString) return brief.string(s.text);
  if (s.kind == Scalar::Kind::kUnsigned) return brief.literal(std::to_string(s.count));
  brief.literal(s.text);
}

// nlohmann's SAX interface over the safetensors header rules: the top level is an object; each
// member is __metadata__ (null, or an object of strings) or a tensor entry (an object with dtype,
// shape and data_offsets; other fields are skipped without being kept). A value of the wrong
// type stops the parse as soon as it is seen, with a message quoting it briefly. Only entries,
// the metadata fields kvc reads and __metadata__'s keys are kept.
class HeaderHandler {
 public:
  using json = nlohmann::json;

  HeaderHandler(uint64_t buffer_bytes, SafetensorsFile* file)
      : buffer_bytes_(buffer_bytes), file_(*file) {}

  // What stopped the parse ("" if nothing did): the message after the path.
  const std::string& error() const { return error_; }
  // __metadata__'s keys, for the duplicate check after the parse.
  std::vector<std::string>& metadata_keys() { return metadata_keys_; }

  bool null() { return scalar({Scalar::Kind::kNull, "null"}); }
  bool boolean(bool value) { return scalar({Scalar::Kind::kBoolean, value ? "true" : "false"}); }
  bool number_integer(json::number_integer_t value) {
    const std::string text = std::to_string(value);
    return scalar({Scalar::Kind::kSigned, text});
  }
  bool number_unsigned(json::number_unsigned_t value) {
    return scalar({Scalar::Kind::kUnsigned, {}, value});
  }
  bool number_float(json::number_float_t, const json::string_t& text) {
    return scalar({Scalar::Kind::kFloat, text});
  }
  bool string(json::string_t& value) { return scalar({Scalar::Kind::kString, value}); }
  bool binary(json::binary_t&) { return fail("header is not valid JSON: binary value"); }
  bool start_object(std::size_t) { return open(true); }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(false); }
  bool end_array() { return close(); }
  bool key(json::string_t& name);
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    return fail(std::string("header is not valid JSON: ") + e.what());
  }

 private:
  // What the next value is.
  enum class Slot : uint8_t {
    kRoot,
    kEntry,
    kMetadata,
    kDtype,
    kShape,
    kShapeDim,
    kOffsets,
    kOffset,
    kMetadataValue,
    kIgnored,
    kKey,  // in an object: a key comes first
  };
  // An open array or object.
  enum class Role : uint8_t { kHeader, kEntry, kMetadata, kShape, kOffsets, kIgnored };
  struct Frame {
    Role role;
    Slot element;  // of an array's elements; kKey for an object
  };
  enum Field : uint8_t { kDtypeField, kShapeField, kOffsetsField, kFieldCount };

  bool scalar(const Scalar& s);
  bool open(bool is_object);
  bool close();
  bool finish_entry();

  std::string where() const { return "tensor " + entry_.name + ": "; }
  size_t depth() const { return frames_.size() + (brief_ ? brief_->depth() : 0); }
  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  // Starts quoting the offending value (after the array read so far, when in_array), which
  // fails with prefix + the quote + suffix once the value ends or the quote is long enough.
  bool quote(const Event& event, std::string prefix, std::string suffix,
             std::optional<BriefText> in_array = std::nullopt) {
    brief_ = in_array ? std::move(*in_array) : BriefText();
    brief_prefix_ = std::move(prefix);
    brief_suffix_ = std::move(suffix);
    render(*brief_, event);
    return step_quote();
  }
  bool step_quote() {
    if (!brief_->is_done()) return true;
    return fail(brief_prefix_ + brief_->text() + brief_suffix_);
  }
  bool reject(const Event& event);

  const uint64_t buffer_bytes_;
  SafetensorsFile& file_;
  std::string error_;
  std::vector<Frame> frames_;
  Slot next_ = Slot::kRoot;
  std::optional<BriefText> brief_;  // while quoting an offending value
  std::string brief_prefix_, brief_suffix_;
  TensorEntry entry_;  // the entry being read
  uint32_t dtype_bits_ = 0;
  bool has_field_[kFieldCount] = {};
  uint64_t offsets_[2] = {};
  size_t offset_count_ = 0;
  bool has_metadata_key_ = false;
  std::vector<std::string> metadata_keys_;
};

constexpr const char* kShapeRule = " is not an array of non-negative integers";
constexpr const char* kOffsetsRule = " is not [begin, end] with non-negative integers";

// A value of the wrong type in slot next_: quoted in its message.
bool HeaderHandler::reject(const Event& event) {
  switch (next_) {
    case Slot::kEntry:
      return quote(event, where() + "entry is ", ", not an object");
    case Slot::kMetadata:
      return quote(event, "__metadata__ is ", ", not an object");
    case Slot::kDtype:
      return quote(event, where() + "dtype ", " is not a string");
    case Slot::kShape:
      return quote(event, where() + "shape ", kShapeRule);
    case Slot::kShapeDim:
      return quote(event, where() + "shape ", kShapeRule,
                   counts_brief(entry_.shape.data(), entry_.shape.size()));
    case Slot::kOffsets:
      return quote(event, where() + "data_offsets ", kOffsetsRule);
    case Slot::kOffset:
      return quote(event, where() + "data_offsets ", kOffsetsRule,
                   counts_brief(offsets_, offset_count_));
    case Slot::kMetadataValue:
      return quote(event, "__metadata__ \"" + metadata_keys_.back() + "\" is ", ", not a string");
    default:
      return fail("header is not valid JSON");  // the parser gives no value where a key goes
  }
}

bool HeaderHandler::scalar(const Scalar& s) {
  const Event event{&s};
  if (brief_) {
    render(*brief_, event);
    return step_quote();
  }
  switch (next_) {
    case Slot::kRoot:
      return fail(std::string("header is a JSON ") + type_name(s.kind) + ", not an object");
    case Slot::kMetadata:
      if (s.kind == Scalar::Kind::kNull) return true;  // the reference reader: null is absent
      return reject(event);
    case Slot::kDtype: {
      if (s.kind != Scalar::Kind::kString) return reject(event);
      const SafetensorsDtype* dtype = find_dtype(s.text);
      if (!dtype) return fail(where() + "unknown dtype \"" + std::string(s.text) + "\"");
      entry_.dtype = dtype->name;
      dtype_bits_ = dtype->bits;
      return true;
    }
    case Slot::kShapeDim:
      if (s.kind != Scalar::Kind::kUnsigned) return reject(event);
      if (entry_.shape.size() == kMaxShapeRank) {
        return fail(where() + "shape " +
                    counts_brief(entry_.shape.data(), entry_.shape.size()).text() +
                    " has more than " + std::to_string(kMaxShapeRank) + " dimensions");
      }
      entry_.shape.push_back(s.count);
      return true;
    case Slot::kOffset:
      if (s.kind != Scalar::Kind::kUnsigned || offset_count_ == 2) return reject(event);
      offsets_[offset_count_++] = s.count;
      return true;
    case Slot::kMetadataValue:
      if (s.kind != Scalar::Kind::kString) return reject(event);
      if (is_metadata_field(metadata_keys_.back())) {
        MetadataValue value{MetadataValue::Kind::kString, std::string(s.text), 0, {}};
        append_json_string(value.brief, s.text, kBriefChars);
        value.brief = cut_json_brief(std::move(value.brief), kBriefChars);
        file_.metadata->fields.emplace_back(metadata_keys_.back(), std::move(value));
      }
      return true;
    case Slot::kIgnored:
      return true;
    default:
      return reject(event);
  }
}

bool HeaderHandler::open(bool is_object) {
  if (depth() >= kMaxJsonDepth) {
    return fail("header nests arrays and objects deeper than " + std::to_string(kMaxJsonDepth) +
                " levels");
  }
  const Event event{nullptr, is_object};
  if (brief_) {
    render(*brief_, event);
    return step_quote();
  }
  const auto push = [this](Role role, Slot element) {
    frames_.push_back({role, element});
    next_ = element;
    return true;
  };
  switch (next_) {
    case Slot::kRoot:
      if (!is_object) return fail("header is a JSON array, not an object");
      return push(Role::kHeader, Slot::kKey);
    case Slot::kEntry:
      if (!is_object) return reject(event);
      std::fill(std::begin(has_field_), std::end(has_field_), false);
      return push(Role::kEntry, Slot::kKey);
    case Slot::kMetadata:
      if (!is_object) return reject(event);
      file_.metadata.emplace();
      file_.metadata->origin = std::string(kMetadataKey);
      return push(Role::kMetadata, Slot::kKey);
    case Slot::kShape:
      if (is_object) return reject(event);
      entry_.shape.clear();
      return push(Role::kShape, Slot::kShapeDim);
    case Slot::kOffsets:
      if (is_object) return reject(event);
      offset_count_ = 0;
      return push(Role::kOffsets, Slot::kOffset);
    case Slot::kIgnored:
      return push(Role::kIgnored, is_object ? Slot::kKey : Slot::kIgnored);
    default:
      return reject(event);
  }
}

bool HeaderHandler::close() {
  if (brief_) {
    brief_->close();
    return step_quote();
  }
  const Role role = frames_.back().role;
  if (role == Role::kOffsets && offset_count_ != 2) {
    BriefText offsets = counts_brief(offsets_, offset_count_);
    offsets.close();
    return fail(where() + "data_offsets " + offsets.text() + kOffsetsRule);
  }
  if (role == Role::kEntry && !finish_entry()) return false;
  frames_.pop_back();
  next_ = frames_.empty() ? Slot::kKey : frames_.back().element;
  return true;
}

bool HeaderHandler::key(json::string_t& name) {
  if (brief_) {
    brief_->key(name);
    return step_quote();
  }
  switch (frames_.back().role) {
    case Role::kHeader:
      if (name == kMetadataKey) {
        if (std::exchange(has_metadata_key_, true)) {
          return fail("header has duplicate key \"" + name + "\"");
        }
        next_ = Slot::kMetadata;
      } else {
        entry_ = TensorEntry();
        entry_.name = std::move(name);
        next_ = Slot::kEntry;
      }
      return true;
    case Role::kEntry: {
      const Field field = name == "dtype"          ? kDtypeField
                          : name == "shape"        ? kShapeField
                          : name == "data_offsets" ? kOffsetsField
                                                   : kFieldCount;
      if (field == kFieldCount) {
        next_ = Slot::kIgnored;
        return true;
      }
      if (std::exchange(has_field_[field], true)) {
        return fail("header has duplicate key \"" + name + "\" in \"" + entry_.name + "\"");
      }
      const Slot slots[] = {Slot::kDtype, Slot::kShape, Slot::kOffsets};
      next_ = slots[field];
      return true;
    }
    case Role::kMetadata:
      metadata_keys_.push_back(std::move(name));
      next_ = Slot::kMetadataValue;
      return true;
    default:
      next_ = Slot::kIgnored;
      return true;
  }
}

// The checks of one whole entry: every field present, offsets inside the buffer and matching
// the shape's byte size.
bool HeaderHandler::finish_entry() {
  if (!has_field_[kDtypeField]) return fail(where() + "dtype is missing");
  if (!has_field_[kShapeField]) return fail(where() + "shape is missing");
  if (!has_field_[kOffsetsField]) return fail(where() + "data_offsets is missing");
  entry_.begin = offsets_[0];
  entry_.end = offsets_[1];
  const std::string offsets_field = "data_offsets " + offsets_text(entry_.begin, entry_.end);
  if (entry_.begin > entry_.end) return fail(where() + offsets_field + " begin after end");
  if (entry_.end > buffer_bytes_) {
    return fail(where() + offsets_field + " exceed the data buffer of " +
                std::to_string(buffer_bytes_) + " bytes");
  }
  const std::string shape_field =
      "shape " + shape_text(entry_.shape) + " x " + std::string(entry_.dtype);
  uint64_t elements = 1;
  for (const uint64_t d : entry_.shape) {
    if (__builtin_mul_overflow(elements, d, &elements)) {
      return fail(where() + shape_field + " overflows 64 bits");
    }
  }
  uint64_t bits = 0;
  if (__builtin_mul_overflow(elements, uint64_t{dtype_bits_}, &bits)) {
    return fail(where() + shape_field + " overflows 64 bits");
  }
  if (bits % 8 != 0) return fail(where() + shape_field + " is not a whole number of bytes");
  if (bits / 8 != entry_.end - entry_.begin) {
    return fail(where() + offsets_field + " do not match " + shape_field + " = " +
                std::to_string(bits / 8) + " bytes");
  }
  file_.tensors.push_back(std::move(entry_));
  return true;
}

// ---- Checks of the whole header -----------------------------------------------------------

// No tensor name twice and no __metadata__ key twice: two readers of one file must not see
// different tensors or values (the reference reader refuses duplicates too).
void check_unique_names(const std::string& path, const std::vector<TensorEntry>& tensors,
                        std::vector<std::string>& metadata_keys) {
  std::vector<const std::string*> names;
  names.reserve(tensors.size());
  for (const TensorEntry& t : tensors) names.push_back(&t.name);
  std::sort(names.begin(), names.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  const auto same = [](const std::string* a, const std::string* b) { return *a == *b; };
  const auto twice = std::adjacent_find(names.begin(), names.end(), same);
  if (twice != names.end()) throw_corrupt(path, "header has duplicate key \"" + **twice + "\"");
  std::sort(metadata_keys.begin(), metadata_keys.end());
  const auto key_twice = std::adjacent_find(metadata_keys.begin(), metadata_keys.end());
  if (key_twice != metadata_keys.end()) {
    throw_corrupt(path, "header has duplicate key \"" + *key_twice + "\" in \"" +
                            std::string(kMetadataKey) + "\"");
  }
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

}  // namespace

std::optional<DType> cache_dtype(std::string_view safetensors_name) {
  if (safetensors_name == "F16") return DType::F16;
  if (safetensors_name == "BF16") return DType::BF16;
  if (safetensors_name == "F32") return DType::F32;
  return std::nullopt;
}

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
  }
  return "unknown";
}

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ",";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

SafetensorsFile open_safetensors(const std::string& path) {
  SafetensorsFile opened;
  opened.file = std::move(*open_for_reading(path, /*may_be_absent=*/false));
  const int fd = opened.file.fd.get();
  const uint64_t file_bytes = opened.file.size_bytes;
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
  opened.data_start = kLengthFieldBytes + header_bytes;
  const uint64_t buffer_bytes = file_bytes - opened.data_start;
  HeaderBytes bytes(fd, kLengthFieldBytes, header_bytes, path);
  HeaderHandler handler(buffer_bytes, &opened);
  if (!nlohmann::json::sax_parse(bytes.begin(), bytes.end(), &handler)) {
    throw_corrupt(path, handler.error().empty() ? "header is not valid JSON" : handler.error());
  }
  check_unique_names(path, opened.tensors, handler.metadata_keys());
  check_coverage(path, opened.tensors, buffer_bytes);
  return opened;
}

}  // namespace kvc::io
