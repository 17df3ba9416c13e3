// atomic_file.cpp: temporary file beside the target, write, fsync, rename, fsync the directory;
// special files (FIFOs, devices) written in place as streams.
#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>

namespace kvc::io {
namespace {

constexpr uint64_t kMaxBytesPerCall = uint64_t{1} << 30;
constexpr int kMaxCreateAttempts = 100;  // names taken (EEXIST) before giving up

// Numbers temporary files within this process: with the pid, unique among live processes.
std::atomic<uint64_t> g_next_unique{0};

int open_retrying(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

}  // namespace

bool is_stream_target(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode) && !S_ISDIR(info.st_mode);
}

std::string temporary_path_for(const std::string& path, uint64_t unique) {
  const size_t slash = path.rfind('/');
  const size_t name_begin = slash == std::string::npos ? 0 : slash + 1;
  const std::string suffix = ".tmp." + std::to_string(::getpid()) + "." + std::to_string(unique);
  size_t name_bytes = path.size() - name_begin;
  if (name_bytes + suffix.size() > NAME_MAX) {
    name_bytes = NAME_MAX - suffix.size();
    // Never cut a multi-byte UTF-8 character: back up over its continuation bytes.
    while (name_bytes > 0 &&
           (static_cast<unsigned char>(path[name_begin + name_bytes]) & 0xC0) == 0x80) {
      --name_bytes;
    }
  }
  return path.substr(0, name_begin + name_bytes) + suffix;
}

AtomicFile::~AtomicFile() {
  (void)fd_.close_now();
  if (!is_committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

int AtomicFile::open(const std::string& path) {
  if (path.empty()) return ENOENT;
  path_ = path;
  struct stat info;
  if (::stat(path.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) return EISDIR;
    if (!S_ISREG(info.st_mode)) return open_stream();
  }
  return open_temporary();
}

int AtomicFile::open_temporary() {
  const size_t slash = path_.rfind('/');
  directory_ = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
  for (int attempt = 0; attempt < kMaxCreateAttempts; ++attempt) {
    temp_path_ = temporary_path_for(path_, g_next_unique.fetch_add(1));
    const int fd = open_retrying(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      fd_ = FileDescriptor(fd);
      return 0;
    }
    const int error_number = errno;
    temp_path_.clear();  // not ours: never unlink it
    if (error_number != EEXIST) return error_number;
  }
  return EEXIST;
}

int AtomicFile::open_stream() {
  const int fd = open_retrying(path_.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno;
  FileDescriptor opened(fd);
  struct stat info;
  if (::fstat(fd, &info) != 0) return errno;
  // Replaced by a regular file since the stat: writing it in place would not be atomic.
  if (S_ISREG(info.st_mode)) return open_temporary();
  fd_ = std::move(opened);
  is_stream_ = true;
  return 0;
}

int AtomicFile::write(const void* data, uint64_t size_bytes) {
  if (!fd_.is_open()) return EBADF;
  const auto* in = static_cast<const unsigned char*>(data);
  while (size_bytes > 0) {
    const auto want = static_cast<size_t>(std::min(size_bytes, kMaxBytesPerCall));
    const ssize_t put = ::write(fd_.get(), in, want);
    if (put < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (put == 0) return EIO;
    in += put;
    size_bytes -= static_cast<uint64_t>(put);
  }
  return 0;
}

int AtomicFile::flush() {
  if (!fd_.is_open()) return is_committed_ || !temp_path_.empty() || is_stream_ ? 0 : EBADF;
  if (!is_stream_ && ::fsync(fd_.get()) != 0) return errno;  // a pipe or device cannot fsync
  return fd_.close_now();
}

int AtomicFile::commit() {
  if (is_committed_) return 0;
  if (const int error_number = flush()) return error_number;
  if (is_stream_) {
    is_committed_ = true;
    return 0;
  }
  if (temp_path_.empty()) return EBADF;
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) return errno;
  is_committed_ = true;
  const int dir_fd = open_retrying(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    (void)::fsync(dir_fd);
    ::close(dir_fd);
  }
  return 0;
}

}  // namespace kvc::io
