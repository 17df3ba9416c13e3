// layout.rs: ffi.rs mirrors kvc.h and kvc_tools.h: every struct's size, alignment and field
// offsets and every constant's value against build/layout.json (tests/abi/layout_dump.c).
mod common;

use common::{env_or_repo, read_json};
use kvc::ffi;
use std::mem::{align_of, offset_of, size_of};

/// (struct name, size, align, [(field, offset, size)]) of each mirror.
macro_rules! mirrors {
    ($($ty:ident { $($field:ident),* $(,)? })*) => {
        vec![$((
            stringify!($ty),
            size_of::<ffi::$ty>(),
            align_of::<ffi::$ty>(),
            vec![$((
                stringify!($field),
                offset_of!(ffi::$ty, $field),
                {
                    fn field_size<T, F>(_: fn(&T) -> &F) -> usize { size_of::<F>() }
                    field_size(|s: &ffi::$ty| &s.$field)
                },
            )),*],
        )),*]
    };
}

#[test]
fn the_layout_covers_the_headers_ffi_mirrors() {
    let layout = read_json(&env_or_repo("KVC_LAYOUT_JSON", &["build", "layout.json"]));
    let headers: Vec<&str> = layout
        .get("headers")
        .as_array()
        .iter()
        .map(|h| h.as_str())
        .collect();
    assert_eq!(headers, ["kvc/kvc.h", "kvc/kvc_tools.h"]);
}

#[test]
fn every_struct_has_the_c_layout() {
    let layout = read_json(&env_or_repo("KVC_LAYOUT_JSON", &["build", "layout.json"]));
    let structs = layout.get("structs").as_object();
    let ours = mirrors! {
        kvc_context_params { struct_size, device, device_index }
        kvc_cache_shape { struct_size, num_layers, num_kv_heads, num_tokens, head_dim, dtype, layer_stride, head_stride, token_stride }
        kvc_compress_params { struct_size, key_bits, value_bits, group_size, recent_full_precision_tokens, zstd_level, byte_shuffle, model_name, selection, attention_threshold, keep_ratio, min_tokens, max_tokens, sink_tokens, recent_always_kept_tokens, sliding_window, per_head }
        kvc_metrics { struct_size, reserved, original_bytes, compressed_bytes, compression_ratio, bandwidth_savings_percent, bits_per_element, tokens_total, tokens_kept, compress_ms, attention_coverage }
        kvc_query_shape { struct_size, num_query_heads, num_queries, head_dim, dtype, per_layer }
        kvc_blob_info { struct_size, format_major, format_minor, num_layers, num_kv_heads, num_tokens, head_dim, dtype, key_bits, value_bits, group_size, recent_full_precision_tokens, zstd_level, byte_shuffle, num_chunks, reserved, original_bytes, blob_bytes, producer, model_name, selection, per_head, tokens_kept, max_layer_tokens, reserved2 }
        kvc_decompress_params { struct_size, dtype, first_layer, num_layers, scatter }
        kvc_estimate_result { struct_size, exact_tokens, original_bytes, compressed_bytes, compression_ratio, bandwidth_savings_percent, bits_per_element, tokens_total, tokens_kept }
        kvc_validate_params { struct_size, min_cosine, min_snr_db, min_attention_coverage, max_attention_error, top_k }
        kvc_validation { struct_size, level, passed, violations, warnings, recommendations, key_rmse, key_snr_db, key_cosine, key_max_error, value_rmse, value_snr_db, value_cosine, value_max_error, rmse, snr_db, cosine, max_error, attention_coverage, attention_output_error, attention_kl, topk_overlap, information_loss, tokens_total, tokens_kept, report }
        kvc_benchmark_result { struct_size, iterations, compress_ms_median, compress_ms_p99, decompress_ms_median, decompress_ms_p99, compress_gb_per_s, decompress_gb_per_s, compression_ratio, bandwidth_savings_percent, bits_per_element, original_bytes, compressed_bytes, tokens_total, tokens_kept, quality_passed, quality_level }
        kvc_model_stats { struct_size, reserved, model_name, compress_calls, decompress_calls, original_bytes, compressed_bytes, tokens_total, tokens_kept, coverage_samples, total_compress_ms, mean_compress_ms, total_decompress_ms, mean_decompress_ms, compression_ratio, mean_savings_percent, mean_attention_coverage }
        kvc_quality_thresholds { struct_size, min_cosine, min_snr_db }
        kvc_quality { struct_size, level, passed, violations, key_rmse, key_snr_db, key_cosine, key_max_error, value_rmse, value_snr_db, value_cosine, value_max_error, rmse, snr_db, cosine, max_error }
        kvc_adapter_info { struct_size, attention_type, window_tokens, num_layers, num_query_heads, num_kv_heads, head_dim, context_tokens, latent_dim, rope_key_dim, rope_theta, attention_threshold, sink_tokens, recent_tokens, key_bits, value_bits, group_size, may_compress_keys, is_builtin, name, family, source }
    };
    assert_eq!(
        ours.len(),
        structs.len(),
        "ffi.rs and kvc.h differ in their structs"
    );
    for (name, size, align, fields) in ours {
        let c = layout.get("structs").get(name);
        assert_eq!(size as i64, c.get("size").as_i64(), "{name}: size");
        assert_eq!(align as i64, c.get("align").as_i64(), "{name}: align");
        let c_fields = c.get("fields").as_array();
        assert_eq!(fields.len(), c_fields.len(), "{name}: field count");
        for ((field, offset, bytes), cf) in fields.into_iter().zip(c_fields) {
            assert_eq!(field, cf.get("name").as_str(), "{name}: field order");
            assert_eq!(
                offset as i64,
                cf.get("offset").as_i64(),
                "{name}.{field}: offset"
            );
            assert_eq!(
                bytes as i64,
                cf.get("size").as_i64(),
                "{name}.{field}: size"
            );
        }
    }
}

