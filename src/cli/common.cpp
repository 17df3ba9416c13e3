// common.cpp: the kvc tool's shared part: failures, context, files, progress and output helpers.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <new>
#include <utility>

#include "cli.h"
#include "io/atomic_file.h"

namespace kvc::cli {

// ---- Failures and the context ------------------------------------------------------------

int exit_code_for(kvc_status status) {
  if (status == KVC_ERR_CORRUPT_DATA || status == KVC_ERR_UNSUPPORTED_VERSION) return kExitCorrupt;
  return status == KVC_OK ? kExitOk : kExitError;
}

Failure failure(kvc_status status, const std::string& message) {
  return Failure(kvc_status_name(status), message, exit_code_for(status));
}

Context::Context(kvc_device device) {
  kvc_context_params params;
  kvc_context_params_default(&params, sizeof params);
  params.device = device;
  char why[512] = "";
  const kvc_status status = kvc_context_create(&params, &ctx_, why, sizeof why);
  if (status == KVC_OK) return;
  throw failure(status, std::string("cannot create a kvc context: ") + why);
}

Context::~Context() { kvc_context_free(ctx_); }

void Context::check(kvc_status status, const std::string& what) const {
  if (status == KVC_OK) return;
  const std::string detail = kvc_context_last_error(ctx_);
  std::string message = what;
  if (!detail.empty()) message += (message.empty() ? "" : ": ") + detail;
  if (message.empty()) message = "the call failed without a message";
  throw failure(status, message);
}

Buffer allocate(size_t size_bytes) {
  Buffer b;
  b.data = std::make_unique_for_overwrite<unsigned char[]>(size_bytes == 0 ? 1 : size_bytes);
  b.size_bytes = size_bytes;
  return b;
}

// ---- Files ---------------------------------------------------------------------------------

namespace {

constexpr size_t kMaxBytesPerCall = size_t{1} << 30;

[[noreturn]] void throw_io(const std::string& path, int error_number) {
  throw failure(KVC_ERR_IO, path + ": " + std::strerror(error_number));
}

void check_io(const std::string& path, int error_number) {
  if (error_number != 0) throw_io(path, error_number);
}

// The temporary file being written, for the signal handler; written only with signals blocked.
char g_temp_path[4096];
volatile std::sig_atomic_t g_has_temp_path = 0;

extern "C" void remove_temp_file_and_reraise(int signal_number) {
  if (g_has_temp_path) ::unlink(g_temp_path);
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

constexpr int kCleanupSignals[] = {SIGINT, SIGTERM, SIGHUP};

// Removes an AtomicFile's temporary file on the usual termination signals: blocks them from
// construction until watch() has the name (so none can strike between the file's creation and the
// handler's knowing it), and restores the previous handlers when destroyed.
class TempFileSignalCleanup {
 public:
  explicit TempFileSignalCleanup(bool is_blocking) {
    if (!is_blocking) return;
    sigset_t block;
    sigemptyset(&block);
    for (const int s : kCleanupSignals) sigaddset(&block, s);
    is_blocking_ = ::sigprocmask(SIG_BLOCK, &block, &previous_mask_) == 0;
  }
  TempFileSignalCleanup(const TempFileSignalCleanup&) = delete;
  TempFileSignalCleanup& operator=(const TempFileSignalCleanup&) = delete;
  ~TempFileSignalCleanup() {
    unblock();
    if (!has_handlers_) return;
    g_has_temp_path = 0;
    for (size_t i = 0; i < std::size(kCleanupSignals); ++i) {
      ::sigaction(kCleanupSignals[i], &previous_actions_[i], nullptr);
    }
  }

  // Installs the handlers for temp_path ("" for a stream: nothing to remove), then unblocks.
  void watch(const std::string& temp_path) {
    if (!temp_path.empty() && temp_path.size() < sizeof g_temp_path) {
      std::memcpy(g_temp_path, temp_path.c_str(), temp_path.size() + 1);
      g_has_temp_path = 1;
      struct sigaction action {};
      action.sa_handler = remove_temp_file_and_reraise;
      sigemptyset(&action.sa_mask);
      for (size_t i = 0; i < std::size(kCleanupSignals); ++i) {
        ::sigaction(kCleanupSignals[i], &action, &previous_actions_[i]);
      }
      has_handlers_ = true;
    }
    unblock();
  }

 private:
  void unblock() {
    if (std::exchange(is_blocking_, false)) ::sigprocmask(SIG_SETMASK, &previous_mask_, nullptr);
  }

  sigset_t previous_mask_{};
  bool is_blocking_ = false;
  bool has_handlers_ = false;
  struct sigaction previous_actions_[std::size(kCleanupSignals)]{};
};

}  // namespace

std::vector<unsigned char> read_file(const std::string& path) {
  int raw_fd;
  do {
    raw_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (raw_fd < 0 && errno == EINTR);
  if (raw_fd < 0) throw_io(path, errno);
  kvc::io::FileDescriptor fd(raw_fd);
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) throw_io(path, errno);
  if (S_ISDIR(info.st_mode)) throw_io(path, EISDIR);
  // One byte more than a regular file's size, so the read that finds its end needs no growth.
  std::vector<unsigned char> bytes(S_ISREG(info.st_mode) ? static_cast<size_t>(info.st_size) + 1
                                                         : size_t{65536});
  size_t used = 0;
  for (;;) {
    if (used == bytes.size()) bytes.resize(2 * bytes.size());
    const ssize_t got =
        ::read(fd.get(), bytes.data() + used, std::min(bytes.size() - used, kMaxBytesPerCall));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_io(path, errno);
    }
    if (got == 0) break;
    used += static_cast<size_t>(got);
  }
  bytes.resize(used);
  check_io(path, fd.close_now());
  return bytes;
}

void write_file_atomic(const std::string& path, const void* data, size_t size_bytes) {
  // Signals stay deliverable while opening a stream: a FIFO's open waits for its reader.
  TempFileSignalCleanup cleanup(/*is_blocking=*/!kvc::io::is_stream_target(path));
  kvc::io::AtomicFile file;  // destroyed first: removes an uncommitted temporary file
  const int opened = file.open(path);
  cleanup.watch(file.temp_path());
  check_io(path, opened);
  check_io(path, file.write(data, size_bytes));
  check_io(path, file.commit());
}

void check_output_is_not_an_input(const std::string& output,
                                  const std::vector<std::string>& inputs) {
  struct stat output_info {};
  if (::stat(output.c_str(), &output_info) != 0) return;  // a new file: no input can be it
  for (const std::string& input : inputs) {
    struct stat input_info {};
    if (input.empty() || ::stat(input.c_str(), &input_info) != 0) continue;
    if (input_info.st_dev == output_info.st_dev && input_info.st_ino == output_info.st_ino) {
      throw failure(KVC_ERR_INVALID_ARGUMENT,
                    "output " + output + " is the same file as the input " + input +
                        "; writing it would destroy the input: choose another -o");
    }
  }
}

// ---- Progress ------------------------------------------------------------------------------

Progress::Progress(const Context& ctx, const char* label) : ctx_(ctx), label_(label) {
  if (::isatty(STDERR_FILENO) != 1) return;
  ctx_.check(kvc_context_set_progress(ctx_.get(), &Progress::on_progress, this),
             "cannot register the progress callback");
}

Progress::~Progress() {
  (void)kvc_context_set_progress(ctx_.get(), nullptr, nullptr);
  clear();
}

void Progress::on_progress(void* user_data, uint64_t done, uint64_t total) {
  auto* self = static_cast<Progress*>(user_data);
  if (total == 0) return;
  const int percent = static_cast<int>(std::min<uint64_t>(done, total) * 100 / total);
  if (percent == self->last_percent_) return;
  self->last_percent_ = percent;
  const std::string line =
      format("kvc: %s %3d%% (%llu/%llu chunks)", self->label_, percent,
             static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
  std::fprintf(stderr, "\r%s", line.c_str());
  if (line.size() < self->drawn_chars_) {
    std::fprintf(stderr, "%*s", static_cast<int>(self->drawn_chars_ - line.size()), "");
  }
  std::fflush(stderr);
  self->drawn_chars_ = std::max(self->drawn_chars_, line.size());
}

void Progress::clear() {
  if (drawn_chars_ == 0) return;
  std::fprintf(stderr, "\r%*s\r", static_cast<int>(drawn_chars_), "");
  std::fflush(stderr);
  drawn_chars_ = 0;
}

// ---- Output --------------------------------------------------------------------------------

std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  const int needed = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string text;
  if (needed > 0) {
    text.resize(static_cast<size_t>(needed) + 1);
    std::vsnprintf(text.data(), text.size(), fmt, args);
    text.resize(static_cast<size_t>(needed));
  }
  va_end(args);
  return text;
}

void print(const std::string& text) { std::fputs(text.c_str(), stdout); }

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    if (end > begin) lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return lines;
}

