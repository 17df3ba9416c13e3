// estimate.cpp: `kvc estimate`: predicted blob size, ratio, savings and tokens kept for a model or
// shape and params, without compressing anything.
#include "cli.h"

namespace kvc::cli {
namespace {

struct EstimateOptions {
  ModelOptions model;
  bool is_json = false;
};

int run_estimate(const EstimateOptions& o) {
  const ModelSetup m = resolve_model_options(o.model, nullptr);
  const Context ctx;
  kvc_estimate_result e{};
  e.struct_size = sizeof e;
  ctx.check(kvc_estimate(ctx.get(), &m.params, &m.shape, &e), "");
  if (o.is_json) {
    json r;
    r["command"] = "estimate";
    r["model"] = m.has_model ? json(m.info.name) : json(nullptr);
    r["shape"] = shape_json(m.shape);
    r["params"] = params_json(m.params);
    r["original_size_bytes"] = e.original_bytes;
    r["compressed_size_bytes"] = e.compressed_bytes;
    r["compression_ratio"] = e.compression_ratio;
    r["bandwidth_savings_percent"] = e.bandwidth_savings_percent;
    r["bits_per_element"] = e.bits_per_element;
    r["tokens_total"] = e.tokens_total;
    r["tokens_kept"] = e.tokens_kept;
    r["tokens_saved"] = e.tokens_total - e.tokens_kept;
    r["tokens_exact"] = e.exact_tokens != 0;
    print_json(r);
    return kExitOk;
  }
  std::string t = m.has_model ? format("estimate for %s\n", m.info.name) : "estimate\n";
  t += "  shape      " + shape_text(m.shape) + "\n";
  t += "  params     " + params_text(m.params) + "\n";
  t += format("  size       %s -> %s (predicted)\n", bytes_text(e.original_bytes).c_str(),
              bytes_text(e.compressed_bytes).c_str());
  t += format("  ratio      %.3fx, %.1f%% bandwidth saved, %.3f bits/element\n",
              e.compression_ratio, e.bandwidth_savings_percent, e.bits_per_element);
  t += format("  tokens     %llu of %llu kept (summed over layers)%s\n",
              static_cast<unsigned long long>(e.tokens_kept),
              static_cast<unsigned long long>(e.tokens_total),
              e.exact_tokens ? "" : "; at most: attention selection keeps what the queries decide");
  print(t);
  return kExitOk;
}

}  // namespace

Command add_estimate_command(CLI::App& app) {
  auto o = std::make_shared<EstimateOptions>();
  CLI::App* sub = app.add_subcommand(
      "estimate",
      "Predict the compressed size, ratio, savings and tokens kept, without compressing");
  add_model_options(*sub, o->model, false);
  add_json_flag(*sub, o->is_json);
  return Command{sub, std::shared_ptr<const bool>(o, &o->is_json),
                 [o] { return run_estimate(*o); }};
}

}  // namespace kvc::cli
