// file_reader.cpp: regular files opened for reading and read at exact offsets with pread.
#include "io/file_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/error.h"
#include "io/io_error.h"

namespace kvc::io {
namespace {

constexpr uint64_t kMaxBytesPerCall = uint64_t{1} << 30;

}  // namespace

std::optional<OpenFile> open_for_reading(const std::string& path, bool may_be_absent) {
  int raw_fd;
  do {
    raw_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block
  } while (raw_fd < 0 && errno == EINTR);
  if (raw_fd < 0) {
    if (may_be_absent && errno == ENOENT) return std::nullopt;
    throw_io(path, errno);
  }
  FileDescriptor fd(raw_fd);
  struct stat info;
  if (::fstat(fd.get(), &info) != 0) throw_io(path, errno);
  if (S_ISDIR(info.st_mode)) throw_io(path, EISDIR);
  if (!S_ISREG(info.st_mode)) throw Error(KVC_ERR_IO, path + ": not a regular file");
  return OpenFile{std::move(fd), static_cast<uint64_t>(info.st_size)};
}

void read_exactly(int fd, uint64_t offset, void* dst, uint64_t size_bytes,
                  const std::string& path) {
  auto* out = static_cast<unsigned char*>(dst);
  while (size_bytes > 0) {
    const auto want = static_cast<size_t>(std::min(size_bytes, kMaxBytesPerCall));
    const ssize_t got = ::pread(fd, out, want, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_io(path, errno);
    }
    if (got == 0) throw_corrupt(path, "file ends early, at byte " + std::to_string(offset));
    out += got;
    offset += static_cast<uint64_t>(got);
    size_bytes -= static_cast<uint64_t>(got);
  }
}

}  // namespace kvc::io
