// canary.h: an output buffer followed by canary bytes, to prove that a call writes nothing past
// the capacity it was given.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

namespace kvc_api_test {

class CanaryBuffer {
 public:
  static constexpr size_t kCanaryBytes = 64;
  static constexpr unsigned char kPattern = 0xA5;

  // capacity usable bytes (filled with fill), then the canary.
  explicit CanaryBuffer(size_t capacity, unsigned char fill = 0x5A) : capacity_(capacity) {
    storage_.reserve(capacity + kCanaryBytes);
    storage_.insert(storage_.end(), capacity, fill);
    storage_.insert(storage_.end(), kCanaryBytes, kPattern);
  }

  unsigned char* data() { return storage_.data(); }
  const unsigned char* data() const { return storage_.data(); }
  size_t capacity() const { return capacity_; }

  // Whether every canary byte is untouched.
  bool intact() const {
    for (size_t i = capacity_; i < storage_.size(); ++i) {
      if (storage_[i] != kPattern) return false;
    }
    return true;
  }
  // Whether the usable bytes all still hold fill (nothing was written).
  bool untouched(unsigned char fill = 0x5A) const {
    for (size_t i = 0; i < capacity_; ++i) {
      if (storage_[i] != fill) return false;
    }
    return true;
  }
  std::vector<unsigned char> contents(size_t n) const {
    return std::vector<unsigned char>(storage_.begin(), storage_.begin() + n);
  }

 private:
  size_t capacity_;
  std::vector<unsigned char> storage_;
};

}  // namespace kvc_api_test
