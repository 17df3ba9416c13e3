// reader.cpp: reads a .kvc blob: preamble and version, trailer, footer index, header and chunks,
// each message verified (FlatBuffers verifier, checksums, bounds) before use.
#include "format/reader.h"

#include <kvc/kvc.h>

#include <cstring>
#include <string>

#include "core/error.h"
#include "format/checksum.h"
#include "format/layout.h"
#include "kvc_generated.h"

namespace kvc::format {
namespace {

std::string str(uint64_t v) { return std::to_string(v); }

// A message copied to aligned memory and verified; the FlatBuffers accessors read from it.
class VerifiedMessage {
 public:
  // Reads the size-prefixed message at offset (bounded by limit) and verifies it.
  VerifiedMessage(const unsigned char* data, uint64_t offset, uint64_t limit, const char* what) {
    require_intact(
        offset <= limit && limit - offset >= kSizePrefixBytes,
        std::string(what) + " message at offset " + str(offset) + " lies outside the blob");
    const uint32_t length = load_u32(data + offset);
    require_intact(length <= kMaxMessageBytes && length <= limit - offset - kSizePrefixBytes,
                   std::string(what) + " message at offset " + str(offset) + " declares " +
                       str(length) + " bytes, more than the blob holds");
    total_bytes_ = kSizePrefixBytes + length;
    checksum_ = checksum(data + offset, total_bytes_);
    // FlatBuffers aligns relative to the start of the size prefix: copy from there.
    storage_.resize((total_bytes_ + 7) / 8);
    std::memcpy(storage_.data(), data + offset, total_bytes_);
    const auto* buffer = reinterpret_cast<const uint8_t*>(storage_.data());
    flatbuffers::Verifier verifier(buffer, total_bytes_, /*max_depth=*/16, /*max_tables=*/4096);
    require_intact(
        length >= 8 && SizePrefixedMessageBufferHasIdentifier(buffer),
        std::string(what) + " message at offset " + str(offset) + " lacks the KVC1 identifier");
    require_intact(VerifySizePrefixedMessageBuffer(verifier),
                   std::string(what) + " message at offset " + str(offset) +
                       " fails FlatBuffers verification");
    message_ = GetSizePrefixedMessage(buffer);
  }
  const Message* message() const { return message_; }
  uint64_t total_bytes() const { return total_bytes_; }
  uint64_t checksum_value() const { return checksum_; }

