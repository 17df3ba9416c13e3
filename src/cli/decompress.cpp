// decompress.cpp: `kvc decompress`: .kvc blob -> safetensors cache (all layers or a range).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <map>
#include <vector>

#include "cli.h"

namespace kvc::cli {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

const std::map<std::string, kvc_dtype>& dtype_choices() {
  static const std::map<std::string, kvc_dtype> choices = {{"float16", KVC_DTYPE_F16},
                                                           {"float32", KVC_DTYPE_F32},
                                                           {"bfloat16", KVC_DTYPE_BF16},
                                                           {"stored", KVC_DTYPE_AS_STORED}};
  return choices;
}

struct LayerRange {
  uint32_t first = 0;
  uint32_t count = 0;  // 0: every layer from first on
};

// Parses a decimal uint32 that fills the whole text.
bool parse_uint32(const std::string& text, uint32_t& out) {
  if (text.empty() || text.size() > 10) return false;
  uint64_t v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    v = 10 * v + static_cast<uint64_t>(c - '0');
  }
  if (v > std::numeric_limits<uint32_t>::max()) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

// "FIRST" or "FIRST:COUNT"; an error text for CLI11 (empty when valid).
std::string parse_layers(const std::string& text, LayerRange* out) {
  LayerRange r;
  const size_t colon = text.find(':');
  const std::string first = text.substr(0, colon);
  if (!parse_uint32(first, r.first)) return "FIRST in FIRST[:COUNT] must be a layer number";
  if (colon != std::string::npos) {
    if (!parse_uint32(text.substr(colon + 1), r.count) || r.count == 0) {
      return "COUNT in FIRST[:COUNT] must be a positive number of layers";
    }
  }
  if (out != nullptr) *out = r;
  return "";
}

struct DecompressOptions {
  std::string input;
  std::string output;
  std::string dtype = "stored";
  std::string layers;
  bool is_scatter = false;
  bool is_json = false;
};

int run_decompress(const DecompressOptions& o) {
  const auto start = Clock::now();
  check_output_is_not_an_input(o.output, {o.input});
  const std::vector<unsigned char> blob = read_file(o.input);
  const Context ctx;
  kvc_blob_info info{};
  info.struct_size = sizeof info;
  ctx.check(kvc_inspect(ctx.get(), blob.data(), blob.size(), &info), o.input);

  kvc_decompress_params params{};
  kvc_decompress_params_default(&params, sizeof params);
  params.dtype = dtype_choices().at(o.dtype);
  LayerRange range;
  if (!o.layers.empty()) parse_layers(o.layers, &range);
  params.first_layer = range.first;
  params.num_layers = range.count;
  params.scatter = o.is_scatter ? 1 : 0;
  if (range.first >= info.num_layers ||
      (range.count != 0 && range.count > info.num_layers - range.first)) {
    throw failure(KVC_ERR_INVALID_ARGUMENT,
                  format("--layers %s is outside the blob's %u layers (0..%u)", o.layers.c_str(),
                         info.num_layers, info.num_layers - 1));
  }
  const uint32_t num_layers = range.count != 0 ? range.count : info.num_layers - range.first;

  // Tokens each layer kept: the output is one safetensors cache, so without --scatter every
  // layer must have kept the same number.
  std::vector<uint32_t> layer_tokens(num_layers);
  size_t position_count = 0;
  ctx.check(
      kvc_decompress_positions(ctx.get(), &params, blob.data(), blob.size(), layer_tokens.data(),
                               layer_tokens.size(), nullptr, 0, &position_count),
      o.input);
  const auto [fewest, most] = std::minmax_element(layer_tokens.begin(), layer_tokens.end());
  if (!o.is_scatter && *fewest != *most) {
    throw failure(KVC_ERR_INVALID_ARGUMENT,
                  format("%s: its layers keep between %u and %u tokens, which one safetensors "
                         "cache cannot hold; use --scatter for the original length",
                         o.input.c_str(), *fewest, *most));
  }

  // Ask the library for the size first: it also checks the layer range against the blob.
  size_t bytes_each = 0;
  const kvc_status sized = kvc_decompress(ctx.get(), &params, blob.data(), blob.size(), nullptr,
                                          nullptr, 0, &bytes_each);
  if (sized != KVC_ERR_BUFFER_TOO_SMALL) ctx.check(sized, o.input);

  kvc_cache_shape shape{};
  kvc_cache_shape_default(&shape, sizeof shape);
  shape.num_layers = num_layers;
  shape.num_kv_heads = info.num_kv_heads;
  shape.num_tokens = o.is_scatter ? info.num_tokens : *most;
  shape.head_dim = info.head_dim;
  shape.dtype = params.dtype == KVC_DTYPE_AS_STORED ? info.dtype : params.dtype;
  const uint64_t expected = uint64_t{shape.num_layers} * shape.num_kv_heads * shape.num_tokens *
                            shape.head_dim * dtype_bytes(shape.dtype);
  if (expected != bytes_each) {
    throw failure(KVC_ERR_INTERNAL,
                  format("%s: the library sizes each tensor at %zu bytes; the header implies %llu",
                         o.input.c_str(), bytes_each, static_cast<unsigned long long>(expected)));
  }

  const Buffer keys = allocate(bytes_each);
  const Buffer values = allocate(bytes_each);
  size_t decoded_bytes = 0;
  auto phase = Clock::now();
  {
    const Progress progress(ctx, "decompressing");
    ctx.check(kvc_decompress(ctx.get(), &params, blob.data(), blob.size(), keys.data.get(),
                             values.data.get(), bytes_each, &decoded_bytes),
              o.input);
  }
  const double decompress_ms = ms_since(phase);
  phase = Clock::now();
  ctx.check(kvc_cache_save(ctx.get(), o.output.c_str(), &shape, keys.data.get(), bytes_each,
                           values.data.get(), bytes_each, info.model_name),
            "");
  const double write_ms = ms_since(phase);

  if (o.is_json) {
    json r;
    r["command"] = "decompress";
    r["input"] = o.input;
    r["output"] = o.output;
    r["shape"] = shape_json(shape);
    r["stored_dtype"] = dtype_name(info.dtype);
    r["layers"] = {{"first", range.first}, {"count", shape.num_layers}};
    r["scatter"] = o.is_scatter;
    r["tokens_total"] = info.num_tokens;
    r["layer_tokens_kept"] = layer_tokens;
    r["compressed_size_bytes"] = blob.size();
    r["tensor_bytes"] = bytes_each;
    r["decompressed_size_bytes"] = 2 * uint64_t{bytes_each};
    r["processing_time_ms"] = decompress_ms;
    r["timings_ms"] = {
        {"decompress", decompress_ms}, {"write", write_ms}, {"total", ms_since(start)}};
    print_json(r);
  } else {
    std::string t = format("decompressed %s -> %s\n", o.input.c_str(), o.output.c_str());
    t += "  shape      " + shape_text(shape) + "\n";
    t += format("  layers     %u..%u of %u\n", range.first, range.first + shape.num_layers - 1,
                info.num_layers);
    t += format("  size       %s -> %s (keys and values)\n", bytes_text(blob.size()).c_str(),
                bytes_text(2 * uint64_t{bytes_each}).c_str());
    t += format("  time       %.1f ms decompress, %.1f ms write, %.1f ms total\n", decompress_ms,
                write_ms, ms_since(start));
    print(t);
  }
  return kExitOk;
}

}  // namespace

