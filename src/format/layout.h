// layout.h: fixed byte layout around the FlatBuffers messages of a .kvc stream (preamble, trailer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace kvc::format {

// Preamble: magic (4 bytes) then format major and minor as little-endian uint16.
constexpr unsigned char kMagic[4] = {0x89, 'K', 'V', 'C'};
constexpr size_t kPreambleBytes = 8;

// Trailer: footer offset (u64 LE), XXH3-64 of the footer message (u64 LE), end magic (8 bytes).
constexpr unsigned char kEndMagic[8] = {0x89, 'K', 'V', 'C', 'E', 'N', 'D', '\n'};
constexpr size_t kTrailerBytes = 24;

// Every message: a little-endian uint32 size, then a FlatBuffer with identifier "KVC1".
constexpr char kMessageIdentifier[] = "KVC1";
constexpr size_t kSizePrefixBytes = 4;
constexpr uint32_t kMaxMessageBytes = 64u << 20;  // no message of ours comes near this

inline void store_u16(unsigned char* p, uint16_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
}
inline void store_u32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void store_u64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline uint16_t load_u16(const unsigned char* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
inline uint32_t load_u32(const unsigned char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t load_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace kvc::format
