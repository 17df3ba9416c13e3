// error.h: kvc::Error, the one exception type of the core, carrying a kvc_status and a message.
#pragma once

#include <kvc/kvc.h>

#include <stdexcept>
#include <string>

namespace kvc {

class Error : public std::runtime_error {
 public:
  Error(kvc_status code, const std::string& message) : std::runtime_error(message), code_(code) {}
  kvc_status code() const noexcept { return code_; }

 private:
  kvc_status code_;
};

// Throws Error(KVC_ERR_INVALID_ARGUMENT, message) unless condition holds.
inline void require(bool condition, const std::string& message) {
  if (!condition) throw Error(KVC_ERR_INVALID_ARGUMENT, message);
}

// Throws Error(KVC_ERR_CORRUPT_DATA, message) unless condition holds.
inline void require_intact(bool condition, const std::string& message) {
  if (!condition) throw Error(KVC_ERR_CORRUPT_DATA, message);
}

}  // namespace kvc