void print_json(const json& document) {
  // Invalid UTF-8 (a path, a producer string from a crafted file) is replaced, never thrown.
  print(document.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

std::string dtype_name(kvc_dtype dtype) {
  switch (dtype) {
    case KVC_DTYPE_F32:
      return "float32";
    case KVC_DTYPE_F16:
      return "float16";
    case KVC_DTYPE_BF16:
      return "bfloat16";
    default:
      return "dtype " + std::to_string(dtype);
  }
}

size_t dtype_bytes(kvc_dtype dtype) {
  switch (dtype) {
    case KVC_DTYPE_F32:
      return 4;
    case KVC_DTYPE_F16:
    case KVC_DTYPE_BF16:
      return 2;
    default:
      return 0;
  }
}

std::string shuffle_name(int32_t byte_shuffle) {
  switch (byte_shuffle) {
    case KVC_SHUFFLE_AUTO:
      return "auto";
    case KVC_SHUFFLE_OFF:
      return "off";
    case KVC_SHUFFLE_ON:
      return "on";
    default:
      return "shuffle " + std::to_string(byte_shuffle);
  }
}

json shape_json(const kvc_cache_shape& shape) {
  return json{{"num_layers", shape.num_layers},
              {"num_kv_heads", shape.num_kv_heads},
              {"num_tokens", shape.num_tokens},
              {"head_dim", shape.head_dim},
              {"dtype", dtype_name(shape.dtype)}};
}

std::string shape_text(const kvc_cache_shape& shape) {
  return format("%u layers x %u kv heads x %u tokens x %u head_dim, %s", shape.num_layers,
                shape.num_kv_heads, shape.num_tokens, shape.head_dim,
                dtype_name(shape.dtype).c_str());
}

std::string bytes_text(uint64_t bytes) {
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return format("%llu bytes", static_cast<unsigned long long>(bytes));
  double scaled = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (scaled >= 1024.0 && unit + 1 < std::size(units)) {
    scaled /= 1024.0;
    ++unit;
  }
  return format("%.1f %s (%llu bytes)", scaled, units[unit],
                static_cast<unsigned long long>(bytes));
}

void add_json_flag(CLI::App& sub, bool& is_json) {
  sub.add_flag("--json", is_json, "Print exactly one JSON document on stdout (errors included)");
}

}  // namespace kvc::cli
