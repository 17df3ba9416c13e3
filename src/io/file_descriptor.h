// file_descriptor.h: owns one POSIX file descriptor; self-contained, shared by libkvc and the tool.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace kvc::io {

// Closes its descriptor when destroyed, unless close_now() did.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      (void)close_now();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { (void)close_now(); }

  int get() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  // Closes now; returns 0 or close()'s errno (a deferred write error on some file systems).
  int close_now() {
    const int fd = std::exchange(fd_, -1);
    return fd >= 0 && ::close(fd) != 0 ? errno : 0;
  }

 private:
  int fd_ = -1;
};

}  // namespace kvc::io
