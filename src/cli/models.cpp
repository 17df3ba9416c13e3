// models.cpp: `kvc models`: the built-in model adapters as a table or JSON.
#include <cmath>

#include "cli.h"

namespace kvc::cli {
namespace {

struct ModelsOptions {
  bool is_json = false;
};

std::string count_text(int32_t value) { return value > 0 ? std::to_string(value) : "-"; }

int run_models(const ModelsOptions& o) {
  std::vector<kvc_adapter_info> infos;
  const uint32_t n = kvc_adapter_count();
  for (uint32_t i = 0; i < n; ++i) {
    const kvc_adapter* adapter = nullptr;
    kvc_adapter_info info{};
    info.struct_size = sizeof info;
    kvc_status status = kvc_adapter_get(i, &adapter);
    if (status == KVC_OK) status = kvc_adapter_get_info(adapter, &info);
    if (status != KVC_OK) throw failure(status, format("adapter %u", i));
    infos.push_back(info);
  }
  if (o.is_json) {
    json models = json::array();
    for (const kvc_adapter_info& info : infos) models.push_back(adapter_json(info));
    print_json(json{{"command", "models"}, {"count", infos.size()}, {"models", models}});
    return kExitOk;
  }
  std::string t = format("%-18s %-9s %-21s %6s %7s %8s %8s %9s\n", "NAME", "FAMILY", "ATTENTION",
                         "LAYERS", "Q_HEADS", "KV_HEADS", "HEAD_DIM", "THRESHOLD");
  for (const kvc_adapter_info& info : infos) {
    std::string attention = kvc_attention_type_name(info.attention_type);
    if (info.window_tokens > 0) attention += format(" (%d)", info.window_tokens);
    t += format("%-18s %-9s %-21s %6s %7s %8s %8s %9.2f\n", info.name, info.family,
                attention.c_str(), count_text(info.num_layers).c_str(),
                count_text(info.num_query_heads).c_str(), count_text(info.num_kv_heads).c_str(),
                count_text(info.head_dim).c_str(),
                std::round(static_cast<double>(info.attention_threshold) * 100.0) / 100.0);
  }
  t +=
      format("%u adapters; '-' = taken from the input cache. 'kvc adapter NAME' for details.\n", n);
  print(t);
  return kExitOk;
}

}  // namespace

Command add_models_command(CLI::App& app) {
  auto o = std::make_shared<ModelsOptions>();
  CLI::App* sub = app.add_subcommand("models", "List the built-in model adapters");
  add_json_flag(*sub, o->is_json);
  return Command{sub, std::shared_ptr<const bool>(o, &o->is_json), [o] { return run_models(*o); }};
}

}  // namespace kvc::cli
