// inspect.cpp: `kvc inspect`: what a .kvc blob holds, read from its header and footer.
#include <cctype>

#include "cli.h"

namespace kvc::cli {
namespace {

struct InspectOptions {
  std::string input;
  bool is_json = false;
};

// The producer string for a terminal: control characters of a crafted file become '?'.
std::string printable(const char* text) {
  std::string out;
  for (const char* c = text; *c != '\0'; ++c) {
    out += std::iscntrl(static_cast<unsigned char>(*c)) ? '?' : *c;
  }
  return out;
}

int run_inspect(const InspectOptions& o) {
  const std::vector<unsigned char> blob = read_file(o.input);
  const Context ctx;
  kvc_blob_info info{};
  info.struct_size = sizeof info;
  ctx.check(kvc_inspect(ctx.get(), blob.data(), blob.size(), &info), o.input);

  kvc_cache_shape shape{};
  kvc_cache_shape_default(&shape, sizeof shape);
  shape.num_layers = info.num_layers;
  shape.num_kv_heads = info.num_kv_heads;
  shape.num_tokens = info.num_tokens;
  shape.head_dim = info.head_dim;
  shape.dtype = info.dtype;
  const double blob_bytes = static_cast<double>(info.blob_bytes);
  const double original_bytes = static_cast<double>(info.original_bytes);
  const double elements = original_bytes / static_cast<double>(dtype_bytes(info.dtype));
  const double ratio = original_bytes / blob_bytes;
  const double savings = 100.0 * (1.0 - blob_bytes / original_bytes);
  const double bits_per_element = 8.0 * blob_bytes / elements;

  if (o.is_json) {
    json r;
    r["command"] = "inspect";
    r["input"] = o.input;
    r["format_version"] = format("%u.%u", info.format_major, info.format_minor);
    r["format_major"] = info.format_major;
    r["format_minor"] = info.format_minor;
    r["producer"] = info.producer;
    r["model_name"] = info.model_name;
    r["shape"] = shape_json(shape);
    r["params"] = {{"key_bits", info.key_bits},
                   {"value_bits", info.value_bits},
                   {"group_size", info.group_size},
                   {"recent_full_precision_tokens", info.recent_full_precision_tokens},
                   {"zstd_level", info.zstd_level},
                   {"shuffle", shuffle_name(info.byte_shuffle)}};
    static const char* const kSelections[] = {"none", "attention", "key-norm", "recency"};
    r["selection"] = {
        {"policy",
         info.selection >= 0 && info.selection <= 3 ? kSelections[info.selection] : "unknown"},
        {"per_head", info.per_head != 0},
        {"tokens_total", uint64_t{info.num_tokens} * info.num_layers},
        {"tokens_kept", info.tokens_kept},
        {"max_layer_tokens", info.max_layer_tokens}};
    r["num_chunks"] = info.num_chunks;
    r["original_size_bytes"] = info.original_bytes;
    r["compressed_size_bytes"] = info.blob_bytes;
    r["compression_ratio"] = ratio;
    r["bandwidth_savings_percent"] = savings;
    r["bits_per_element"] = bits_per_element;
    print_json(r);
  } else {
    std::string t = format("%s: kvc format %u.%u, written by %s\n", o.input.c_str(),
                           info.format_major, info.format_minor, printable(info.producer).c_str());
    if (info.model_name[0] != '\0') t += "  model      " + printable(info.model_name) + "\n";
    t += "  shape      " + shape_text(shape) + "\n";
    t += format(
        "  params     key_bits %d, value_bits %d, group_size %d, recent_full_precision_tokens %d, "
        "zstd_level %d, shuffle %s\n",
        info.key_bits, info.value_bits, info.group_size, info.recent_full_precision_tokens,
        info.zstd_level, shuffle_name(info.byte_shuffle).c_str());
    t += format("  chunks     %u\n", info.num_chunks);
    t += format("  size       %s original, %s compressed\n",
                bytes_text(info.original_bytes).c_str(), bytes_text(info.blob_bytes).c_str());
    t += format("  ratio      %.3fx, %.1f%% bandwidth saved, %.3f bits/element\n", ratio, savings,
                bits_per_element);
    print(t);
  }
  return kExitOk;
}

}  // namespace

Command add_inspect_command(CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* sub = app.add_subcommand(
      "inspect", "Show a .kvc blob's format version, producer, shape, params and sizes");
  sub->add_option("input", o->input, "Compressed cache (.kvc)")->required();
  add_json_flag(*sub, o->is_json);
  return Command{sub, std::shared_ptr<const bool>(o, &o->is_json), [o] { return run_inspect(*o); }};
}

}  // namespace kvc::cli
