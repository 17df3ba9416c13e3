// atomic_file.h: writes a file that readers see whole or not at all (temporary file, fsync,
// rename); self-contained POSIX code shared by libkvc and the kvc tool.
#pragma once

#include <cstdint>
#include <string>

#include "io/file_descriptor.h"

namespace kvc::io {

// True when path exists and is neither a regular file nor a directory: a FIFO, a character device
// such as /dev/null, a socket. AtomicFile writes such a target in place, as a stream.
bool is_stream_target(const std::string& path);

// The temporary file AtomicFile creates for path with this unique number:
// "<dir>/<name>.tmp.<pid>.<unique>" in path's own directory (so the rename is atomic), the name
// shortened (at a UTF-8 character boundary) when the whole would exceed NAME_MAX bytes.
std::string temporary_path_for(const std::string& path, uint64_t unique);

// One file being written. Regular targets: the bytes go to a new temporary file beside the target
// (created with O_EXCL under a name unique to this process and call, so concurrent writers never
// share one), which commit() fsyncs and renames over the target, then fsyncs the directory; the
// temporary file is removed if the object dies uncommitted. A target that is a stream (see
// is_stream_target) is opened for writing as it is, without O_CREAT or O_TRUNC: no temporary file
// and no rename, so a FIFO stays a FIFO and /dev/null stays a device.
// Failures return an errno value (0 is success); the object allocates only in open().
class AtomicFile {
 public:
  AtomicFile() = default;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  // Creates the temporary file for path (or opens the stream). EISDIR for a directory.
  [[nodiscard]] int open(const std::string& path);
  [[nodiscard]] int write(const void* data, uint64_t size_bytes);
  // Makes the written bytes durable: fsync and close (a stream is only closed).
  [[nodiscard]] int flush();
  // flush() unless done, then renames the temporary file over the target and fsyncs the directory
  // (best effort: some file systems refuse that). Allocates nothing.
  [[nodiscard]] int commit();

  bool is_stream() const { return is_stream_; }
  // The temporary file's path; "" for a stream or before open().
  const std::string& temp_path() const { return temp_path_; }

 private:
  int open_temporary();
  int open_stream();

  std::string path_;
  std::string temp_path_;
  std::string directory_;  // of path_, for the fsync after the rename
  FileDescriptor fd_;
  bool is_stream_ = false;
  bool is_committed_ = false;
};

}  // namespace kvc::io
