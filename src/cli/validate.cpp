// validate.cpp: `kvc validate`: a .kvc blob judged against the cache it was made from (and its
// queries): reconstruction and attention metrics, level, violations and recommendations.
#include <cstdlib>

#include "cli.h"
#include "extents.h"

namespace kvc::cli {
namespace {

struct ValidateOptions {
  std::string original;
  std::string blob;
  std::string queries;
  std::string model;
  kvc_validate_params params{};
  bool is_json = false;
};

int run_validate(const ValidateOptions& o) {
  const Context ctx;
  kvc_cache* raw_cache = nullptr;
  ctx.check(kvc_cache_load(ctx.get(), o.original.c_str(), &raw_cache), "");
  const CachePtr cache(raw_cache);
  kvc_cache_shape shape{};
  shape.struct_size = sizeof shape;
  const kvc_status shape_status = kvc_cache_get_shape(cache.get(), &shape);
  if (shape_status != KVC_OK) throw failure(shape_status, o.original + ": cannot read its shape");
  const std::vector<unsigned char> blob = read_file(o.blob);

  QueryFilePtr query_file;
  kvc_query_shape query_shape{};
  query_shape.struct_size = sizeof query_shape;
  size_t query_bytes = 0;
  if (!o.queries.empty()) {
    kvc_query_file* raw = nullptr;
    ctx.check(kvc_query_file_load(ctx.get(), o.queries.c_str(), &raw), "");
    query_file.reset(raw);
    uint32_t query_layers = 0;
    ctx.check(kvc_query_file_get_shape(raw, &query_shape, &query_layers), o.queries);
    query_bytes = query_extent(query_shape, query_layers);
  }
  const kvc_adapter* adapter = nullptr;
  if (!o.model.empty() && kvc_adapter_find(o.model.c_str(), &adapter) != KVC_OK) {
    throw failure(KVC_ERR_INVALID_ARGUMENT,
                  "--model " + o.model + " is not a known model (run 'kvc models')");
  }
  kvc_validation v{};
  v.struct_size = sizeof v;
  {
    const Progress progress(ctx, "validating");
    const size_t tensor_bytes = tensor_extent(shape);
    ctx.check(kvc_validate(ctx.get(), &o.params, adapter, &shape, kvc_cache_keys(cache.get()),
                           tensor_bytes, kvc_cache_values(cache.get()), tensor_bytes,
                           query_file ? &query_shape : nullptr,
                           query_file ? kvc_query_file_data(query_file.get()) : nullptr,
                           query_bytes, blob.data(), blob.size(), &v),
              o.blob);
  }
  const std::vector<std::string> report = split_lines(v.report);
  const bool measured = v.attention_coverage >= 0;
  if (o.is_json) {
    json r;
    r["command"] = "validate";
    r["original"] = o.original;
    r["blob"] = o.blob;
    r["queries"] = o.queries.empty() ? json(nullptr) : json(o.queries);
    r["model"] = o.model.empty() ? json(nullptr) : json(o.model);
    r["passed"] = v.passed != 0;
    r["quality_level"] = kvc_quality_level_name(v.level);
    r["tokens_total"] = v.tokens_total;
    r["tokens_kept"] = v.tokens_kept;
    r["reconstruction"] = {{"rmse", v.rmse},
                           {"snr_db", v.snr_db},
                           {"cosine", v.cosine},
                           {"max_error", v.max_error},
                           {"keys",
                            {{"rmse", v.key_rmse},
                             {"snr_db", v.key_snr_db},
                             {"cosine", v.key_cosine},
                             {"max_error", v.key_max_error}}},
                           {"values",
                            {{"rmse", v.value_rmse},
                             {"snr_db", v.value_snr_db},
                             {"cosine", v.value_cosine},
                             {"max_error", v.value_max_error}}}};
    r["attention"] = measured ? json{{"coverage", v.attention_coverage},
                                     {"output_error", v.attention_output_error},
                                     {"kl_divergence", v.attention_kl},
                                     {"topk_overlap", v.topk_overlap}}
                              : json(nullptr);
    r["information_loss"] = v.information_loss;
    r["violation_flags"] = v.violations;
    r["warning_flags"] = v.warnings;
    r["recommendation_flags"] = v.recommendations;
    r["report"] = report;
    print_json(r);
  } else {
    std::string t = format("validated %s against %s\n", o.blob.c_str(), o.original.c_str());
    t += format("  quality    %s, %s\n", kvc_quality_level_name(v.level),
                v.passed ? "passed" : "FAILED");
    t += format("  tokens     %llu of %llu kept (summed over layers)\n",
                static_cast<unsigned long long>(v.tokens_kept),
                static_cast<unsigned long long>(v.tokens_total));
    t += format("  keys       cosine %.6f, SNR %.2f dB; values cosine %.6f, SNR %.2f dB\n",
                v.key_cosine, v.key_snr_db, v.value_cosine, v.value_snr_db);
    if (measured) {
      t += format("  attention  coverage %.4f, output error %.4f, KL %.4g, top-k overlap %.3f\n",
                  v.attention_coverage, v.attention_output_error, v.attention_kl, v.topk_overlap);
    }
    t += format("  info loss  %.4g of the energy\n", v.information_loss);
    for (const std::string& line : report) t += "  " + line + "\n";
    print(t);
  }
  return v.passed ? kExitOk : kExitCorrupt;
}

}  // namespace

Command add_validate_command(CLI::App& app) {
  auto o = std::make_shared<ValidateOptions>();
  kvc_validate_params_default(&o->params, sizeof o->params);
  CLI::App* sub = app.add_subcommand(
      "validate", "Judge a .kvc blob against its original cache: metrics, level, recommendations");
  sub->add_option("original", o->original, "The original KV cache (.safetensors)")->required();
  sub->add_option("blob", o->blob, "The compressed cache (.kvc)")->required();
  sub->add_option("--queries", o->queries,
                  "Query vectors (layer_<i>_query safetensors) for the attention metrics");
  sub->add_option("--model", o->model, "Model adapter whose policy gives the attention threshold");
  sub->add_option("--min-cosine", o->params.min_cosine, "Cosine of keys and of values")
      ->check(CLI::Range(-1.0, 1.0))
      ->capture_default_str();
  sub->add_option("--min-snr-db", o->params.min_snr_db, "SNR in dB of keys and of values")
      ->capture_default_str();
  sub->add_option("--min-coverage", o->params.min_attention_coverage,
                  "Attention coverage (0: the blob's threshold, else the model's)")
      ->capture_default_str();
  sub->add_option("--max-attention-error", o->params.max_attention_error,
                  "Relative error of the attention output")
      ->capture_default_str();
  sub->add_option("--top-k", o->params.top_k, "Tokens compared by the top-k overlap")
      ->capture_default_str();
  add_json_flag(*sub, o->is_json);
  return Command{sub, std::shared_ptr<const bool>(o, &o->is_json),
                 [o] { return run_validate(*o); }};
}

}  // namespace kvc::cli
