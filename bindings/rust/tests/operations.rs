// operations.rs: estimate, benchmark, statistics, adapter policy and query files from Rust.
mod common;

use common::env_or_repo;
use kvc::{ffi, Adapter, Context, Stats, Status};
use std::sync::Arc;

fn data(name: &str) -> String {
    let path = env_or_repo("KVC_TEST_DATA_DIR", &["build", "data"]).join(name);
    path.to_str().unwrap().to_owned()
}

#[test]
fn estimate_predicts_the_bytes_and_tokens_compress_gives() {
    let mut ctx = Context::new().unwrap();
    let cache = ctx.load_cache(&data("stories260K.safetensors")).unwrap();
    let shape = cache.shape();
    let mut p = kvc::compress_params_default();
    p.selection = ffi::KVC_SELECT_RECENCY;
    p.keep_ratio = 0.5;
    let e = ctx.estimate(Some(&p), &shape).unwrap();
    let (_, m) = ctx
        .compress(Some(&p), &shape, cache.keys(), cache.values())
        .unwrap();
    assert_eq!(
        (e.original_bytes, e.tokens_kept, e.exact_tokens),
        (m.original_bytes, m.tokens_kept, 1)
    );
    assert!(e.compressed_bytes > 0 && e.compression_ratio > 1.0, "{e:?}");
    p.group_size = 48;
    assert_eq!(
        ctx.estimate(Some(&p), &shape).unwrap_err().status,
        Status::INVALID_ARGUMENT
    );
}

#[test]
fn benchmark_times_repeated_calls() {
    let mut ctx = Context::new().unwrap();
    let cache = ctx.load_cache(&data("stories260K.safetensors")).unwrap();
    let mut p = kvc::compress_params_default();
    p.key_bits = 8;
    p.value_bits = 8;
    let r = ctx
        .benchmark(
            Some(&p),
            &cache.shape(),
            cache.keys(),
            cache.values(),
            None,
            3,
        )
        .unwrap();
    assert_eq!(r.iterations, 3);
    assert!(
        r.compress_ms_median > 0.0 && r.compress_ms_p99 >= r.compress_ms_median,
        "{r:?}"
    );
    assert_eq!(r.quality_passed, 1);
}

#[test]
fn stats_count_calls_per_model_across_threads() {
    let stats = Arc::new(Stats::new().unwrap());
    let mut ctx = Context::new().unwrap();
    let cache = ctx.load_cache(&data("stories260K.safetensors")).unwrap();
    ctx.set_stats(Some(Arc::clone(&stats))).unwrap();
    let mut p = kvc::compress_params_default();
    kvc::set_c_chars(&mut p.model_name, "stories");
    let (blob, m) = ctx
        .compress(Some(&p), &cache.shape(), cache.keys(), cache.values())
        .unwrap();
    ctx.decompress(None, &blob).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let s = Arc::clone(&stats);
            std::thread::spawn(move || s.record("other", &m).unwrap())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let got = stats.get("stories").unwrap();
    assert_eq!((got.compress_calls, got.decompress_calls), (1, 1));
    let other = stats.get_index(1).unwrap();
    assert_eq!(kvc::c_chars_to_string(&other.model_name), "other");
    assert_eq!((other.compress_calls, stats.model_count()), (4, 2));
    assert_eq!(
        stats.get("nobody").unwrap_err().status,
        Status::INVALID_ARGUMENT
    );
    ctx.set_stats(None).unwrap();
    stats.reset(None).unwrap();
    assert_eq!(
        stats.get("stories").map(|s| s.compress_calls).unwrap_or(0),
        0
    );
}

#[test]
fn adapter_policy_fills_the_shape_and_the_params() {
    let a = Adapter::find("llama-3-8b").unwrap();
    let s = a.cache_shape(1024, ffi::KVC_DTYPE_BF16).unwrap();
    assert_eq!(
        (s.num_layers, s.num_kv_heads, s.num_tokens, s.head_dim),
        (32, 8, 1024, 128)
    );
    let mut p = kvc::compress_params_default();
    a.apply_to(&mut p).unwrap();
    assert!(!kvc::c_chars_to_string(&p.model_name).is_empty());
}

#[test]
fn real_queries_steer_attention_selection() {
    let mut ctx = Context::new().unwrap();
    let cache = ctx.load_cache(&data("stories260K.safetensors")).unwrap();
    let queries = ctx
        .load_query_file(&data("stories260K.queries.safetensors"))
        .unwrap();
    let (q, layers) = queries.shape().unwrap();
    assert_eq!((layers, q.per_layer), (cache.shape().num_layers, 1));
    let mut p = kvc::compress_params_default();
    p.selection = ffi::KVC_SELECT_ATTENTION;
    p.attention_threshold = 0.9;
    let (blob, m) = ctx
        .compress_with_queries(
            Some(&p),
            &cache.shape(),
            cache.keys(),
            cache.values(),
            &q,
            queries.data().unwrap(),
        )
        .unwrap();
    assert!(m.attention_coverage >= 0.9, "{m:?}");
    let v = ctx
        .validate(
            None,
            None,
            &cache.shape(),
            cache.keys(),
            cache.values(),
            Some((&q, queries.data().unwrap())),
            &blob,
        )
        .unwrap();
    assert!(
        v.attention_coverage >= 0.9,
        "{}",
        kvc::c_chars_to_string(&v.report)
    );
    assert_eq!(
        ctx.load_query_file("/nonexistent.safetensors")
            .err()
            .unwrap()
            .status,
        Status::IO
    );
}
