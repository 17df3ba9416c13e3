// api.rs: the safe Rust layer over a real cache: round trips, errors, progress, adapters, files.
mod common;

use common::env_or_repo;
use kvc::{ffi, Adapter, Context, Status};
use std::sync::{Arc, Mutex};

fn stories(ctx: &mut Context) -> kvc::Cache {
    let path = env_or_repo("KVC_TEST_DATA_DIR", &["build", "data"]).join("stories260K.safetensors");
    ctx.load_cache(path.to_str().unwrap())
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/build.sh writes it)", path.display()))
}

#[test]
fn the_loaded_library_is_the_headers_version() {
    assert_eq!(kvc::version_number(), ffi::KVC_VERSION_NUMBER);
    assert!(kvc::version().starts_with("0."));
    assert_eq!(kvc::device_count(ffi::KVC_DEVICE_CPU), 1);
    assert_eq!(Status::CORRUPT_DATA.name(), "KVC_ERR_CORRUPT_DATA");
    assert_eq!(Status(42).name(), "KVC_ERR_UNKNOWN");
}

#[test]
fn a_real_cache_round_trips_within_the_quality_thresholds() {
    let mut ctx = Context::new().unwrap();
    let cache = stories(&mut ctx);
    let shape = cache.shape();
    let mut p = kvc::compress_params_default();
    p.key_bits = 8;
    p.value_bits = 8;
    kvc::set_c_chars(&mut p.model_name, "stories260K");
    let (blob, m) = ctx
        .compress(Some(&p), &shape, cache.keys(), cache.values())
        .unwrap();
    assert_eq!(m.compressed_bytes as usize, blob.len());
    assert_eq!(m.original_bytes as usize, 2 * kvc::tensor_bytes(&shape));
    assert!(m.compression_ratio > 1.0);
    let info = ctx.inspect(&blob).unwrap();
    assert_eq!((info.num_layers, info.key_bits), (shape.num_layers, 8));
    assert_eq!(kvc::c_chars_to_string(&info.model_name), "stories260K");
    assert!(kvc::c_chars_to_string(&info.producer).starts_with("kvc "));
    ctx.verify(&blob).unwrap();
    let (keys, values) = ctx.decompress(None, &blob).unwrap();
    assert_eq!(keys.len(), cache.keys().len());
    let q = ctx
        .quality_compare(
            None,
            &shape,
            cache.keys(),
            cache.values(),
            &shape,
            &keys,
            &values,
        )
        .unwrap();
    assert_eq!(q.passed, 1, "{q:?}");
    assert!(q.key_cosine >= 0.99 && q.value_cosine >= 0.99, "{q:?}");
    assert_ne!(kvc::quality_level_name(q.level), "UNKNOWN");
}

#[test]
fn lossless_mode_keeps_every_byte_and_one_layer_decodes_alone() {
    let mut ctx = Context::new().unwrap();
    let cache = stories(&mut ctx);
    let shape = cache.shape();
    let mut p = kvc::compress_params_default();
    p.key_bits = 16;
    p.value_bits = 16;
    let (blob, _) = ctx
        .compress(Some(&p), &shape, cache.keys(), cache.values())
        .unwrap();
    let (keys, values) = ctx.decompress(None, &blob).unwrap();
    assert!(keys == cache.keys() && values == cache.values());
    let mut d = kvc::decompress_params_default();
    d.first_layer = 1;
    d.num_layers = 1;
    let (k1, _) = ctx.decompress(Some(&d), &blob).unwrap();
    let layer = keys.len() / shape.num_layers as usize;
    assert!(k1 == keys[layer..2 * layer]);
}

#[test]
fn compress_layers_equals_compress_of_the_packed_cache() {
    let mut ctx = Context::new().unwrap();
    let cache = stories(&mut ctx);
    let shape = cache.shape();
    let (whole, _) = ctx
        .compress(None, &shape, cache.keys(), cache.values())
        .unwrap();
    let layer = cache.keys().len() / shape.num_layers as usize;
    let keys: Vec<&[u8]> = cache.keys().chunks(layer).collect();
    let values: Vec<&[u8]> = cache.values().chunks(layer).collect();
    let (layered, _) = ctx.compress_layers(None, &shape, &keys, &values).unwrap();
    assert!(whole == layered);
}

