// io_error.h: the errors of the safetensors code, each message starting with the file's path.
#pragma once

#include <string>

namespace kvc::io {

// Error(KVC_ERR_IO, "<path>: <strerror>").
[[noreturn]] void throw_io(const std::string& path, int error_number);
// Error(KVC_ERR_CORRUPT_DATA, "<path>: <what>"): not a valid safetensors file or sidecar.
[[noreturn]] void throw_corrupt(const std::string& path, const std::string& what);
// Error(KVC_ERR_INVALID_ARGUMENT, "<path>: <what>"): valid, but not a file of kvc's convention.
[[noreturn]] void throw_not_a_cache(const std::string& path, const std::string& what);

}  // namespace kvc::io
