// cli.h: what the kvc tool's subcommands share: failures and exit codes, files, progress, output.
#pragma once

#include <kvc/kvc_tools.h>

#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kvc::cli {

using nlohmann::json;

// Exit codes of the tool.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;    // I/O, invalid argument, out of memory, internal
constexpr int kExitUsage = 2;    // bad flags or missing arguments
constexpr int kExitCorrupt = 3;  // corrupt data, unsupported format, failed verification

// The one exception the subcommands throw; main turns it into a message and an exit code.
class Failure {
 public:
  Failure(std::string status_name, std::string message, int exit_code)
      : status_name_(std::move(status_name)), message_(std::move(message)), exit_code_(exit_code) {}
  const std::string& status_name() const { return status_name_; }
  const std::string& message() const { return message_; }
  int exit_code() const { return exit_code_; }

 private:
  std::string status_name_;
  std::string message_;
  int exit_code_;
};

// Exit code of a failed kvc_status: 3 for corrupt data or an unsupported version, else 1.
int exit_code_for(kvc_status status);

// A Failure for status with message.
Failure failure(kvc_status status, const std::string& message);

// A kvc_context for one run; failed calls become Failures carrying its last error.
class Context {
 public:
  // device: KVC_DEVICE_CPU or KVC_DEVICE_CUDA (device 0); throws the Failure when it cannot be had.
  explicit Context(kvc_device device = KVC_DEVICE_CPU);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  kvc_context* get() const { return ctx_; }
  // Throws the Failure for status (with what, then kvc_context_last_error) unless it is KVC_OK.
  void check(kvc_status status, const std::string& what) const;

 private:
  kvc_context* ctx_ = nullptr;
};

// A loaded safetensors cache, freed with kvc_cache_free.
struct CacheDeleter {
  void operator()(kvc_cache* cache) const { kvc_cache_free(cache); }
};
using CachePtr = std::unique_ptr<kvc_cache, CacheDeleter>;

// A loaded query file, freed with kvc_query_file_free.
struct QueryFileDeleter {
  void operator()(kvc_query_file* file) const { kvc_query_file_free(file); }
};
using QueryFilePtr = std::unique_ptr<kvc_query_file, QueryFileDeleter>;

// Bytes of a heap buffer that is not zeroed first (its pages are touched only when written).
struct Buffer {
  std::unique_ptr<unsigned char[]> data;
  size_t size_bytes = 0;
};
Buffer allocate(size_t size_bytes);

// Reads a whole file; a missing or unreadable file is KVC_ERR_IO with the path and strerror.
std::vector<unsigned char> read_file(const std::string& path);

// Writes data to path atomically with kvc::io::AtomicFile: a temporary file beside it (a name
// unique to the call), fsync, rename. The temporary file is removed on any failure (and on SIGINT,
// SIGTERM or SIGHUP), so path is never left torn. A path that is a FIFO or a device (/dev/null)
// is written as a stream and stays what it is.
void write_file_atomic(const std::string& path, const void* data, size_t size_bytes);

// Throws a KVC_ERR_INVALID_ARGUMENT Failure when output names the same file as one of inputs
// (the same path however spelled, a symbolic or a hard link to it: equal st_dev and st_ino), so
// that writing the output cannot destroy an input. Empty inputs are skipped.
void check_output_is_not_an_input(const std::string& output,
                                  const std::vector<std::string>& inputs);

// Draws a one-line progress indicator on stderr while a long call runs, when stderr is a
// terminal; does nothing otherwise. Registered on the context for the lifetime of the object.
class Progress {
 public:
  Progress(const Context& ctx, const char* label);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

 private:
  static void on_progress(void* user_data, uint64_t done, uint64_t total);
  void clear();

  const Context& ctx_;
  const char* label_;
  int last_percent_ = -1;
  size_t drawn_chars_ = 0;
};

// printf into a std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Prints text to stdout (human-readable mode).
void print(const std::string& text);

// The non-empty lines of text.
std::vector<std::string> split_lines(const std::string& text);
// Prints one JSON document (and a newline) to stdout.
void print_json(const json& document);

