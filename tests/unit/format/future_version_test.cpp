// future_version_test.cpp: blobs from a "future writer": a major version 2 is
// KVC_ERR_UNSUPPORTED_VERSION, and a newer minor version with fields this reader does not know
// (in Header, Chunk and Footer) still decodes to the same tensors (schema/README.md §1, §5).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "codecs/cache_codec.h"
#include "core/error.h"
#include "format/checksum.h"
#include "format/layout.h"
#include "format/reader.h"
#include "kvc_generated.h"
#include "unit/codec_helpers.h"
#include "unit/test_data.h"

namespace kvc {
namespace {

using test::PackedCache;

// Field ids beyond those of format 1.1 (Header has 17 fields, Chunk 14, Section 5, Footer 3): a
// voffset is 4 + 2 * id.
constexpr flatbuffers::voffset_t voffset(int id) {
  return static_cast<flatbuffers::voffset_t>(4 + 2 * id);
}

// Re-writes a valid blob as a writer of format major.minor would, adding unknown fields to
// every Header, Chunk and Footer when extra_fields is set. With 1.0 and no extra fields it gives
// the original bytes back (checked below), so it mirrors format/writer.cpp.
std::vector<unsigned char> rewrite(const std::vector<unsigned char>& blob, uint16_t major,
                                   uint16_t minor, bool extra_fields) {
  using namespace kvc::format;
  const BlobReader reader(blob.data(), blob.size());
  const HeaderFields& h = reader.header();
  std::vector<unsigned char> out(kPreambleBytes);
  std::memcpy(out.data(), kMagic, 4);
  store_u16(out.data() + 4, major);
  store_u16(out.data() + 6, minor);
  auto append = [&](const flatbuffers::FlatBufferBuilder& fbb) {
    out.insert(out.end(), fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
    return checksum(fbb.GetBufferPointer(), fbb.GetSize());
  };

  flatbuffers::FlatBufferBuilder hb(1024);
  auto producer = hb.CreateString(h.producer);
  auto model_name = h.model_name.empty() ? 0 : hb.CreateString(h.model_name);
  flatbuffers::Offset<flatbuffers::String> future_note;
  if (extra_fields) future_note = hb.CreateString("written by kvc 9.9 with fields 1.0 lacks");
  // Fields in the order of the generated CreateHeader, so that the bytes match writer.cpp's.
  HeaderBuilder header(hb);
  if (extra_fields) hb.AddElement<uint64_t>(voffset(18), 0x1122334455667788ull, 0);
  header.add_model_name(model_name);
  header.add_zstd_level(h.zstd_level);
  header.add_recent_tokens(h.recent_tokens);
  header.add_head_dim(h.dims.head_dim);
  header.add_num_tokens(h.dims.num_tokens);
  header.add_num_kv_heads(h.dims.num_kv_heads);
  header.add_num_layers(h.dims.num_layers);
  header.add_producer(producer);
  if (extra_fields) hb.AddOffset(voffset(17), future_note);
  header.add_group_size(static_cast<uint16_t>(h.group_size));
  header.add_byte_shuffle(static_cast<uint8_t>(h.byte_shuffle));
  header.add_value_bits(static_cast<uint8_t>(h.value_bits));
  header.add_key_bits(static_cast<uint8_t>(h.key_bits));
  header.add_dtype(static_cast<kvc::format::DType>(h.dims.dtype));
  hb.FinishSizePrefixed(CreateMessage(hb, Body::Header, header.Finish().Union()),
                        MessageIdentifier());
  const uint64_t header_checksum = append(hb);

  std::vector<ChunkRef> refs;
  for (size_t i = 0; i < reader.chunk_count(); ++i) {
    const ChunkRecord rec = reader.read_chunk(i);
    const ChunkEncoding& e = rec.encoding;
    flatbuffers::FlatBufferBuilder cb(512);
    std::vector<flatbuffers::Offset<Section>> sections;
    for (const SectionInfo& s : e.sections) {
      SectionBuilder sb(cb);
      sb.add_stored_bytes(s.stored_bytes);
      sb.add_raw_bytes(s.raw_bytes);
      if (extra_fields) cb.AddElement<uint32_t>(voffset(5), 77, 0);
      sb.add_shuffle_width(s.shuffle_width);
      sb.add_encoding(static_cast<Encoding>(s.encoding));
      sb.add_kind(static_cast<kvc::format::SectionKind>(s.kind));
      sections.push_back(sb.Finish());
    }
    auto section_vector = cb.CreateVector(sections);
    // A later minor may add another vector (as 1.1 added the kept positions): this reader
    // ignores it.
    flatbuffers::Offset<flatbuffers::Vector<uint32_t>> kept_vector;
    if (extra_fields) {
      std::vector<uint32_t> kept(rec.token_count);
      for (uint32_t t = 0; t < rec.token_count; ++t) kept[t] = t;
      kept_vector = cb.CreateVector(kept);
    }
    ChunkBuilder c(cb);
    c.add_payload_checksum(checksum(rec.payload, rec.payload_bytes));
    c.add_payload_bytes(rec.payload_bytes);
    c.add_sections(section_vector);
    if (extra_fields) cb.AddOffset(voffset(14), kept_vector);
    c.add_quantized_tokens(e.quantized_tokens);
    c.add_token_count(rec.token_count);
    c.add_token_begin(rec.token_begin);
    c.add_layer(rec.layer);
    c.add_group_size(static_cast<uint16_t>(e.group_size));
    c.add_side_dtype(static_cast<kvc::format::SideDType>(e.side));
    c.add_group_axis(static_cast<kvc::format::GroupAxis>(e.axis));
    c.add_bits(static_cast<uint8_t>(e.bits));
    c.add_codec(static_cast<kvc::format::Codec>(e.codec));
    c.add_tensor(static_cast<Tensor>(rec.tensor));
    cb.FinishSizePrefixed(CreateMessage(cb, Body::Chunk, c.Finish().Union()), MessageIdentifier());
    const uint64_t offset = out.size();
    refs.emplace_back(offset, append(cb), rec.layer, static_cast<Tensor>(rec.tensor));
    out.insert(out.end(), rec.payload, rec.payload + rec.payload_bytes);
  }

  flatbuffers::FlatBufferBuilder fb(64 + 32 * refs.size());
  auto ref_vector = fb.CreateVectorOfStructs(refs);
  const uint64_t content_checksum = checksum(out.data(), out.size());
  FooterBuilder footer(fb);
  if (extra_fields) fb.AddElement<uint64_t>(voffset(3), 42, 0);
  footer.add_content_checksum(content_checksum);
  footer.add_header_checksum(header_checksum);
  footer.add_chunks(ref_vector);
  fb.FinishSizePrefixed(CreateMessage(fb, Body::Footer, footer.Finish().Union()),
                        MessageIdentifier());
  const uint64_t footer_offset = out.size();
  const uint64_t footer_checksum = append(fb);
  unsigned char trailer[kTrailerBytes];
  store_u64(trailer, footer_offset);
  store_u64(trailer + 8, footer_checksum);
  std::memcpy(trailer + 16, kEndMagic, 8);
  out.insert(out.end(), trailer, trailer + sizeof trailer);
  return out;
}

std::vector<std::vector<unsigned char>> sample_blobs() {
  const PackedCache cache = test::pack(kvc_test::make_gaussian_cache(2, 2, 40, 32, 11), DType::F16);
  std::vector<std::vector<unsigned char>> blobs;
  for (int bits : {2, 4, 16}) {
    CompressSettings s;
    s.key_bits = bits;
    s.value_bits = bits == 16 ? 8 : bits;
    s.recent_tokens = 5;
    s.model_name = "future-test";
    blobs.push_back(test::compress(cache, s));
  }
  return blobs;
}

TEST(FutureVersion, TheTestWriterReproducesTheRealWriterByteForByte) {
  for (const auto& blob : sample_blobs()) {
    EXPECT_EQ(rewrite(blob, KVC_FORMAT_MAJOR, KVC_FORMAT_MINOR, false), blob);
  }
}

TEST(FutureVersion, ANewerMinorWithUnknownFieldsDecodesToTheSameTensors) {
  for (const auto& blob : sample_blobs()) {
    const std::vector<unsigned char> future =
        rewrite(blob, KVC_FORMAT_MAJOR, KVC_FORMAT_MINOR + 1, true);
    ASSERT_NE(future.size(), blob.size());  // the unknown fields are really there
    const format::BlobReader reader(future.data(), future.size());
    EXPECT_EQ(reader.header().format_minor, uint32_t{KVC_FORMAT_MINOR} + 1);
    EXPECT_NO_THROW(reader.verify_all());
    const PackedCache expected = test::decompress(blob), got = test::decompress(future);
    EXPECT_EQ(got.keys, expected.keys);
    EXPECT_EQ(got.values, expected.values);
  }
}

TEST(FutureVersion, MajorVersionTwoIsUnsupportedWhateverItHolds) {
  for (const auto& blob : sample_blobs()) {
    for (bool extra : {false, true}) {
      const std::vector<unsigned char> future = rewrite(blob, KVC_FORMAT_MAJOR + 1, 0, extra);
      try {
        (void)test::decompress(future);
        ADD_FAILURE() << "a major-2 blob decoded";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), KVC_ERR_UNSUPPORTED_VERSION) << e.what();
      }
    }
  }
}

}  // namespace
}  // namespace kvc
