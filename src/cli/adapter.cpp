// adapter.cpp: `kvc adapter`: one model adapter, from the registry, a config.json or a GGUF file.
#include <cctype>
#include <cmath>

#include "cli.h"

namespace kvc::cli {
namespace {

struct AdapterOptions {
  std::string name;
  std::string hf_config;
  std::string gguf;
  bool is_json = false;
};

// An adapter built by kvc_adapter_from_*, freed with kvc_adapter_free.
struct AdapterDeleter {
  void operator()(kvc_adapter* adapter) const { kvc_adapter_free(adapter); }
};
using AdapterPtr = std::unique_ptr<kvc_adapter, AdapterDeleter>;

// A float field as the decimal it was written as (0.92, not 0.920000016).
double rounded(float value) { return std::round(static_cast<double>(value) * 1e4) / 1e4; }

// Text from a file for a terminal: control characters become '?'.
std::string printable(const char* text) {
  std::string out;
  for (const char* c = text; *c != '\0'; ++c) {
    out += std::iscntrl(static_cast<unsigned char>(*c)) ? '?' : *c;
  }
  return out;
}

std::string count_text(int32_t value) { return value > 0 ? std::to_string(value) : "-"; }

int run_adapter(const AdapterOptions& o) {
  const int given = !o.name.empty() + !o.hf_config.empty() + !o.gguf.empty();
  if (given != 1) {
    throw Failure("USAGE",
                  "give exactly one of NAME, --hf-config FILE or --gguf FILE (run 'kvc adapter "
                  "--help' for usage)",
                  kExitUsage);
  }
  const Context ctx;
  AdapterPtr owned;
  const kvc_adapter* adapter = nullptr;
  if (!o.name.empty()) {
    if (kvc_adapter_find(o.name.c_str(), &adapter) != KVC_OK) {
      throw failure(KVC_ERR_INVALID_ARGUMENT,
                    "unknown model '" + o.name + "' (run 'kvc models' for the list)");
    }
  } else if (!o.hf_config.empty()) {
    const std::vector<unsigned char> text = read_file(o.hf_config);
    kvc_adapter* built = nullptr;
    ctx.check(kvc_adapter_from_hf_config(ctx.get(), reinterpret_cast<const char*>(text.data()),
                                         text.size(), &built),
              o.hf_config);
    owned.reset(built);
    adapter = built;
  } else {
    kvc_adapter* built = nullptr;
    ctx.check(kvc_adapter_from_gguf(ctx.get(), o.gguf.c_str(), &built), "");
    owned.reset(built);
    adapter = built;
  }
  kvc_adapter_info info{};
  info.struct_size = sizeof info;
  ctx.check(kvc_adapter_get_info(adapter, &info), "adapter info");

  if (o.is_json) {
    json r = adapter_json(info);
    r["command"] = "adapter";
    print_json(r);
    return kExitOk;
  }
  std::string t =
      format("%s (%s): %s attention", printable(info.name).c_str(), printable(info.family).c_str(),
             kvc_attention_type_name(info.attention_type));
  if (info.window_tokens > 0) t += format(", window %d tokens", info.window_tokens);
  t += "\n";
  if (info.num_layers > 0 && info.head_dim > 0) {
    t += format("  shape      %d layers, %s query heads, %d kv heads x %d head_dim\n",
                info.num_layers, count_text(info.num_query_heads).c_str(), info.num_kv_heads,
                info.head_dim);
  } else {
    t += "  shape      taken from the input cache (the architecture is not public)\n";
  }
  if (info.attention_type == KVC_ATTENTION_LATENT) {
    t += format(
        "  cached     one latent of %d + a RoPE key of %d elements per token and layer, shared "
        "by all heads\n",
        info.latent_dim, info.rope_key_dim);
  }
  if (info.rope_theta > 0.0f) t += format("  rope       theta %.0f\n", info.rope_theta);
  if (info.context_tokens > 0) t += format("  context    %d tokens\n", info.context_tokens);
  t += format(
      "  policy     threshold %.2f, sink %d tokens, recent %d tokens, key_bits %d, value_bits "
      "%d, group_size %d, keys %s\n",
      rounded(info.attention_threshold), info.sink_tokens, info.recent_tokens, info.key_bits,
      info.value_bits, info.group_size,
      info.may_compress_keys ? "may be compressed" : "kept exact");
  t += "  source     " + printable(info.source) + "\n";
  print(t);
  return kExitOk;
}

}  // namespace

json adapter_json(const kvc_adapter_info& info) {
  json r;
  r["name"] = info.name;
  r["family"] = info.family;
  r["attention_type"] = kvc_attention_type_name(info.attention_type);
  r["window_tokens"] = info.window_tokens;
  r["num_layers"] = info.num_layers;
  r["num_query_heads"] = info.num_query_heads;
  r["num_kv_heads"] = info.num_kv_heads;
  r["head_dim"] = info.head_dim;
  r["has_shape"] = info.num_layers > 0 && info.num_kv_heads > 0 && info.head_dim > 0;
  r["context_tokens"] = info.context_tokens;
  r["rope_theta"] = static_cast<double>(info.rope_theta);
  r["latent_dim"] = info.latent_dim;
  r["rope_key_dim"] = info.rope_key_dim;
  r["policy"] = {{"attention_threshold", rounded(info.attention_threshold)},
                 {"sink_tokens", info.sink_tokens},
                 {"recent_tokens", info.recent_tokens},
                 {"key_bits", info.key_bits},
                 {"value_bits", info.value_bits},
                 {"group_size", info.group_size},
                 {"may_compress_keys", info.may_compress_keys != 0}};
  r["is_builtin"] = info.is_builtin != 0;
  r["source"] = info.source;
  return r;
}

Command add_adapter_command(CLI::App& app) {
  auto o = std::make_shared<AdapterOptions>();
  CLI::App* sub = app.add_subcommand(
      "adapter", "Show one model adapter: by name, or built from a config.json or a GGUF file");
  CLI::Option* name = sub->add_option("name", o->name, "Model name (see 'kvc models')");
  CLI::Option* hf = sub->add_option("--hf-config", o->hf_config, "A Hugging Face config.json");
  CLI::Option* gguf = sub->add_option("--gguf", o->gguf, "A GGUF model file (metadata only)");
  name->excludes(hf)->excludes(gguf);
  hf->excludes(gguf);
  add_json_flag(*sub, o->is_json);
  return Command{sub, std::shared_ptr<const bool>(o, &o->is_json), [o] { return run_adapter(*o); }};
}

}  // namespace kvc::cli