// "float16", "float32", "bfloat16" or "dtype <n>".
std::string dtype_name(kvc_dtype dtype);
// Bytes of one element of dtype; 0 for an unknown dtype.
size_t dtype_bytes(kvc_dtype dtype);
// "auto", "off", "on" or "shuffle <n>".
std::string shuffle_name(int32_t byte_shuffle);
// The shape as JSON: num_layers, num_kv_heads, num_tokens, head_dim, dtype.
json shape_json(const kvc_cache_shape& shape);
// "5 layers x 4 kv heads x 512 tokens x 8 head_dim, float16".
std::string shape_text(const kvc_cache_shape& shape);
// A byte count with its binary unit: "23.5 MiB (24641536 bytes)".
std::string bytes_text(uint64_t bytes);

// One subcommand: its CLI11 app, its --json flag, and what runs it after parsing.
struct Command {
  CLI::App* app = nullptr;
  std::shared_ptr<const bool> is_json;
  std::function<int()> run;
};

// Adds the --json flag every subcommand has.
void add_json_flag(CLI::App& sub, bool& is_json);

Command add_compress_command(CLI::App& app);
Command add_decompress_command(CLI::App& app);
Command add_inspect_command(CLI::App& app);
Command add_verify_command(CLI::App& app);
Command add_models_command(CLI::App& app);
Command add_adapter_command(CLI::App& app);
Command add_estimate_command(CLI::App& app);
Command add_bench_command(CLI::App& app);
Command add_validate_command(CLI::App& app);

// An adapter as JSON: name, family, attention_type, shape fields, policy, is_builtin, source.
json adapter_json(const kvc_adapter_info& info);

// ---- Model, shape and params options of `kvc estimate` and `kvc bench` (model_options.cpp) --
struct ModelOptions {
  std::string model;
  uint32_t layers = 1, heads = 1, head_dim = 0, tokens = 0;
  std::string dtype = "f16";
  int32_t bits = 4, key_bits = 4, value_bits = 4, group_size = 64, recent = 0, zstd_level = 1;
  std::string select = "none";
  float keep_ratio = 0.5f, threshold = 0.9f;
  uint32_t min_tokens = 0, max_tokens = 0, sinks = 4, keep_recent = 32, sliding_window = 0;
  // Which options were given (a flag given wins over the model's policy).
  CLI::Option *model_option = nullptr, *layers_option = nullptr, *heads_option = nullptr,
              *head_dim_option = nullptr, *tokens_option = nullptr, *bits_option = nullptr,
              *key_bits_option = nullptr, *value_bits_option = nullptr,
              *group_size_option = nullptr, *recent_option = nullptr, *zstd_level_option = nullptr,
              *keep_ratio_option = nullptr, *threshold_option = nullptr,
              *min_tokens_option = nullptr, *max_tokens_option = nullptr, *sinks_option = nullptr,
              *keep_recent_option = nullptr, *sliding_window_option = nullptr;
};

// What the options resolve to: the shape, the params, and the model's adapter when one is named.
struct ModelSetup {
  kvc_cache_shape shape{};
  kvc_compress_params params{};
  bool has_model = false;
  const kvc_adapter* adapter = nullptr;  // borrowed registry adapter
  kvc_adapter_info info{};
};

// Adds --model, --layers, --heads, --head-dim, --tokens (required unless is_shape_optional),
// --dtype, the codec flags and the selection flags.
void add_model_options(CLI::App& sub, ModelOptions& o, bool is_shape_optional);
// Params: library defaults, then the model's policy, then the flags given. Shape: cache_shape
// when not NULL, else the flags over the model's; a model without a published shape needs
// --head-dim (layers and heads then default to 1). Throws a Failure naming the flag.
ModelSetup resolve_model_options(const ModelOptions& o, const kvc_cache_shape* cache_shape);
// "none", "attention", "key-norm", "recency".
std::string selection_name(int32_t selection);
// The params as JSON (codec and selection fields) and as one line of text.
json params_json(const kvc_compress_params& p);
std::string params_text(const kvc_compress_params& p);

// ---- A reproducible cache for `kvc bench` (synthetic_cache.cpp) ----------------------------
struct SyntheticCache {
  kvc_cache_shape shape{};
  std::vector<unsigned char> keys, values;  // packed, shape.dtype
  kvc_query_shape query_shape{};            // num_queries 0: no queries
  std::vector<float> queries;               // [query_heads][queries][head_dim], shared by layers
};
// Keys with per-channel outliers and offsets (about 1 channel in 16 at 4-10x), values and queries
// standard normal (queries scaled on the keys' outlier channels); the same bytes for one seed.
SyntheticCache synthesize_cache(const kvc_cache_shape& shape, uint32_t num_query_heads,
                                uint32_t num_queries, uint64_t seed);

}  // namespace kvc::cli
