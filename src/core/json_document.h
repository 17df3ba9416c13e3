// json_document.h: JSON read through nlohmann's SAX parser into one flat node array, whose
// destructor never allocates (a nlohmann::json's does), so running out of memory unwinds cleanly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvc {

class JsonDocument;

// A value inside a JsonDocument, valid while the document lives; cheap to copy. Numbers keep
// nlohmann's split: a non-negative integer is unsigned, a negative one signed, and any other
// number (a fraction, an exponent, or an integer beyond 64 bits) is a double.
class JsonValue {
 public:
  enum class Type : uint8_t {
    kNull,
    kBoolean,
    kSigned,
    kUnsigned,
    kDouble,
    kString,
    kArray,
    kObject
  };

  Type type() const;
  bool is_null() const { return type() == Type::kNull; }
  bool is_boolean() const { return type() == Type::kBoolean; }
  bool is_unsigned() const { return type() == Type::kUnsigned; }
  bool is_integer() const { return type() == Type::kSigned || type() == Type::kUnsigned; }
  bool is_number() const { return is_integer() || type() == Type::kDouble; }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }
  // "null", "boolean", "number", "string", "array" or "object".
  const char* type_name() const;

  bool boolean() const;
  uint64_t unsigned_value() const;  // an unsigned integer
  int64_t signed_value() const;     // a signed integer
  double number() const;            // any number
  std::string_view string() const;  // a string

  // The number of an array's elements or an object's members.
  size_t size() const;
  // Iterates over an array's elements or an object's members (see key()), in document order.
  class Iterator;
  Iterator begin() const;
  Iterator end() const;
  // For a member of an object: its name.
  std::string_view key() const;
  // An object's member named key; nullopt when there is none (or this is not an object).
  std::optional<JsonValue> find(std::string_view key) const;

  // Compact JSON text for messages, cut after max_chars bytes (at a character boundary) with
  // "..." appended; rendering stops there, so a huge value costs little.
  std::string brief(size_t max_chars) const;

 private:
  friend class JsonDocument;
  JsonValue(const JsonDocument* document, uint32_t index) : document_(document), index_(index) {}
  void render(std::string& out, size_t max_chars) const;

  const JsonDocument* document_;
  uint32_t index_;
};

class JsonValue::Iterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = JsonValue;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = JsonValue;

  JsonValue operator*() const { return JsonValue(document_, index_); }
  Iterator& operator++();
  Iterator operator++(int) {
    Iterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const Iterator& other) const { return index_ == other.index_; }

 private:
  friend class JsonValue;
  Iterator(const JsonDocument* document, uint32_t index) : document_(document), index_(index) {}
  const JsonDocument* document_;
  uint32_t index_;
};

// What parsing does with a key that its object already has.
enum class DuplicateKeys {
  kReject,    // the document is invalid (two readers could see different values)
  kKeepLast,  // the later value replaces the earlier one, as Python's json module does
};

// Arrays and objects nested deeper than this are refused, as serde_json (the safetensors reference
// reader) does; it also bounds the recursion of brief().
constexpr size_t kMaxJsonDepth = 128;

// Appends text to out as a JSON string literal, escaped, stopping once out is longer than
// max_chars bytes (a message then cuts it with cut_json_brief).
void append_json_string(std::string& out, std::string_view text, size_t max_chars);
// text itself when it has at most max_chars bytes, else its first max_chars bytes (backed up to a
// UTF-8 character boundary) and "...".
std::string cut_json_brief(std::string text, size_t max_chars);

// One parsed JSON document.
class JsonDocument {
 public:
  // Parses text as one strict JSON document (UTF-8, no comments, nothing after it). Returns false
  // and a message in *error that reads after the document's name ("is not valid JSON: ...", "has
  // duplicate key \"k\" in \"owner\"", "nests arrays and objects deeper than 128 levels", "is
  // 4 GiB or more"). Throws std::bad_alloc, leaving this document empty.
  bool parse(std::string_view text, DuplicateKeys duplicates, std::string* error);

  JsonValue root() const { return JsonValue(this, 0); }

 private:
  friend class JsonValue;
  friend class JsonDocumentBuilder;
  static constexpr uint32_t kNone = 0;  // no next sibling (node 0 is the root, never a sibling)

  struct Node {
    JsonValue::Type type = JsonValue::Type::kNull;
    bool is_shadowed = false;  // a member replaced by a later one of the same name
    uint32_t size = 0;         // children (array, object) or bytes (string)
    uint32_t next = kNone;     // the next sibling in its array or object
    uint32_t key_offset = 0;   // member name, in strings_
    uint32_t key_size = 0;
    union {
      bool boolean;
      int64_t signed_value;
      uint64_t unsigned_value;
      double number;
      uint64_t string_offset;  // in strings_
    } payload = {.unsigned_value = 0};
  };

  // Nodes in document order: a container's first child directly follows it.
  std::vector<Node> nodes_;
  std::string strings_;  // every string and key, back to back
};

}  // namespace kvc
