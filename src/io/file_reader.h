// file_reader.h: regular files opened for reading and read at exact offsets, failing with messages
// that start with the path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "io/file_descriptor.h"

namespace kvc::io {

struct OpenFile {
  FileDescriptor fd;
  uint64_t size_bytes = 0;
};

// Opens a regular file for reading (a FIFO is refused without blocking); nullopt when it does not
// exist and may_be_absent holds. Throws Error(KVC_ERR_IO) otherwise.
std::optional<OpenFile> open_for_reading(const std::string& path, bool may_be_absent);

// Reads exactly size_bytes at offset: a failed read is KVC_ERR_IO, a file that ends first is
// KVC_ERR_CORRUPT_DATA (it shrank after its size was checked).
void read_exactly(int fd, uint64_t offset, void* dst, uint64_t size_bytes, const std::string& path);

}  // namespace kvc::io