Command add_decompress_command(CLI::App& app) {
  auto o = std::make_shared<DecompressOptions>();
  CLI::App* sub = app.add_subcommand(
      "decompress", "Decode a .kvc blob into a safetensors KV cache (plus its metadata sidecar)");
  sub->add_option("input", o->input, "Compressed cache (.kvc)")->required();
  sub->add_option("-o,--output", o->output, "Output .safetensors file (written atomically)")
      ->required();
  sub->add_option("--dtype", o->dtype, "Output dtype; stored = the dtype it was compressed from")
      ->check(CLI::IsMember({"float16", "float32", "bfloat16", "stored"}))
      ->capture_default_str();
  sub->add_option("--layers", o->layers,
                  "Decode only layers FIRST[:COUNT] (COUNT omitted: all that follow); only the "
                  "chunks read are checksummed")
      ->check(CLI::Validator([](std::string& text) { return parse_layers(text, nullptr); },
                             "FIRST[:COUNT]", "LayerRange"));
  sub->add_flag("--scatter", o->is_scatter,
                "Restore the original length: evicted tokens come back as zero rows");
  add_json_flag(*sub, o->is_json);
  return Command{sub, std::shared_ptr<const bool>(o, &o->is_json),
                 [o] { return run_decompress(*o); }};
}

}  // namespace kvc::cli
