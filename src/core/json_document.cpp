// json_document.cpp: builds a JsonDocument from nlohmann's SAX events and renders values briefly.
#include "core/json_document.h"

#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <utility>

namespace kvc {

class JsonDocumentBuilder {
 public:
  using json = nlohmann::json;

  JsonDocumentBuilder(JsonDocument* document, DuplicateKeys duplicates, std::string* error)
      : document_(*document), duplicates_(duplicates), error_(*error) {}

  bool null() { return add(JsonValue::Type::kNull) != nullptr; }
  bool boolean(bool value) {
    JsonDocument::Node* node = add(JsonValue::Type::kBoolean);
    if (node) node->payload.boolean = value;
    return node != nullptr;
  }
  bool number_integer(json::number_integer_t value) {
    JsonDocument::Node* node = add(JsonValue::Type::kSigned);
    if (node) node->payload.signed_value = value;
    return node != nullptr;
  }
  bool number_unsigned(json::number_unsigned_t value) {
    JsonDocument::Node* node = add(JsonValue::Type::kUnsigned);
    if (node) node->payload.unsigned_value = value;
    return node != nullptr;
  }
  bool number_float(json::number_float_t value, const json::string_t&) {
    JsonDocument::Node* node = add(JsonValue::Type::kDouble);
    if (node) node->payload.number = value;
    return node != nullptr;
  }
  bool string(json::string_t& value) {
    const size_t offset = document_.strings_.size();
    document_.strings_ += value;
    JsonDocument::Node* node = add(JsonValue::Type::kString);
    if (!node) return false;
    node->payload.string_offset = offset;
    node->size = static_cast<uint32_t>(value.size());
    return true;
  }
  bool binary(json::binary_t&) { return fail("is not valid JSON: binary value"); }
  bool start_object(size_t) { return open(JsonValue::Type::kObject); }
  bool end_object() { return close(); }
  bool start_array(size_t) { return open(JsonValue::Type::kArray); }
  bool end_array() { return close(); }
  bool key(json::string_t& name) {
    key_ = {static_cast<uint32_t>(document_.strings_.size()), static_cast<uint32_t>(name.size())};
    document_.strings_ += name;
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception& e) {
    return fail(std::string("is not valid JSON: ") + e.what());
  }

 private:
  // A member name in the document's string storage, hashed and compared by its characters.
  struct KeyRef {
    uint32_t offset;
    uint32_t size;
  };
  struct KeyHash {
    const std::string* strings;
    size_t operator()(KeyRef k) const {
      return std::hash<std::string_view>()(std::string_view(*strings).substr(k.offset, k.size));
    }
  };
  struct KeyEqual {
    const std::string* strings;
    bool operator()(KeyRef a, KeyRef b) const {
      const std::string_view all(*strings);
      return all.substr(a.offset, a.size) == all.substr(b.offset, b.size);
    }
  };
  using KeyIndex = std::unordered_map<KeyRef, uint32_t, KeyHash, KeyEqual>;

  // An array or object still being read.
  struct Open {
    uint32_t node;
    uint32_t last_child;  // kNone until it has one
    KeyIndex members;     // objects: name -> member node
  };

  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  // Appends a node for the next value (the root, an array element or an object member) and links
  // it to its previous sibling; nullptr after a refused duplicate key.
  JsonDocument::Node* add(JsonValue::Type type) {
    std::vector<JsonDocument::Node>& nodes = document_.nodes_;
    const auto index = static_cast<uint32_t>(nodes.size());
    if (!open_.empty()) {
      Open& parent = open_.back();
      if (nodes[parent.node].type == JsonValue::Type::kObject) {
        const auto [found, is_new] = parent.members.try_emplace(key_, index);
        if (!is_new) {
          if (duplicates_ == DuplicateKeys::kReject) return refuse_duplicate();
          nodes[found->second].is_shadowed = true;
          found->second = index;
          --nodes[parent.node].size;
        }
      }
    }
    JsonDocument::Node& node = nodes.emplace_back();
    node.type = type;
    if (open_.empty()) return &node;
    Open& parent = open_.back();
    if (nodes[parent.node].type == JsonValue::Type::kObject) {
      node.key_offset = key_.offset;
      node.key_size = key_.size;
    }
    if (parent.last_child != JsonDocument::kNone) nodes[parent.last_child].next = index;
    parent.last_child = index;
    ++nodes[parent.node].size;
    return &node;
  }

  JsonDocument::Node* refuse_duplicate() {
    const std::string_view all(document_.strings_);
    std::string message =
        "has duplicate key \"" + std::string(all.substr(key_.offset, key_.size)) + "\"";
    if (open_.size() > 1) {
      const JsonDocument::Node& owner = document_.nodes_[open_.back().node];
      message += " in \"" + std::string(all.substr(owner.key_offset, owner.key_size)) + "\"";
    }
    fail(std::move(message));
    return nullptr;
  }

  bool open(JsonValue::Type type) {
    if (open_.size() >= kMaxJsonDepth) {
      return fail("nests arrays and objects deeper than " + std::to_string(kMaxJsonDepth) +
                  " levels");
    }
    const auto index = static_cast<uint32_t>(document_.nodes_.size());
    if (!add(type)) return false;
    const std::string* strings = &document_.strings_;
    open_.push_back({index, JsonDocument::kNone, KeyIndex(0, KeyHash{strings}, KeyEqual{strings})});
    return true;
  }

