// compress.cpp: `kvc compress`: safetensors cache -> .kvc blob, verified by a round trip.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "cli.h"
#include "extents.h"

namespace kvc::cli {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct CompressOptions {
  std::string input;
  std::string output;
  int32_t bits = 0;  // both tensors, unless --key-bits or --value-bits says otherwise
  std::string shuffle = "auto";
  std::string select = "none";
  std::string queries;  // a layer_<i>_query safetensors file, or ""
  bool is_per_head = false;
  kvc_compress_params params{};
  kvc_quality_thresholds thresholds{};
  bool is_verify_skipped = false;
  bool is_pass_required = false;
  bool is_json = false;
  std::string model;  // a registry adapter whose policy fills the flags not given
  // Which of the options were given.
  const CLI::Option* model_option = nullptr;
  const CLI::Option* group_size_option = nullptr;
  const CLI::Option* recent_option = nullptr;
  const CLI::Option* threshold_option = nullptr;
  const CLI::Option* sinks_option = nullptr;
  const CLI::Option* keep_recent_option = nullptr;
  const CLI::Option* sliding_window_option = nullptr;
  const CLI::Option* bits_option = nullptr;
  const CLI::Option* key_bits_option = nullptr;
  const CLI::Option* value_bits_option = nullptr;
};

// The shortest text of f that reads back as the same float: 0.99f -> "0.99".
std::string float_text(float f) {
  for (int precision = 6; precision < 10; ++precision) {
    std::string text = format("%.*g", precision, static_cast<double>(f));
    if (std::strtof(text.c_str(), nullptr) == f) return text;
  }
  return format("%.9g", static_cast<double>(f));
}

// Text of value precise enough to read as below threshold ("0.98996 < 0.99", not "0.99 < 0.99").
std::string below_text(double value, float threshold) {
  for (int precision = 4; precision <= 17; ++precision) {
    std::string text = format("%.*g", precision, value);
    if (std::strtod(text.c_str(), nullptr) < static_cast<double>(threshold)) return text;
  }
  return format("%.17g", value);
}

const std::map<std::string, int32_t>& selection_choices() {
  static const std::map<std::string, int32_t> choices = {{"none", KVC_SELECT_NONE},
                                                         {"attention", KVC_SELECT_ATTENTION},
                                                         {"key-norm", KVC_SELECT_KEY_NORM},
                                                         {"recency", KVC_SELECT_RECENCY}};
  return choices;
}

std::vector<std::string> violation_texts(const kvc_validation& q, const kvc_quality_thresholds& t,
                                         const kvc_validate_params& vp) {
  std::vector<std::string> texts;
  const std::string cosine = float_text(t.min_cosine);
  const std::string snr = float_text(t.min_snr_db);
  if (q.violations & KVC_VIOLATION_KEY_COSINE) {
    texts.push_back("key cosine " + below_text(q.key_cosine, t.min_cosine) + " < " + cosine);
  }
  if (q.violations & KVC_VIOLATION_VALUE_COSINE) {
    texts.push_back("value cosine " + below_text(q.value_cosine, t.min_cosine) + " < " + cosine);
  }
  if (q.violations & KVC_VIOLATION_KEY_SNR) {
    texts.push_back("key SNR " + below_text(q.key_snr_db, t.min_snr_db) + " dB < " + snr + " dB");
  }
  if (q.violations & KVC_VIOLATION_VALUE_SNR) {
    texts.push_back("value SNR " + below_text(q.value_snr_db, t.min_snr_db) + " dB < " + snr +
                    " dB");
  }
  if (q.violations & KVC_VIOLATION_NON_FINITE) {
    texts.push_back("the reconstruction has NaN or infinite values where the original is finite");
  }
  if (q.violations & KVC_VIOLATION_ATTENTION_COVERAGE) {
    texts.push_back(
        format("attention coverage %.6g below the required share", q.attention_coverage));
  }
  if (q.violations & KVC_VIOLATION_ATTENTION_ERROR) {
    texts.push_back("attention output error " + format("%.6g", q.attention_output_error) + " > " +
                    float_text(vp.max_attention_error));
  }
  const uint32_t known = KVC_VIOLATION_KEY_COSINE | KVC_VIOLATION_VALUE_COSINE |
                         KVC_VIOLATION_KEY_SNR | KVC_VIOLATION_VALUE_SNR |
                         KVC_VIOLATION_NON_FINITE | KVC_VIOLATION_ATTENTION_COVERAGE |
                         KVC_VIOLATION_ATTENTION_ERROR;
  if (q.violations & ~known) {
    texts.push_back(format("unknown violation flags 0x%x", q.violations & ~known));
  }
  return texts;
}

json error_json(double rmse, double snr_db, double cosine, double max_error) {
  return json{{"rmse", rmse}, {"snr_db", snr_db}, {"cosine", cosine}, {"max_error", max_error}};
}

std::string error_text(double rmse, double snr_db, double cosine, double max_error) {
  return format("rmse %.6g, SNR %.2f dB, cosine %.6f, max error %.6g", rmse, snr_db, cosine,
                max_error);
}

// Fills the params the flags did not set from the --model adapter's policy.
void apply_model_policy(CompressOptions& o) {
  const kvc_adapter* adapter = nullptr;
  if (kvc_adapter_find(o.model.c_str(), &adapter) != KVC_OK) {
    throw failure(KVC_ERR_INVALID_ARGUMENT,
                  "--model " + o.model + " is not a known model (run 'kvc models')");
  }
  kvc_compress_params policy = o.params;
  const kvc_status st = kvc_adapter_compress_params(adapter, &policy);
  if (st != KVC_OK) throw failure(st, "--model " + o.model + ": cannot read its policy");
  kvc_compress_params& p = o.params;
  const auto unset = [](const CLI::Option* option) { return option->count() == 0; };
  if (unset(o.bits_option) && unset(o.key_bits_option)) p.key_bits = policy.key_bits;
  if (unset(o.bits_option) && unset(o.value_bits_option)) p.value_bits = policy.value_bits;
  if (unset(o.group_size_option)) p.group_size = policy.group_size;
  if (unset(o.recent_option)) p.recent_full_precision_tokens = policy.recent_full_precision_tokens;
  if (unset(o.threshold_option)) p.attention_threshold = policy.attention_threshold;
  if (unset(o.sinks_option)) p.sink_tokens = policy.sink_tokens;
  if (unset(o.keep_recent_option)) p.recent_always_kept_tokens = policy.recent_always_kept_tokens;
  if (unset(o.sliding_window_option)) p.sliding_window = policy.sliding_window;
}

int run_compress(CompressOptions& o) {
  const auto start = Clock::now();
  check_output_is_not_an_input(o.output, {o.input, o.queries});
  kvc_compress_params& p = o.params;
  if (o.model_option->count() > 0) apply_model_policy(o);
  if (o.bits_option->count() > 0) {
    if (o.key_bits_option->count() == 0) p.key_bits = o.bits;
    if (o.value_bits_option->count() == 0) p.value_bits = o.bits;
  }
  p.byte_shuffle = o.shuffle == "on"    ? KVC_SHUFFLE_ON
                   : o.shuffle == "off" ? KVC_SHUFFLE_OFF
                                        : KVC_SHUFFLE_AUTO;
  p.selection = selection_choices().at(o.select);
  p.per_head = o.is_per_head ? 1 : 0;

  const Context ctx;
  kvc_cache* raw_cache = nullptr;
  ctx.check(kvc_cache_load(ctx.get(), o.input.c_str(), &raw_cache), "");
  const CachePtr cache(raw_cache);
  kvc_cache_shape shape{};
  shape.struct_size = sizeof shape;
  const kvc_status shape_status = kvc_cache_get_shape(cache.get(), &shape);
  if (shape_status != KVC_OK) throw failure(shape_status, o.input + ": cannot read its shape");
  const void* keys = kvc_cache_keys(cache.get());
  const void* values = kvc_cache_values(cache.get());
  const size_t tensor_bytes = tensor_extent(shape);
  // The model name travels into the blob (truncated to what the header field holds): --model's,
  // else the cache file's.
  std::snprintf(p.model_name, sizeof p.model_name, "%s",
                o.model.empty() ? kvc_cache_model_name(cache.get()) : o.model.c_str());
  // Queries (optional): the model's query vectors of the last positions, per layer.
  QueryFilePtr query_file;
  kvc_query_shape query_shape{};
  query_shape.struct_size = sizeof query_shape;
  const kvc_query_shape* qshape = nullptr;
  const void* qdata = nullptr;
  size_t qbytes = 0;
  if (!o.queries.empty()) {
    kvc_query_file* raw_queries = nullptr;
    ctx.check(kvc_query_file_load(ctx.get(), o.queries.c_str(), &raw_queries), "");
    query_file.reset(raw_queries);
    uint32_t query_layers = 0;
    ctx.check(kvc_query_file_get_shape(raw_queries, &query_shape, &query_layers), o.queries);
    if (query_layers != shape.num_layers) {
      throw failure(KVC_ERR_INVALID_ARGUMENT,
                    format("%s holds queries of %u layers; the cache has %u", o.queries.c_str(),
                           query_layers, shape.num_layers));
    }
    qshape = &query_shape;
    qdata = kvc_query_file_data(raw_queries);
    qbytes = query_extent(query_shape, query_layers);
  }
  const double load_ms = ms_since(start);

  // Compress. A bound of 0 means the params are invalid: a call without a buffer names why.
  auto phase = Clock::now();
  size_t capacity = kvc_compress_bound(&p, &shape);
  size_t blob_bytes = 0;
  if (capacity == 0) {
    const kvc_status st =
        kvc_compress_with_queries(ctx.get(), &p, &shape, keys, tensor_bytes, values, tensor_bytes,
                                  qshape, qdata, qbytes, nullptr, 0, &blob_bytes, nullptr);
    if (st != KVC_ERR_BUFFER_TOO_SMALL) ctx.check(st, "");
    capacity = blob_bytes;
  }
  const Buffer blob = allocate(capacity);
  kvc_metrics metrics{};
  metrics.struct_size = sizeof metrics;
  {
    const Progress progress(ctx, "compressing");
    ctx.check(kvc_compress_with_queries(ctx.get(), &p, &shape, keys, tensor_bytes, values,
                                        tensor_bytes, qshape, qdata, qbytes, blob.data.get(),
                                        capacity, &blob_bytes, &metrics),
              "");
  }
  const double compress_ms = ms_since(phase);

  // Verify: decode the blob and measure it against the original (and the queries, if given).
  kvc_validation quality{};
  quality.struct_size = sizeof quality;
  kvc_validate_params vp{};
  kvc_validate_params_default(&vp, sizeof vp);
  vp.min_cosine = o.thresholds.min_cosine;
  vp.min_snr_db = o.thresholds.min_snr_db;
  double verify_ms = 0;
  if (!o.is_verify_skipped) {
    phase = Clock::now();
    const Progress progress(ctx, "verifying");
    ctx.check(
        kvc_validate(ctx.get(), &vp, nullptr, &shape, keys, tensor_bytes, values, tensor_bytes,
                     qshape, qdata, qbytes, blob.data.get(), blob_bytes, &quality),
        "round trip of the new blob");
    verify_ms = ms_since(phase);
  }
  const bool is_verified = !o.is_verify_skipped;
  const bool has_passed = is_verified && quality.passed != 0;
  const bool is_rejected = o.is_pass_required && !has_passed;

  // Write, unless --require-pass rejected the result: a failed run leaves no output behind.
  phase = Clock::now();
  if (!is_rejected) write_file_atomic(o.output, blob.data.get(), blob_bytes);
  const double write_ms = ms_since(phase);
  const std::vector<std::string> violations =
      is_verified ? violation_texts(quality, o.thresholds, vp) : std::vector<std::string>{};

  if (o.is_json) {
    json r;
    r["command"] = "compress";
    r["input"] = o.input;
    r["output"] = o.output;
    r["output_written"] = !is_rejected;
    r["model_name"] = kvc_cache_model_name(cache.get());
    r["shape"] = shape_json(shape);
    r["params"] = {{"key_bits", p.key_bits},
                   {"value_bits", p.value_bits},
                   {"group_size", p.group_size},
                   {"recent_full_precision_tokens", p.recent_full_precision_tokens},
                   {"zstd_level", p.zstd_level},
                   {"shuffle", shuffle_name(p.byte_shuffle)}};
    r["selection"] = {
        {"policy", selection_name(p.selection)},
        {"attention_threshold", std::strtod(float_text(p.attention_threshold).c_str(), nullptr)},
        {"keep_ratio", std::strtod(float_text(p.keep_ratio).c_str(), nullptr)},
        {"min_tokens", p.min_tokens},
        {"max_tokens", p.max_tokens},
        {"sink_tokens", p.sink_tokens},
        {"recent_always_kept_tokens", p.recent_always_kept_tokens},
        {"sliding_window", p.sliding_window},
        {"per_head", p.per_head != 0}};
    r["queries"] = o.queries.empty() ? json(nullptr) : json(o.queries);
    r["compression_ratio"] = metrics.compression_ratio;
    r["original_size_bytes"] = metrics.original_bytes;
    r["compressed_size_bytes"] = metrics.compressed_bytes;
    r["bits_per_element"] = metrics.bits_per_element;
    r["bandwidth_savings_percent"] = metrics.bandwidth_savings_percent;
    r["tokens_total"] = metrics.tokens_total;
    r["tokens_kept"] = metrics.tokens_kept;
    r["tokens_saved"] = metrics.tokens_total - metrics.tokens_kept;
    r["attention_coverage"] =
        metrics.attention_coverage < 0 ? json(nullptr) : json(metrics.attention_coverage);
    r["processing_time_ms"] = metrics.compress_ms;
    r["verified"] = is_verified;
    if (is_verified) {
      r["rmse"] = quality.rmse;
      r["snr_db"] = quality.snr_db;
      r["cosine_similarity"] = quality.cosine;
      r["max_error"] = quality.max_error;
      r["quality_level"] = kvc_quality_level_name(quality.level);
      r["passed"] = has_passed;
      r["keys"] = error_json(quality.key_rmse, quality.key_snr_db, quality.key_cosine,
                             quality.key_max_error);
      r["values"] = error_json(quality.value_rmse, quality.value_snr_db, quality.value_cosine,
                               quality.value_max_error);
      r["information_loss"] = quality.information_loss;
      r["attention"] = quality.attention_coverage < 0
                           ? json(nullptr)
                           : json{{"coverage", quality.attention_coverage},
                                  {"output_error", quality.attention_output_error},
                                  {"kl_divergence", quality.attention_kl},
                                  {"topk_overlap", quality.topk_overlap}};
      r["report"] = split_lines(quality.report);
      r["recommendation_flags"] = quality.recommendations;
      r["warning_flags"] = quality.warnings;
    } else {
      for (const char* key :
           {"rmse", "snr_db", "cosine_similarity", "max_error", "quality_level", "passed", "keys",
            "values", "information_loss", "attention", "report"}) {
        r[key] = nullptr;
      }
    }
    r["violations"] = violations;
    r["violation_flags"] = quality.violations;
    r["thresholds"] = {
        {"min_cosine", std::strtod(float_text(o.thresholds.min_cosine).c_str(), nullptr)},
        {"min_snr_db", std::strtod(float_text(o.thresholds.min_snr_db).c_str(), nullptr)}};
    r["timings_ms"] = {{"load", load_ms},
                       {"compress", compress_ms},
                       {"verify", verify_ms},
                       {"write", write_ms},
                       {"total", ms_since(start)}};
    print_json(r);
  } else {
    std::string t =
        is_rejected ? format("compressed %s (not written: quality check failed)\n", o.input.c_str())
                    : format("compressed %s -> %s\n", o.input.c_str(), o.output.c_str());
    t += "  shape      " + shape_text(shape) + "\n";
    t += format(
        "  params     key_bits %d, value_bits %d, group_size %d, recent_full_precision_tokens %d, "
        "zstd_level %d, shuffle %s\n",
        p.key_bits, p.value_bits, p.group_size, p.recent_full_precision_tokens, p.zstd_level,
        shuffle_name(p.byte_shuffle).c_str());
    t += format("  size       %s -> %s\n", bytes_text(metrics.original_bytes).c_str(),
                bytes_text(metrics.compressed_bytes).c_str());
    if (metrics.tokens_kept != metrics.tokens_total) {
      t += format("  tokens     %llu of %llu kept (summed over layers)",
                  static_cast<unsigned long long>(metrics.tokens_kept),
                  static_cast<unsigned long long>(metrics.tokens_total));
      t += metrics.attention_coverage >= 0
               ? format(", attention coverage %.4f\n", metrics.attention_coverage)
               : "\n";
    }
    t += format("  ratio      %.3fx, %.1f%% bandwidth saved, %.3f bits/element\n",
                metrics.compression_ratio, metrics.bandwidth_savings_percent,
                metrics.bits_per_element);
    if (is_verified) {
      t += format("  quality    %s, %s\n", kvc_quality_level_name(quality.level),
                  has_passed ? "passed" : "FAILED");
      t += "    all      " +
           error_text(quality.rmse, quality.snr_db, quality.cosine, quality.max_error) + "\n";
      t += "    keys     " +
           error_text(quality.key_rmse, quality.key_snr_db, quality.key_cosine,
                      quality.key_max_error) +
           "\n";
      t += "    values   " +
           error_text(quality.value_rmse, quality.value_snr_db, quality.value_cosine,
                      quality.value_max_error) +
           "\n";
      if (quality.attention_coverage >= 0) {
        t += format("    attention coverage %.4f, output error %.4f, KL %.4g, top-k overlap %.3f\n",
                    quality.attention_coverage, quality.attention_output_error,
                    quality.attention_kl, quality.topk_overlap);
      }
      for (const std::string& v : violations) t += "    violation: " + v + "\n";
      for (const std::string& line : split_lines(quality.report)) {
        if (line.rfind("recommend", 0) == 0) t += "    " + line + "\n";
      }
    } else {
      t += "  quality    not verified (--no-verify)\n";
    }
    t += format("  time       %.1f ms compress, %.1f ms verify, %.1f ms total\n",
                metrics.compress_ms, verify_ms, ms_since(start));
    print(t);
  }

  if (is_rejected) {
    std::string why;
    for (const std::string& v : violations) why += (why.empty() ? "" : "; ") + v;
    std::fprintf(stderr, "kvc: QUALITY_FAILED: %s: %s; %s not written\n", o.input.c_str(),
                 why.empty() ? "quality check failed" : why.c_str(), o.output.c_str());
    return kExitCorrupt;
  }
  return kExitOk;
}

}  // namespace