#[test]
fn errors_carry_the_status_and_the_message() {
    let mut ctx = Context::new().unwrap();
    let cache = stories(&mut ctx);
    let shape = cache.shape();
    let mut p = kvc::compress_params_default();
    p.group_size = 48;
    let err = ctx
        .compress(Some(&p), &shape, cache.keys(), cache.values())
        .unwrap_err();
    assert_eq!(err.status, Status::INVALID_ARGUMENT);
    assert!(err.message.contains("48"), "{err}");
    assert!(err.to_string().starts_with("KVC_ERR_INVALID_ARGUMENT: "));
    let (mut blob, _) = ctx
        .compress(None, &shape, cache.keys(), cache.values())
        .unwrap();
    let middle = blob.len() / 2;
    blob[middle] ^= 0x40;
    assert_eq!(ctx.verify(&blob).unwrap_err().status, Status::CORRUPT_DATA);
    assert!(!ctx.last_error().is_empty());
    let mut small = vec![0u8; 16];
    let mut small2 = vec![0u8; 16];
    blob[middle] ^= 0x40;
    let err = ctx
        .decompress_into(None, &blob, &mut small, &mut small2)
        .unwrap_err();
    assert_eq!(err.status, Status::BUFFER_TOO_SMALL);
    let err = ctx
        .load_cache("/nonexistent/cache.safetensors")
        .err()
        .unwrap();
    assert_eq!(err.status, Status::IO);
}

#[test]
fn context_creation_reports_the_library_reason() {
    let mut p = kvc::context_params_default();
    p.device = 99;
    let err = Context::with_params(Some(&p)).err().unwrap();
    assert_eq!(err.status, Status::INVALID_ARGUMENT);
    assert!(err.message.contains("99"), "{err}");
    p.device = ffi::KVC_DEVICE_CPU;
    p.device_index = 3;
    let err = Context::with_params(Some(&p)).err().unwrap();
    assert!(err.message.contains("device_index 3"), "{err}");
    if kvc::device_count(ffi::KVC_DEVICE_CUDA) == 0 {
        p.device = ffi::KVC_DEVICE_CUDA;
        p.device_index = 0;
        let err = Context::with_params(Some(&p)).err().unwrap();
        assert_eq!(err.status, Status::DEVICE);
        assert!(!err.message.is_empty());
    }
}

#[test]
fn progress_reports_every_chunk_until_cleared() {
    let mut ctx = Context::new().unwrap();
    let cache = stories(&mut ctx);
    let shape = cache.shape();
    let seen = Arc::new(Mutex::new((0u64, 0u64, 0u64)));
    let sink = Arc::clone(&seen);
    ctx.set_progress(Some(Box::new(move |done, total| {
        let mut s = sink.lock().unwrap();
        *s = (s.0 + 1, done, total);
    })))
    .unwrap();
    let (blob, _) = ctx
        .compress(None, &shape, cache.keys(), cache.values())
        .unwrap();
    let (calls, done, total) = *seen.lock().unwrap();
    assert!(calls > 0 && done == total && total == 2 * shape.num_layers as u64);
    ctx.set_progress(None).unwrap();
    ctx.decompress(None, &blob).unwrap();
    assert_eq!(seen.lock().unwrap().0, calls);
}

#[test]
fn set_stream_on_a_cpu_context_takes_only_null() {
    let mut ctx = Context::new().unwrap();
    unsafe { ctx.set_stream(std::ptr::null_mut()) }.unwrap();
    let mut not_a_stream = 0u64;
    // A CPU context refuses any stream before using it.
    let err = unsafe { ctx.set_stream(&mut not_a_stream as *mut u64 as *mut std::ffi::c_void) }
        .err()
        .unwrap();
    assert_eq!(err.status, Status::INVALID_ARGUMENT);
}

