// bench.cpp: `kvc bench`: times compress and decompress of a cache file, or of a synthesized cache
// of a model's shape, through kvc_benchmark; reports median and p99 times, GB/s, ratio, quality.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "cli.h"
#include "extents.h"

namespace kvc::cli {
namespace {

constexpr uint64_t kSyntheticSeed = 20240601;

struct BenchOptions {
  std::string input;  // "" = synthesize
  ModelOptions model;
  uint32_t queries = 0;
  uint32_t iterations = 20;
  std::string device = "cpu";  // cpu or cuda: where the timed calls read and write the cache
  bool is_json = false;
};

// Median time of a memcpy of bytes, the same count of times: the memory-bound reference.
double memcpy_ms(size_t bytes, uint32_t iterations) {
  std::vector<unsigned char> from(bytes, 1), to(bytes);
  std::vector<double> ms;
  for (uint32_t i = 0; i <= iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    std::memcpy(to.data(), from.data(), bytes);
    const auto end = std::chrono::steady_clock::now();
    if (i > 0) ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[(ms.size() + 1) / 2 - 1];
}

int run_bench(const BenchOptions& o) {
  if (o.iterations == 0) {
    throw failure(KVC_ERR_INVALID_ARGUMENT, "--iterations 0 is not at least 1");
  }
  const Context ctx(o.device == "cuda" ? KVC_DEVICE_CUDA : KVC_DEVICE_CPU);
  CachePtr file_cache;
  kvc_cache_shape file_shape{};
  file_shape.struct_size = sizeof file_shape;
  if (!o.input.empty()) {
    kvc_cache* raw = nullptr;
    ctx.check(kvc_cache_load(ctx.get(), o.input.c_str(), &raw), "");
    file_cache.reset(raw);
    const kvc_status st = kvc_cache_get_shape(file_cache.get(), &file_shape);
    if (st != KVC_OK) throw failure(st, o.input + ": cannot read its shape");
  }
  ModelSetup m = resolve_model_options(o.model, file_cache ? &file_shape : nullptr);
  if (file_cache && !m.has_model) {
    std::snprintf(m.params.model_name, sizeof m.params.model_name, "%s",
                  kvc_cache_model_name(file_cache.get()));
  }
  // Queries: one set of o.queries per query head (the model's query heads when it has them).
  uint32_t query_heads = m.shape.num_kv_heads;
  if (m.has_model && m.info.num_query_heads > 0 &&
      static_cast<uint32_t>(m.info.num_query_heads) % m.shape.num_kv_heads == 0) {
    query_heads = static_cast<uint32_t>(m.info.num_query_heads);
  }
  kvc_cache_shape synth_shape = m.shape;
  if (file_cache) synth_shape.num_tokens = 0;  // queries only
  const SyntheticCache synthetic =
      synthesize_cache(synth_shape, query_heads, o.queries, kSyntheticSeed);
  const void* keys = file_cache ? kvc_cache_keys(file_cache.get()) : synthetic.keys.data();
  const void* values = file_cache ? kvc_cache_values(file_cache.get()) : synthetic.values.data();
  const kvc_query_shape* query_shape = o.queries > 0 ? &synthetic.query_shape : nullptr;
  const void* queries = o.queries > 0 ? synthetic.queries.data() : nullptr;
  if (m.params.selection == KVC_SELECT_ATTENTION && o.queries == 0) {
    throw failure(KVC_ERR_INVALID_ARGUMENT, "--select attention needs --queries N (N >= 1)");
  }

  kvc_benchmark_result b{};
  b.struct_size = sizeof b;
  {
    const Progress progress(ctx, "benchmarking");
    const size_t tensor_bytes = tensor_extent(m.shape);
    const size_t query_bytes =
        query_shape != nullptr ? query_extent(*query_shape, m.shape.num_layers) : 0;
    ctx.check(kvc_benchmark(ctx.get(), &m.params, &m.shape, keys, tensor_bytes, values,
                            tensor_bytes, query_shape, queries, query_bytes, o.iterations, &b),
              "");
  }
  const double copy_ms = memcpy_ms(b.original_bytes, o.iterations);
  const double copy_gb_per_s = static_cast<double>(b.original_bytes) / (copy_ms * 1e6);
  const std::string source = o.input.empty() ? "synthetic" : o.input;

  if (o.is_json) {
    json r;
    r["command"] = "bench";
    r["input"] = source;
    r["model"] = m.has_model ? json(m.info.name) : json(nullptr);
    r["shape"] = shape_json(m.shape);
    r["params"] = params_json(m.params);
    r["queries_per_head"] = o.queries;
    r["query_heads"] = o.queries > 0 ? json(query_heads) : json(nullptr);
    r["device"] = o.device;
    r["iterations"] = b.iterations;
    r["compress_ms"] = {{"median", b.compress_ms_median}, {"p99", b.compress_ms_p99}};
    r["decompress_ms"] = {{"median", b.decompress_ms_median}, {"p99", b.decompress_ms_p99}};
    r["compress_gb_per_s"] = b.compress_gb_per_s;
    r["decompress_gb_per_s"] = b.decompress_gb_per_s;
    r["memcpy_gb_per_s"] = copy_gb_per_s;
    r["original_size_bytes"] = b.original_bytes;
    r["compressed_size_bytes"] = b.compressed_bytes;
    r["compression_ratio"] = b.compression_ratio;
    r["bandwidth_savings_percent"] = b.bandwidth_savings_percent;
    r["bits_per_element"] = b.bits_per_element;
    r["tokens_total"] = b.tokens_total;
    r["tokens_kept"] = b.tokens_kept;
    r["quality_passed"] = b.quality_passed == 1;
    r["quality_level"] = kvc_quality_level_name(b.quality_level);
    print_json(r);
    return kExitOk;
  }
  std::string t = format("bench of %s%s%s, %u iterations on %s\n", source.c_str(),
                         m.has_model ? " for " : "", m.has_model ? m.info.name : "", b.iterations,
                         o.device == "cuda" ? "the GPU (cache in device memory)" : "the CPU");
  t += "  shape        " + shape_text(m.shape) + "\n";
  t += "  params       " + params_text(m.params) + "\n";
  if (o.queries > 0)
    t += format("  queries      %u per head, %u query heads\n", o.queries, query_heads);
  t += format("  compress     median %.4f ms, p99 %.4f ms, %.2f GB/s\n", b.compress_ms_median,
              b.compress_ms_p99, b.compress_gb_per_s);
  t += format("  decompress   median %.4f ms, p99 %.4f ms, %.2f GB/s\n", b.decompress_ms_median,
              b.decompress_ms_p99, b.decompress_gb_per_s);
  t += format("  memcpy       %.2f GB/s (host memory, the same bytes, for reference)\n",
              copy_gb_per_s);
  t += format("  size         %s -> %s\n", bytes_text(b.original_bytes).c_str(),
              bytes_text(b.compressed_bytes).c_str());
  t += format("  ratio        %.3fx, %.1f%% bandwidth saved, %.3f bits/element\n",
              b.compression_ratio, b.bandwidth_savings_percent, b.bits_per_element);
  t += format("  tokens       %llu of %llu kept (summed over layers)\n",
              static_cast<unsigned long long>(b.tokens_kept),
              static_cast<unsigned long long>(b.tokens_total));
  t += format("  quality      %s, %s\n", kvc_quality_level_name(b.quality_level),
              b.quality_passed == 1 ? "passed" : "FAILED");
  print(t);
  return kExitOk;
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* sub = app.add_subcommand(
      "bench",
      "Time compress and decompress of a cache file, or of a synthesized cache of a model's shape");
  sub->add_option("input", o->input,
                  "KV cache (.safetensors); without it, a synthesized cache of --tokens tokens");
  add_model_options(*sub, o->model, true);
  sub->add_option("--queries", o->queries,
                  "Synthesize N queries per query head (for --select attention and coverage)")
      ->capture_default_str();
  sub->add_option("-n,--iterations", o->iterations, "Timed compress + decompress pairs")
      ->capture_default_str();
  sub->add_option("--device", o->device,
                  "cpu, or cuda: compress from and decompress into GPU memory (a CUDA context)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  add_json_flag(*sub, o->is_json);
  sub->callback([sub, o] {
    if (o->input.empty() && o->model.tokens_option->count() == 0) {
      throw CLI::RequiredError("--tokens (needed without an input file)");
    }
  });
  return Command{sub, std::shared_ptr<const bool>(o, &o->is_json), [o] { return run_bench(*o); }};
}

}  // namespace kvc::cli