 private:
  std::vector<uint64_t> storage_;
  const Message* message_ = nullptr;
  uint64_t total_bytes_ = 0;
  uint64_t checksum_ = 0;
};

int checked_bits(int bits, const std::string& what) {
  require_intact(bits == 2 || bits == 3 || bits == 4 || bits == 8 || bits == 16,
                 what + " " + str(bits) + " is not 2, 3, 4, 8 or 16");
  return bits;
}

}  // namespace

BlobReader::BlobReader(const void* data, size_t size)
    : data_(static_cast<const unsigned char*>(data)), size_(size) {
  require_intact(data_ != nullptr || size == 0, "blob is NULL");
  require_intact(size >= kPreambleBytes && std::memcmp(data_, kMagic, 4) == 0,
                 "not a .kvc blob: the magic bytes are missing");
  header_.format_major = load_u16(data_ + 4);
  header_.format_minor = load_u16(data_ + 6);
  if (header_.format_major != KVC_FORMAT_MAJOR) {
    throw Error(KVC_ERR_UNSUPPORTED_VERSION,
                "format version " + str(header_.format_major) + "." + str(header_.format_minor) +
                    " is not supported: this library reads major version " + str(KVC_FORMAT_MAJOR));
  }
  require_intact(size >= kPreambleBytes + kTrailerBytes,
                 "blob of " + str(size) + " bytes is truncated");
  const unsigned char* trailer = data_ + size - kTrailerBytes;
  require_intact(std::memcmp(trailer + 16, kEndMagic, 8) == 0,
                 "blob is truncated: the end marker is missing");
  footer_offset_ = load_u64(trailer);
  const uint64_t footer_limit = size - kTrailerBytes;
  require_intact(footer_offset_ >= kPreambleBytes && footer_offset_ < footer_limit,
                 "footer offset " + str(footer_offset_) + " is out of range");

  // Footer: exactly the bytes between its offset and the trailer, with the trailer's checksum.
  const VerifiedMessage footer_msg(data_, footer_offset_, footer_limit, "footer");
  require_intact(footer_offset_ + footer_msg.total_bytes() == footer_limit,
                 "footer does not end where the trailer begins");
  require_intact(checksum_matches(footer_msg.checksum_value(), load_u64(trailer + 8)),
                 "footer checksum mismatch");
  const Footer* footer = footer_msg.message()->body_as_Footer();
  require_intact(footer != nullptr, "the message before the trailer is not a footer");
  content_checksum_ = footer->content_checksum();

  // Header: right after the preamble, checksummed in the footer.
  const VerifiedMessage header_msg(data_, kPreambleBytes, footer_offset_, "header");
  require_intact(checksum_matches(header_msg.checksum_value(), footer->header_checksum()),
                 "header checksum mismatch");
  const Header* h = header_msg.message()->body_as_Header();
  require_intact(h != nullptr, "the first message is not a header");
  header_end_ = kPreambleBytes + header_msg.total_bytes();
  header_.producer = h->producer() ? h->producer()->str() : "";
  CacheDims& d = header_.dims;
  d.num_layers = h->num_layers();
  d.num_kv_heads = h->num_kv_heads();
  d.num_tokens = h->num_tokens();
  d.head_dim = h->head_dim();
  const auto dtype = static_cast<uint8_t>(h->dtype());
  require_intact(dtype <= 2, "header dtype " + str(dtype) + " is unknown");
  d.dtype = static_cast<kvc::DType>(dtype);
  require_intact(d.num_layers > 0 && d.num_layers <= 4096,
                 "header num_layers " + str(d.num_layers) + " is out of range");
  require_intact(d.num_kv_heads > 0 && d.num_kv_heads <= 4096,
                 "header num_kv_heads " + str(d.num_kv_heads) + " is out of range");
  require_intact(d.num_tokens > 0, "header num_tokens is 0");
  require_intact(d.head_dim > 0 && d.head_dim <= 65536,
                 "header head_dim " + str(d.head_dim) + " is out of range");
  require_intact(d.elements_per_tensor() <= (uint64_t{1} << 40),
                 "header declares more than 2^40 elements per layer");
  header_.key_bits = checked_bits(h->key_bits(), "header key_bits");
  header_.value_bits = checked_bits(h->value_bits(), "header value_bits");
  header_.group_size = h->group_size();
  require_intact(header_.group_size == 32 || header_.group_size == 64 || header_.group_size == 128,
                 "header group_size " + str(header_.group_size) + " is not 32, 64 or 128");
  header_.recent_tokens = h->recent_tokens();
  header_.zstd_level = h->zstd_level();
  header_.byte_shuffle = h->byte_shuffle();
  header_.model_name = h->model_name() ? h->model_name()->str() : "";
  header_.selection = h->selection();
  require_intact(header_.selection <= 3,
                 "header selection " + str(header_.selection) + " is unknown");
  header_.per_head = h->per_head();
  header_.attention_threshold = h->attention_threshold();
  require_intact(header_.attention_threshold >= 0.0f && header_.attention_threshold <= 1.0f,
                 "header attention_threshold is not in [0, 1]");
  header_.sliding_window = h->sliding_window();

  // Chunk index: one chunk per layer and tensor, keys first, in file order.
  const auto* chunks = footer->chunks();
  require_intact(chunks != nullptr, "footer has no chunk index");
  require_intact(chunks->size() == 2 * uint64_t{d.num_layers},
                 "footer indexes " + str(chunks->size()) + " chunks, expected " +
                     str(2 * uint64_t{d.num_layers}));
  uint64_t previous_end = header_end_;
  for (uint32_t i = 0; i < chunks->size(); ++i) {
    const ChunkRef* r = chunks->Get(i);
    const auto tensor = static_cast<uint8_t>(r->tensor());
    require_intact(r->layer() == i / 2 && tensor == i % 2, "chunk index entry " + str(i) +
                                                               " names layer " + str(r->layer()) +
                                                               " tensor " + str(tensor));
    require_intact(r->offset() >= previous_end && r->offset() < footer_offset_,
                   "chunk " + str(i) + " offset " + str(r->offset()) + " is out of order or range");
    previous_end = r->offset() + kSizePrefixBytes;
    refs_.push_back(
        {r->offset(), r->message_checksum(), r->layer(), static_cast<TensorKind>(tensor)});
  }
}

ChunkRecord BlobReader::read_chunk(size_t index, bool check_payload) const {
  require_intact(index < refs_.size(), "chunk " + str(index) + " does not exist");
  const ChunkIndexEntry& ref = refs_[index];
  const uint64_t limit = index + 1 < refs_.size() ? refs_[index + 1].offset : footer_offset_;
  const std::string what = "chunk " + str(index);
  const VerifiedMessage msg(data_, ref.offset, limit, what.c_str());
  require_intact(checksum_matches(msg.checksum_value(), ref.message_checksum),
                 what + " message checksum mismatch");
  const Chunk* c = msg.message()->body_as_Chunk();
  require_intact(c != nullptr, what + " is not a chunk message");

  ChunkRecord rec;
  rec.layer = c->layer();
  rec.tensor = static_cast<TensorKind>(c->tensor());
  require_intact(rec.layer == ref.layer && c->tensor() == static_cast<Tensor>(ref.tensor),
                 what + " holds another layer or tensor than its index entry says");
  rec.token_begin = c->token_begin();
  rec.token_count = c->token_count();
  const CacheDims& d = header_.dims;
  if (const auto* positions = c->positions()) {
    require_intact(rec.token_begin == 0 && rec.token_count > 0 && rec.token_count <= d.num_tokens,
                   what + " token_count " + str(rec.token_count) + " is out of range");
    const uint64_t rows = header_.per_head ? d.num_kv_heads : 1;
    require_intact(positions->size() == rows * rec.token_count,
                   what + " has " + str(positions->size()) + " positions, expected " +
                       str(rows * rec.token_count));
    rec.positions.assign(positions->begin(), positions->end());
    for (uint64_t r = 0; r < rows; ++r) {
      const uint32_t* row = rec.positions.data() + r * rec.token_count;
      for (uint32_t i = 0; i < rec.token_count; ++i) {
        require_intact(row[i] < d.num_tokens && (i == 0 || row[i] > row[i - 1]),
                       what + " positions are not ascending below num_tokens");
      }
    }
  } else {
    require_intact(rec.token_begin == 0 && rec.token_count == d.num_tokens,
                   what + " covers tokens [" + str(rec.token_begin) + ", +" + str(rec.token_count) +
                       "), not the whole cache");
  }
  const uint32_t tokens = rec.token_count;

  ChunkEncoding& e = rec.encoding;
  const auto codec = static_cast<uint8_t>(c->codec());
  require_intact(codec <= 1, what + " codec " + str(codec) + " is unknown");
  e.codec = static_cast<kvc::Codec>(codec);
  e.bits = checked_bits(c->bits(), what + " bits");
  const bool is_key = rec.tensor == TensorKind::Key;
  require_intact(e.bits == (is_key ? header_.key_bits : header_.value_bits),
                 what + " bits " + str(e.bits) + " disagree with the header");
  require_intact((e.codec == kvc::Codec::Raw) == (e.bits == 16), what + " codec and bits disagree");
  if (e.codec == kvc::Codec::Groupwise) {
    e.axis = is_key ? kvc::GroupAxis::Tokens : kvc::GroupAxis::Channels;
    require_intact(static_cast<uint8_t>(c->group_axis()) == static_cast<uint8_t>(e.axis),
                   what + " group axis disagrees with its tensor");
    e.group_size = c->group_size();
    const uint32_t expected_group =
        is_key ? header_.group_size : std::min(header_.group_size, d.head_dim);
    require_intact(e.group_size == expected_group,
                   what + " group_size " + str(e.group_size) + " is not " + str(expected_group));
    e.quantized_tokens = c->quantized_tokens();
    const uint32_t recent = std::min(header_.recent_tokens, tokens);
    require_intact(
        e.quantized_tokens == tokens - recent,
        what + " quantized_tokens " + str(e.quantized_tokens) + " is not " + str(tokens - recent));
    const auto side = static_cast<uint8_t>(c->side_dtype());
    require_intact(side <= 1, what + " side dtype " + str(side) + " is unknown");
    e.side = static_cast<kvc::SideDType>(side);
  }
  const auto* sections = c->sections();
  require_intact(sections != nullptr && sections->size() <= 8, what + " section list is invalid");
  for (const Section* s : *sections) {
    SectionInfo info;
    const auto kind = static_cast<uint8_t>(s->kind());
    const auto encoding = static_cast<uint8_t>(s->encoding());
    require_intact(kind <= 4 && encoding <= 1, what + " has a section of unknown kind or encoding");
    info.kind = static_cast<kvc::SectionKind>(kind);
    info.encoding = static_cast<SectionEncoding>(encoding);
    info.shuffle_width = s->shuffle_width();
    info.raw_bytes = s->raw_bytes();
    info.stored_bytes = s->stored_bytes();
    e.sections.push_back(info);
  }

  const uint64_t payload_offset = ref.offset + msg.total_bytes();
  rec.payload_bytes = c->payload_bytes();
  require_intact(rec.payload_bytes <= limit - payload_offset,
                 what + " payload of " + str(rec.payload_bytes) + " bytes runs past its end");
  rec.payload = data_ + payload_offset;
  require_intact(!check_payload || checksum_matches(checksum(rec.payload, rec.payload_bytes),
                                                    c->payload_checksum()),
                 what + " payload checksum mismatch");
  return rec;
}

void BlobReader::verify_content() const {
  require_intact(checksum_matches(checksum(data_, footer_offset_), content_checksum_),
                 "content checksum mismatch");
}

void BlobReader::verify_all() const {
  verify_content();
  for (size_t i = 0; i + 1 < refs_.size(); i += 2) {
    // The key and the value chunk of a layer hold the same tokens (schema/README.md §2).
    const ChunkRecord keys = read_chunk(i);
    const ChunkRecord values = read_chunk(i + 1);
    require_intact(keys.token_begin == values.token_begin &&
                       keys.token_count == values.token_count && keys.positions == values.positions,
                   "layer " + str(keys.layer) + ": keys and values hold different tokens");
  }
  if (refs_.size() % 2 != 0) (void)read_chunk(refs_.size() - 1);
}

}  // namespace kvc::format