#[test]
fn cache_files_save_and_load_the_same_tensors() {
    let mut ctx = Context::new().unwrap();
    let cache = stories(&mut ctx);
    let dir = std::env::temp_dir().join(format!("kvc-rust-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("copy.safetensors");
    let path = path.to_str().unwrap();
    ctx.save_cache(
        path,
        &cache.shape(),
        cache.keys(),
        cache.values(),
        Some("copy-model"),
    )
    .unwrap();
    let copy = ctx.load_cache(path).unwrap();
    assert_eq!(copy.model_name(), "copy-model");
    assert!(copy.keys() == cache.keys() && copy.values() == cache.values());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn adapters_come_from_the_registry_and_from_configs() {
    assert!(Adapter::count() >= 10);
    let info = Adapter::find("Llama-3-8B").unwrap().info().unwrap();
    assert_eq!(kvc::c_chars_to_string(&info.name), "llama-3-8b");
    assert_eq!((info.is_builtin, info.num_kv_heads), (1, 8));
    assert_eq!(kvc::attention_type_name(info.attention_type), "causal");
    assert!(Adapter::get(0).is_ok());
    assert_eq!(
        Adapter::get(Adapter::count()).err().unwrap().status,
        Status::INVALID_ARGUMENT
    );
    assert_eq!(
        Adapter::find("no-such-model").err().unwrap().status,
        Status::INVALID_ARGUMENT
    );
    let mut ctx = Context::new().unwrap();
    let cfg = br#"{"model_type":"llama","num_hidden_layers":2,"num_attention_heads":4,
        "num_key_value_heads":2,"hidden_size":64,"rope_theta":10000}"#;
    let built = ctx.adapter_from_hf_config(cfg).unwrap().info().unwrap();
    assert_eq!(
        (built.num_layers, built.head_dim, built.is_builtin),
        (2, 16, 0)
    );
    let err = ctx.adapter_from_hf_config(b"[1]").err().unwrap();
    assert_eq!(err.status, Status::CORRUPT_DATA);
}

#[test]
fn typed_slices_round_trip_through_a_lossless_blob() {
    let mut ctx = Context::new().unwrap();
    let shape = kvc::shape(1, 2, 64, 32, ffi::KVC_DTYPE_F32);
    let n = kvc::tensor_bytes(&shape) / 4;
    let keys: Vec<f32> = (0..n).map(|i| (i as f32 * 0.1).sin()).collect();
    let values: Vec<f32> = (0..n).map(|i| (i as f32 * 0.07).cos()).collect();
    let mut p = kvc::compress_params_default();
    p.key_bits = 16;
    p.value_bits = 16;
    let (blob, _) = ctx
        .compress(
            Some(&p),
            &shape,
            &kvc::f32_bytes(&keys),
            &kvc::f32_bytes(&values),
        )
        .unwrap();
    let (k2, _) = ctx.decompress(None, &blob).unwrap();
    assert_eq!(kvc::bytes_f32(&k2), keys);
    assert_eq!(
        kvc::bytes_u16(&kvc::u16_bytes(&[0x3c00, 0xbc00])),
        vec![0x3c00, 0xbc00]
    );
}

#[test]
fn recency_selection_gives_positions_a_mask_and_a_scattered_decode() {
    let mut ctx = Context::new().unwrap();
    let cache = stories(&mut ctx);
    let shape = cache.shape();
    let mut p = kvc::compress_params_default();
    p.selection = ffi::KVC_SELECT_RECENCY;
    p.keep_ratio = 0.25;
    p.sink_tokens = 4;
    p.recent_always_kept_tokens = 16;
    let (blob, m) = ctx
        .compress(Some(&p), &shape, cache.keys(), cache.values())
        .unwrap();
    let (counts, positions) = ctx.decompress_positions(None, &blob).unwrap();
    let total: u64 = counts.iter().map(|&c| c as u64).sum();
    assert_eq!(total, m.tokens_kept);
    assert!(total < m.tokens_total * shape.num_layers as u64);
    assert_eq!(positions.len() as u64, total * shape.num_kv_heads as u64);
    assert_eq!(
        (positions[0], positions[counts[0] as usize - 1]),
        (0, shape.num_tokens - 1)
    );
    let mask = ctx.decompress_mask(None, &blob).unwrap();
    assert_eq!(
        mask.iter().map(|&b| b as usize).sum::<usize>(),
        positions.len()
    );
    let mut d = kvc::decompress_params_default();
    d.scatter = 1;
    let (full, _) = ctx.decompress(Some(&d), &blob).unwrap();
    assert_eq!(full.len(), cache.keys().len());
    let mut q = kvc::query_shape_default();
    q.num_query_heads = shape.num_kv_heads;
    q.num_queries = 1;
    q.head_dim = shape.head_dim;
    q.dtype = shape.dtype;
    let row = shape.head_dim as usize * kvc::element_size(shape.dtype);
    let queries: Vec<u8> = (0..shape.num_kv_heads as usize)
        .flat_map(|h| {
            let last = (h * shape.num_tokens as usize + shape.num_tokens as usize - 1) * row;
            cache.keys()[last..last + row].to_vec()
        })
        .collect();
    p.selection = ffi::KVC_SELECT_ATTENTION;
    p.attention_threshold = 0.8;
    let (_, m) = ctx
        .compress_with_queries(Some(&p), &shape, cache.keys(), cache.values(), &q, &queries)
        .unwrap();
    assert!(
        m.attention_coverage >= 0.8 && m.attention_coverage <= 1.0,
        "{m:?}"
    );
}

#[test]
fn validate_judges_an_eight_bit_blob_and_rejects_a_corrupt_one() {
    let mut ctx = Context::new().unwrap();
    let cache = stories(&mut ctx);
    let shape = cache.shape();
    let mut p = kvc::compress_params_default();
    p.key_bits = 8;
    p.value_bits = 8;
    let (mut blob, _) = ctx
        .compress(Some(&p), &shape, cache.keys(), cache.values())
        .unwrap();
    let vp = kvc::validate_params_default();
    let v = ctx
        .validate(
            Some(&vp),
            None,
            &shape,
            cache.keys(),
            cache.values(),
            None,
            &blob,
        )
        .unwrap();
    assert_eq!(v.passed, 1, "{}", kvc::c_chars_to_string(&v.report));
    assert!(v.key_cosine >= 0.99 && v.attention_coverage == -1.0);
    assert_ne!(v.warnings & ffi::KVC_WARNING_NO_QUERIES, 0);
    let middle = blob.len() / 2;
    blob[middle] ^= 1;
    let err = ctx
        .validate(
            None,
            None,
            &shape,
            cache.keys(),
            cache.values(),
            None,
            &blob,
        )
        .unwrap_err();
    assert_eq!(err.status, Status::CORRUPT_DATA);
}