Command add_compress_command(CLI::App& app) {
  auto o = std::make_shared<CompressOptions>();
  kvc_compress_params_default(&o->params, sizeof o->params);
  kvc_quality_thresholds_default(&o->thresholds, sizeof o->thresholds);
  o->bits = o->params.key_bits;

  CLI::App* sub = app.add_subcommand(
      "compress", "Compress a safetensors KV cache into a .kvc blob, then check its quality");
  sub->add_option("input", o->input, "KV cache (.safetensors, tensors layer_<i>_key/_value)")
      ->required();
  sub->add_option("-o,--output", o->output, "Output .kvc file (written atomically)")->required();
  o->bits_option = sub->add_option("--bits", o->bits,
                                   "Bits of keys and values: 2, 3, 4, 8, "
                                   "or 16 (lossless)")
                       ->capture_default_str();
  o->key_bits_option =
      sub->add_option("--key-bits", o->params.key_bits, "Bits of keys (overrides --bits)");
  o->value_bits_option =
      sub->add_option("--value-bits", o->params.value_bits, "Bits of values (overrides --bits)");
  o->model_option = sub->add_option(
      "--model", o->model,
      "Model adapter ('kvc models'): its policy sets every codec and selection flag not given");
  o->group_size_option =
      sub->add_option("--group-size", o->params.group_size, "Elements per scale: 32, 64 or 128")
          ->capture_default_str();
  o->recent_option = sub->add_option("--recent-full-precision-tokens,--recent-tokens",
                                     o->params.recent_full_precision_tokens,
                                     "Newest tokens kept in full precision")
                         ->capture_default_str();
  sub->add_option("--zstd-level", o->params.zstd_level,
                  "Zstandard level -7..22; 0 = no entropy stage")
      ->capture_default_str();
  sub->add_option("--shuffle", o->shuffle, "Byte-plane shuffle before Zstandard")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  sub->add_option("--min-cosine", o->thresholds.min_cosine,
                  "Quality threshold: cosine similarity of keys and of values")
      ->check(CLI::Range(-1.0, 1.0))
      ->capture_default_str();
  sub->add_option("--min-snr-db", o->thresholds.min_snr_db,
                  "Quality threshold: SNR in dB of keys and of values")
      ->capture_default_str();
  sub->add_option("--select", o->select,
                  "Token selection: none, attention (needs --queries), key-norm or recency")
      ->check(CLI::IsMember({"none", "attention", "key-norm", "recency"}))
      ->capture_default_str();
  sub->add_option("--queries", o->queries,
                  "Query vectors (safetensors, layer_<i>_query [1, q_heads, n, head_dim]) for "
                  "attention selection and attention metrics");
  o->threshold_option = sub->add_option("--threshold", o->params.attention_threshold,
                                        "Attention mass the kept tokens must cover, (0, 1]")
                            ->capture_default_str();
  sub->add_option("--keep-ratio", o->params.keep_ratio,
                  "key-norm and recency: share of tokens kept, (0, 1]")
      ->capture_default_str();
  sub->add_option("--min-tokens", o->params.min_tokens, "Keep at least this many tokens")
      ->capture_default_str();
  sub->add_option("--max-tokens", o->params.max_tokens, "Keep at most this many (0 = no limit)")
      ->capture_default_str();
  o->sinks_option = sub->add_option("--sinks", o->params.sink_tokens, "First tokens always kept")
                        ->capture_default_str();
  o->keep_recent_option =
      sub->add_option("--recent-always-kept-tokens,--keep-recent",
                      o->params.recent_always_kept_tokens, "Newest tokens never evicted")
          ->capture_default_str();
  o->sliding_window_option =
      sub->add_option("--sliding-window", o->params.sliding_window,
                      "Drop tokens before the newest N (sliding-window attention; 0 = off)")
          ->capture_default_str();
  sub->add_flag("--per-head", o->is_per_head, "Each KV head keeps its own tokens");
  CLI::Option* no_verify = sub->add_flag("--no-verify", o->is_verify_skipped,
                                         "Skip the round trip and quality measurement");
  sub->add_flag("--require-pass", o->is_pass_required,
                "Exit 3 and write nothing when the quality thresholds are not met")
      ->excludes(no_verify);
  add_json_flag(*sub, o->is_json);
  return Command{sub, std::shared_ptr<const bool>(o, &o->is_json),
                 [o] { return run_compress(*o); }};
}

}  // namespace kvc::cli
