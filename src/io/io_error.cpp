// io_error.cpp: the errors of the safetensors code, each message starting with the file's path.
#include "io/io_error.h"

#include <system_error>

#include "core/error.h"

namespace kvc::io {

void throw_io(const std::string& path, int error_number) {
  throw Error(KVC_ERR_IO,
              path + ": " + std::error_code(error_number, std::generic_category()).message());
}

void throw_corrupt(const std::string& path, const std::string& what) {
  throw Error(KVC_ERR_CORRUPT_DATA, path + ": " + what);
}

void throw_not_a_cache(const std::string& path, const std::string& what) {
  throw Error(KVC_ERR_INVALID_ARGUMENT, path + ": " + what);
}

}  // namespace kvc::io
