// checksum.h: XXH3-64 (seed 0), the checksum of every payload, message and file of the format.
#pragma once

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <new>

namespace kvc::format {

inline uint64_t checksum(const void* data, size_t n) { return XXH3_64bits(data, n); }

// Whether a stored checksum matches the computed one. libFuzzer builds (KVC_BUILD_FUZZERS)
// accept every checksum, so mutated inputs reach the decoders behind them; never in a release.
inline bool checksum_matches(uint64_t computed, uint64_t stored) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  (void)computed;
  (void)stored;
  return true;
#else
  return computed == stored;
#endif
}

// Streaming XXH3-64 over a sequence of byte ranges.
class StreamingChecksum {
 public:
  StreamingChecksum() : state_(XXH3_createState()) {
    if (state_ == nullptr) throw std::bad_alloc();
    XXH3_64bits_reset(state_);
  }
  ~StreamingChecksum() { XXH3_freeState(state_); }
  StreamingChecksum(const StreamingChecksum&) = delete;
  StreamingChecksum& operator=(const StreamingChecksum&) = delete;

  void update(const void* data, size_t n) { XXH3_64bits_update(state_, data, n); }
  uint64_t digest() const { return XXH3_64bits_digest(state_); }

 private:
  XXH3_state_t* state_;
};

}  // namespace kvc::format