  bool close() {
    open_.pop_back();
    return true;
  }

  JsonDocument& document_;
  DuplicateKeys duplicates_;
  std::string& error_;
  std::vector<Open> open_;
  KeyRef key_ = {0, 0};  // the name of the next object member
};

bool JsonDocument::parse(std::string_view text, DuplicateKeys duplicates, std::string* error) {
  const auto clear = [this] {
    nodes_ = {};
    strings_ = {};
  };
  clear();
  error->clear();
  if (text.size() >= (uint64_t{1} << 32)) {
    *error = "is 4 GiB or more";
    return false;
  }
  try {
    JsonDocumentBuilder builder(this, duplicates, error);
    if (nlohmann::json::sax_parse(text.begin(), text.end(), &builder)) return true;
  } catch (...) {
    clear();
    throw;
  }
  if (error->empty()) *error = "is not valid JSON";
  clear();
  return false;
}

// ---- JsonValue --------------------------------------------------------------------------------

JsonValue::Type JsonValue::type() const { return document_->nodes_[index_].type; }

const char* JsonValue::type_name() const {
  switch (type()) {
    case Type::kNull:
      return "null";
    case Type::kBoolean:
      return "boolean";
    case Type::kSigned:
    case Type::kUnsigned:
    case Type::kDouble:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "value";
}

bool JsonValue::boolean() const { return document_->nodes_[index_].payload.boolean; }
uint64_t JsonValue::unsigned_value() const {
  return document_->nodes_[index_].payload.unsigned_value;
}
int64_t JsonValue::signed_value() const { return document_->nodes_[index_].payload.signed_value; }

double JsonValue::number() const {
  const JsonDocument::Node& node = document_->nodes_[index_];
  switch (node.type) {
    case Type::kSigned:
      return static_cast<double>(node.payload.signed_value);
    case Type::kUnsigned:
      return static_cast<double>(node.payload.unsigned_value);
    case Type::kDouble:
      return node.payload.number;
    default:
      return 0.0;
  }
}

std::string_view JsonValue::string() const {
  const JsonDocument::Node& node = document_->nodes_[index_];
  if (node.type != Type::kString) return {};
  return std::string_view(document_->strings_).substr(node.payload.string_offset, node.size);
}

size_t JsonValue::size() const {
  const JsonDocument::Node& node = document_->nodes_[index_];
  return node.type == Type::kArray || node.type == Type::kObject ? node.size : 0;
}

std::string_view JsonValue::key() const {
  const JsonDocument::Node& node = document_->nodes_[index_];
  return std::string_view(document_->strings_).substr(node.key_offset, node.key_size);
}

JsonValue::Iterator JsonValue::begin() const {
  if (size() == 0) return end();
  uint32_t child = index_ + 1;
  while (document_->nodes_[child].is_shadowed) child = document_->nodes_[child].next;
  return Iterator(document_, child);
}

JsonValue::Iterator JsonValue::end() const { return Iterator(document_, JsonDocument::kNone); }

JsonValue::Iterator& JsonValue::Iterator::operator++() {
  do {
    index_ = document_->nodes_[index_].next;
  } while (index_ != JsonDocument::kNone && document_->nodes_[index_].is_shadowed);
  return *this;
}

std::optional<JsonValue> JsonValue::find(std::string_view name) const {
  if (!is_object()) return std::nullopt;
  for (const JsonValue member : *this) {
    if (member.key() == name) return member;
  }
  return std::nullopt;
}

void append_json_string(std::string& out, std::string_view text, size_t max_chars) {
  out += '"';
  for (const char c : text) {
    if (out.size() > max_chars) return;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

namespace {

void append_number(std::string& out, double x) {
  char text[32];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, x);
  std::string_view written(text, ec == std::errc() ? static_cast<size_t>(end - text) : 0);
  out += written;
  if (written.find_first_of(".eE") == std::string_view::npos) out += ".0";  // still a double
}

}  // namespace

void JsonValue::render(std::string& out, size_t max_chars) const {
  if (out.size() > max_chars) return;
  switch (type()) {
    case Type::kNull:
      out += "null";
      return;
    case Type::kBoolean:
      out += boolean() ? "true" : "false";
      return;
    case Type::kSigned:
      out += std::to_string(signed_value());
      return;
    case Type::kUnsigned:
      out += std::to_string(unsigned_value());
      return;
    case Type::kDouble:
      append_number(out, number());
      return;
    case Type::kString:
      append_json_string(out, string(), max_chars);
      return;
    case Type::kArray:
    case Type::kObject:
      break;
  }
  const bool is_obj = is_object();
  out += is_obj ? '{' : '[';
  bool is_first = true;
  for (const JsonValue child : *this) {
    if (out.size() > max_chars) return;
    if (!is_first) out += ',';
    is_first = false;
    if (is_obj) {
      append_json_string(out, child.key(), max_chars);
      out += ':';
    }
    child.render(out, max_chars);
  }
  out += is_obj ? '}' : ']';
}

std::string cut_json_brief(std::string text, size_t max_chars) {
  if (text.size() <= max_chars) return text;
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // mid-character
  text.resize(cut);
  return text + "...";
}

std::string JsonValue::brief(size_t max_chars) const {
  std::string out;
  render(out, max_chars);
  return cut_json_brief(std::move(out), max_chars);
}

}  // namespace kvc