#[test]
fn every_constant_has_the_c_value() {
    let layout = read_json(&env_or_repo("KVC_LAYOUT_JSON", &["build", "layout.json"]));
    let constants = layout.get("constants").as_object();
    let ours: Vec<(&str, i64)> = vec![
        ("KVC_VERSION_MAJOR", ffi::KVC_VERSION_MAJOR as i64),
        ("KVC_VERSION_MINOR", ffi::KVC_VERSION_MINOR as i64),
        ("KVC_VERSION_PATCH", ffi::KVC_VERSION_PATCH as i64),
        ("KVC_VERSION_NUMBER", ffi::KVC_VERSION_NUMBER as i64),
        ("KVC_FORMAT_MAJOR", ffi::KVC_FORMAT_MAJOR as i64),
        ("KVC_FORMAT_MINOR", ffi::KVC_FORMAT_MINOR as i64),
        ("KVC_OK", ffi::KVC_OK as i64),
        (
            "KVC_ERR_INVALID_ARGUMENT",
            ffi::KVC_ERR_INVALID_ARGUMENT as i64,
        ),
        (
            "KVC_ERR_BUFFER_TOO_SMALL",
            ffi::KVC_ERR_BUFFER_TOO_SMALL as i64,
        ),
        ("KVC_ERR_CORRUPT_DATA", ffi::KVC_ERR_CORRUPT_DATA as i64),
        (
            "KVC_ERR_UNSUPPORTED_VERSION",
            ffi::KVC_ERR_UNSUPPORTED_VERSION as i64,
        ),
        ("KVC_ERR_OUT_OF_MEMORY", ffi::KVC_ERR_OUT_OF_MEMORY as i64),
        ("KVC_ERR_DEVICE", ffi::KVC_ERR_DEVICE as i64),
        ("KVC_ERR_IO", ffi::KVC_ERR_IO as i64),
        ("KVC_ERR_BUSY", ffi::KVC_ERR_BUSY as i64),
        ("KVC_ERR_INTERNAL", ffi::KVC_ERR_INTERNAL as i64),
        ("KVC_DTYPE_F32", ffi::KVC_DTYPE_F32 as i64),
        ("KVC_DTYPE_F16", ffi::KVC_DTYPE_F16 as i64),
        ("KVC_DTYPE_BF16", ffi::KVC_DTYPE_BF16 as i64),
        ("KVC_DTYPE_AS_STORED", ffi::KVC_DTYPE_AS_STORED as i64),
        ("KVC_DEVICE_CPU", ffi::KVC_DEVICE_CPU as i64),
        ("KVC_DEVICE_CUDA", ffi::KVC_DEVICE_CUDA as i64),
        ("KVC_SELECT_NONE", ffi::KVC_SELECT_NONE as i64),
        ("KVC_SELECT_ATTENTION", ffi::KVC_SELECT_ATTENTION as i64),
        ("KVC_SELECT_KEY_NORM", ffi::KVC_SELECT_KEY_NORM as i64),
        ("KVC_SELECT_RECENCY", ffi::KVC_SELECT_RECENCY as i64),
        ("KVC_SHUFFLE_AUTO", ffi::KVC_SHUFFLE_AUTO as i64),
        ("KVC_SHUFFLE_OFF", ffi::KVC_SHUFFLE_OFF as i64),
        ("KVC_SHUFFLE_ON", ffi::KVC_SHUFFLE_ON as i64),
        (
            "KVC_VIOLATION_ATTENTION_COVERAGE",
            ffi::KVC_VIOLATION_ATTENTION_COVERAGE as i64,
        ),
        (
            "KVC_VIOLATION_ATTENTION_ERROR",
            ffi::KVC_VIOLATION_ATTENTION_ERROR as i64,
        ),
        ("KVC_WARNING_NO_QUERIES", ffi::KVC_WARNING_NO_QUERIES as i64),
        (
            "KVC_WARNING_MANY_EVICTED",
            ffi::KVC_WARNING_MANY_EVICTED as i64,
        ),
        (
            "KVC_WARNING_SHAPE_FROM_INPUT",
            ffi::KVC_WARNING_SHAPE_FROM_INPUT as i64,
        ),
        (
            "KVC_WARNING_QUALITY_TO_SPARE",
            ffi::KVC_WARNING_QUALITY_TO_SPARE as i64,
        ),
        (
            "KVC_RECOMMEND_MORE_KEY_BITS",
            ffi::KVC_RECOMMEND_MORE_KEY_BITS as i64,
        ),
        (
            "KVC_RECOMMEND_MORE_VALUE_BITS",
            ffi::KVC_RECOMMEND_MORE_VALUE_BITS as i64,
        ),
        (
            "KVC_RECOMMEND_SMALLER_GROUPS",
            ffi::KVC_RECOMMEND_SMALLER_GROUPS as i64,
        ),
        (
            "KVC_RECOMMEND_MORE_RECENT_TOKENS",
            ffi::KVC_RECOMMEND_MORE_RECENT_TOKENS as i64,
        ),
        (
            "KVC_RECOMMEND_HIGHER_THRESHOLD",
            ffi::KVC_RECOMMEND_HIGHER_THRESHOLD as i64,
        ),
        (
            "KVC_RECOMMEND_MORE_SINK_TOKENS",
            ffi::KVC_RECOMMEND_MORE_SINK_TOKENS as i64,
        ),
        (
            "KVC_RECOMMEND_FEWER_BITS",
            ffi::KVC_RECOMMEND_FEWER_BITS as i64,
        ),
        (
            "KVC_RECOMMEND_LOWER_THRESHOLD",
            ffi::KVC_RECOMMEND_LOWER_THRESHOLD as i64,
        ),
        ("KVC_QUALITY_POOR", ffi::KVC_QUALITY_POOR as i64),
        ("KVC_QUALITY_ACCEPTABLE", ffi::KVC_QUALITY_ACCEPTABLE as i64),
        ("KVC_QUALITY_GOOD", ffi::KVC_QUALITY_GOOD as i64),
        ("KVC_QUALITY_EXCELLENT", ffi::KVC_QUALITY_EXCELLENT as i64),
        (
            "KVC_VIOLATION_KEY_COSINE",
            ffi::KVC_VIOLATION_KEY_COSINE as i64,
        ),
        (
            "KVC_VIOLATION_VALUE_COSINE",
            ffi::KVC_VIOLATION_VALUE_COSINE as i64,
        ),
        ("KVC_VIOLATION_KEY_SNR", ffi::KVC_VIOLATION_KEY_SNR as i64),
        (
            "KVC_VIOLATION_VALUE_SNR",
            ffi::KVC_VIOLATION_VALUE_SNR as i64,
        ),
        (
            "KVC_VIOLATION_NON_FINITE",
            ffi::KVC_VIOLATION_NON_FINITE as i64,
        ),
        ("KVC_ATTENTION_CAUSAL", ffi::KVC_ATTENTION_CAUSAL as i64),
        (
            "KVC_ATTENTION_BIDIRECTIONAL",
            ffi::KVC_ATTENTION_BIDIRECTIONAL as i64,
        ),
        (
            "KVC_ATTENTION_SLIDING_WINDOW",
            ffi::KVC_ATTENTION_SLIDING_WINDOW as i64,
        ),
        ("KVC_ATTENTION_SPARSE", ffi::KVC_ATTENTION_SPARSE as i64),
        ("KVC_ATTENTION_LATENT", ffi::KVC_ATTENTION_LATENT as i64),
    ];
    assert_eq!(
        ours.len(),
        constants.len(),
        "ffi.rs and kvc.h differ in their constants"
    );
    for (name, value) in ours {
        assert_eq!(value, layout.get("constants").get(name).as_i64(), "{name}");
    }
}
