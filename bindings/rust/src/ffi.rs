// ffi.rs: raw, hand-written mirror of include/kvc/kvc.h (the stable core) and
// include/kvc/kvc_tools.h (the opt-in tools): types, constants, structs, functions.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_void};

// ---- kvc.h --------------------------------------------------------------------------------------

pub type kvc_status = i32;
pub type kvc_dtype = i32;
pub type kvc_device = i32;
pub type kvc_progress_fn = unsafe extern "C" fn(user_data: *mut c_void, done: u64, total: u64);

pub const KVC_VERSION_MAJOR: u32 = 0;
pub const KVC_VERSION_MINOR: u32 = 2;
pub const KVC_VERSION_PATCH: u32 = 0;
pub const KVC_VERSION_NUMBER: u32 = 200;
pub const KVC_FORMAT_MAJOR: u32 = 1;
pub const KVC_FORMAT_MINOR: u32 = 1;
pub const KVC_OK: kvc_status = 0;
pub const KVC_ERR_INVALID_ARGUMENT: kvc_status = 1;
pub const KVC_ERR_BUFFER_TOO_SMALL: kvc_status = 2;
pub const KVC_ERR_CORRUPT_DATA: kvc_status = 3;
pub const KVC_ERR_UNSUPPORTED_VERSION: kvc_status = 4;
pub const KVC_ERR_OUT_OF_MEMORY: kvc_status = 5;
pub const KVC_ERR_DEVICE: kvc_status = 6;
pub const KVC_ERR_IO: kvc_status = 7;
pub const KVC_ERR_BUSY: kvc_status = 8;
pub const KVC_ERR_INTERNAL: kvc_status = 100;
pub const KVC_DTYPE_F32: kvc_dtype = 0;
pub const KVC_DTYPE_F16: kvc_dtype = 1;
pub const KVC_DTYPE_BF16: kvc_dtype = 2;
pub const KVC_DTYPE_AS_STORED: kvc_dtype = -1;
pub const KVC_DEVICE_CPU: kvc_device = 0;
pub const KVC_DEVICE_CUDA: kvc_device = 1;
pub const KVC_SELECT_NONE: i32 = 0;
pub const KVC_SELECT_ATTENTION: i32 = 1;
pub const KVC_SELECT_KEY_NORM: i32 = 2;
pub const KVC_SELECT_RECENCY: i32 = 3;
pub const KVC_SHUFFLE_AUTO: i32 = 0;
pub const KVC_SHUFFLE_OFF: i32 = 1;
pub const KVC_SHUFFLE_ON: i32 = 2;

// ---- kvc_tools.h constants ----------------------------------------------------------------------
pub const KVC_VIOLATION_ATTENTION_COVERAGE: u32 = 32;
pub const KVC_VIOLATION_ATTENTION_ERROR: u32 = 64;
pub const KVC_WARNING_NO_QUERIES: u32 = 1;
pub const KVC_WARNING_MANY_EVICTED: u32 = 2;
pub const KVC_WARNING_SHAPE_FROM_INPUT: u32 = 4;
pub const KVC_WARNING_QUALITY_TO_SPARE: u32 = 8;
pub const KVC_RECOMMEND_MORE_KEY_BITS: u32 = 1;
pub const KVC_RECOMMEND_MORE_VALUE_BITS: u32 = 2;
pub const KVC_RECOMMEND_SMALLER_GROUPS: u32 = 4;
pub const KVC_RECOMMEND_MORE_RECENT_TOKENS: u32 = 8;
pub const KVC_RECOMMEND_HIGHER_THRESHOLD: u32 = 16;
pub const KVC_RECOMMEND_MORE_SINK_TOKENS: u32 = 32;
pub const KVC_RECOMMEND_FEWER_BITS: u32 = 64;
pub const KVC_RECOMMEND_LOWER_THRESHOLD: u32 = 128;
pub const KVC_QUALITY_POOR: i32 = 0;
pub const KVC_QUALITY_ACCEPTABLE: i32 = 1;
pub const KVC_QUALITY_GOOD: i32 = 2;
pub const KVC_QUALITY_EXCELLENT: i32 = 3;
pub const KVC_VIOLATION_KEY_COSINE: u32 = 1;
pub const KVC_VIOLATION_VALUE_COSINE: u32 = 2;
pub const KVC_VIOLATION_KEY_SNR: u32 = 4;
pub const KVC_VIOLATION_VALUE_SNR: u32 = 8;
pub const KVC_VIOLATION_NON_FINITE: u32 = 16;
pub const KVC_ATTENTION_CAUSAL: i32 = 0;
pub const KVC_ATTENTION_BIDIRECTIONAL: i32 = 1;
pub const KVC_ATTENTION_SLIDING_WINDOW: i32 = 2;
pub const KVC_ATTENTION_SPARSE: i32 = 3;
pub const KVC_ATTENTION_LATENT: i32 = 4;

#[repr(C)]
pub struct kvc_context {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_context_params {
    pub struct_size: u32,
    pub device: kvc_device,
    pub device_index: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_cache_shape {
    pub struct_size: u32,
    pub num_layers: u32,
    pub num_kv_heads: u32,
    pub num_tokens: u32,
    pub head_dim: u32,
    pub dtype: kvc_dtype,
    pub layer_stride: u64,
    pub head_stride: u64,
    pub token_stride: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_compress_params {
    pub struct_size: u32,
    pub key_bits: i32,
    pub value_bits: i32,
    pub group_size: i32,
    pub recent_full_precision_tokens: i32,
    pub zstd_level: i32,
    pub byte_shuffle: i32,
    pub model_name: [c_char; 64],
    pub selection: i32,
    pub attention_threshold: f32,
    pub keep_ratio: f32,
    pub min_tokens: u32,
    pub max_tokens: u32,
    pub sink_tokens: u32,
    pub recent_always_kept_tokens: u32,
    pub sliding_window: u32,
    pub per_head: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_metrics {
    pub struct_size: u32,
    pub reserved: u32,
    pub original_bytes: u64,
    pub compressed_bytes: u64,
    pub compression_ratio: f64,
    pub bandwidth_savings_percent: f64,
    pub bits_per_element: f64,
    pub tokens_total: u64,
    pub tokens_kept: u64,
    pub compress_ms: f64,
    pub attention_coverage: f64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_query_shape {
    pub struct_size: u32,
    pub num_query_heads: u32,
    pub num_queries: u32,
    pub head_dim: u32,
    pub dtype: kvc_dtype,
    pub per_layer: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_blob_info {
    pub struct_size: u32,
    pub format_major: u32,
    pub format_minor: u32,
    pub num_layers: u32,
    pub num_kv_heads: u32,
    pub num_tokens: u32,
    pub head_dim: u32,
    pub dtype: kvc_dtype,
    pub key_bits: i32,
    pub value_bits: i32,
    pub group_size: i32,
    pub recent_full_precision_tokens: i32,
    pub zstd_level: i32,
    pub byte_shuffle: i32,
    pub num_chunks: u32,
    pub reserved: u32,
    pub original_bytes: u64,
    pub blob_bytes: u64,
    pub producer: [c_char; 64],
    pub model_name: [c_char; 64],
    pub selection: i32,
    pub per_head: i32,
    pub tokens_kept: u64,
    pub max_layer_tokens: u32,
    pub reserved2: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_decompress_params {
    pub struct_size: u32,
    pub dtype: kvc_dtype,
    pub first_layer: u32,
    pub num_layers: u32,
    pub scatter: i32,
}

// ---- kvc_tools.h types --------------------------------------------------------------------------

#[repr(C)]
pub struct kvc_cache {
    _private: [u8; 0],
}

#[repr(C)]
pub struct kvc_adapter {
    _private: [u8; 0],
}

#[repr(C)]
pub struct kvc_query_file {
    _private: [u8; 0],
}

#[repr(C)]
pub struct kvc_stats {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_estimate_result {
    pub struct_size: u32,
    pub exact_tokens: i32,
    pub original_bytes: u64,
    pub compressed_bytes: u64,
    pub compression_ratio: f64,
    pub bandwidth_savings_percent: f64,
    pub bits_per_element: f64,
    pub tokens_total: u64,
    pub tokens_kept: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_validate_params {
    pub struct_size: u32,
    pub min_cosine: f32,
    pub min_snr_db: f32,
    pub min_attention_coverage: f32,
    pub max_attention_error: f32,
    pub top_k: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_validation {
    pub struct_size: u32,
    pub level: i32,
    pub passed: i32,
    pub violations: u32,
    pub warnings: u32,
    pub recommendations: u32,
    pub key_rmse: f64,
    pub key_snr_db: f64,
    pub key_cosine: f64,
    pub key_max_error: f64,
    pub value_rmse: f64,
    pub value_snr_db: f64,
    pub value_cosine: f64,
    pub value_max_error: f64,
    pub rmse: f64,
    pub snr_db: f64,
    pub cosine: f64,
    pub max_error: f64,
    pub attention_coverage: f64,
    pub attention_output_error: f64,
    pub attention_kl: f64,
    pub topk_overlap: f64,
    pub information_loss: f64,
    pub tokens_total: u64,
    pub tokens_kept: u64,
    pub report: [c_char; 1024],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_benchmark_result {
    pub struct_size: u32,
    pub iterations: u32,
    pub compress_ms_median: f64,
    pub compress_ms_p99: f64,
    pub decompress_ms_median: f64,
    pub decompress_ms_p99: f64,
    pub compress_gb_per_s: f64,
    pub decompress_gb_per_s: f64,
    pub compression_ratio: f64,
    pub bandwidth_savings_percent: f64,
    pub bits_per_element: f64,
    pub original_bytes: u64,
    pub compressed_bytes: u64,
    pub tokens_total: u64,
    pub tokens_kept: u64,
    pub quality_passed: i32,
    pub quality_level: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_model_stats {
    pub struct_size: u32,
    pub reserved: u32,
    pub model_name: [c_char; 64],
    pub compress_calls: u64,
    pub decompress_calls: u64,
    pub original_bytes: u64,
    pub compressed_bytes: u64,
    pub tokens_total: u64,
    pub tokens_kept: u64,
    pub coverage_samples: u64,
    pub total_compress_ms: f64,
    pub mean_compress_ms: f64,
    pub total_decompress_ms: f64,
    pub mean_decompress_ms: f64,
    pub compression_ratio: f64,
    pub mean_savings_percent: f64,
    pub mean_attention_coverage: f64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_quality_thresholds {
    pub struct_size: u32,
    pub min_cosine: f32,
    pub min_snr_db: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_quality {
    pub struct_size: u32,
    pub level: i32,
    pub passed: i32,
    pub violations: u32,
    pub key_rmse: f64,
    pub key_snr_db: f64,
    pub key_cosine: f64,
    pub key_max_error: f64,
    pub value_rmse: f64,
    pub value_snr_db: f64,
    pub value_cosine: f64,
    pub value_max_error: f64,
    pub rmse: f64,
    pub snr_db: f64,
    pub cosine: f64,
    pub max_error: f64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct kvc_adapter_info {
    pub struct_size: u32,
    pub attention_type: i32,
    pub window_tokens: i32,
    pub num_layers: i32,
    pub num_query_heads: i32,
    pub num_kv_heads: i32,
    pub head_dim: i32,
    pub context_tokens: i32,
    pub latent_dim: i32,
    pub rope_key_dim: i32,
    pub rope_theta: f32,
    pub attention_threshold: f32,
    pub sink_tokens: i32,
    pub recent_tokens: i32,
    pub key_bits: i32,
    pub value_bits: i32,
    pub group_size: i32,
    pub may_compress_keys: i32,
    pub is_builtin: i32,
    pub name: [c_char; 64],
    pub family: [c_char; 32],
    pub source: [c_char; 128],
}

extern "C" {
    pub fn kvc_version_number() -> u32;
    pub fn kvc_version_string() -> *const c_char;
    pub fn kvc_status_name(status: kvc_status) -> *const c_char;
    pub fn kvc_device_count(device: kvc_device) -> i32;
    pub fn kvc_context_params_default(
        params: *mut kvc_context_params,
        struct_size: u32,
    ) -> kvc_status;
    pub fn kvc_context_create(
        params: *const kvc_context_params,
        out_ctx: *mut *mut kvc_context,
        out_error: *mut c_char,
        error_capacity: usize,
    ) -> kvc_status;
    pub fn kvc_context_free(ctx: *mut kvc_context);
    pub fn kvc_context_last_error(ctx: *const kvc_context) -> *const c_char;
    pub fn kvc_context_set_stream(ctx: *mut kvc_context, stream: *mut c_void) -> kvc_status;
    pub fn kvc_context_set_progress(
        ctx: *mut kvc_context,
        callback: Option<kvc_progress_fn>,
        user_data: *mut c_void,
    ) -> kvc_status;
    pub fn kvc_cache_shape_default(shape: *mut kvc_cache_shape, struct_size: u32) -> kvc_status;
    pub fn kvc_cache_shape_extent(
        shape: *const kvc_cache_shape,
        out_tensor_bytes: *mut usize,
        out_layer_bytes: *mut usize,
    ) -> kvc_status;
    pub fn kvc_compress_params_default(
        params: *mut kvc_compress_params,
        struct_size: u32,
    ) -> kvc_status;
    pub fn kvc_query_shape_default(shape: *mut kvc_query_shape, struct_size: u32) -> kvc_status;
    pub fn kvc_query_shape_extent(
        query_shape: *const kvc_query_shape,
        num_layers: u32,
        out_bytes: *mut usize,
    ) -> kvc_status;
    pub fn kvc_compress_bound(
        params: *const kvc_compress_params,
        shape: *const kvc_cache_shape,
    ) -> usize;
    pub fn kvc_compress(
        ctx: *mut kvc_context,
        params: *const kvc_compress_params,
        shape: *const kvc_cache_shape,
        keys: *const c_void,
        keys_size: usize,
        values: *const c_void,
        values_size: usize,
        dst: *mut c_void,
        dst_capacity: usize,
        out_size: *mut usize,
        out_metrics: *mut kvc_metrics,
    ) -> kvc_status;
    pub fn kvc_compress_layers(
        ctx: *mut kvc_context,
        params: *const kvc_compress_params,
        shape: *const kvc_cache_shape,
        num_layer_pointers: u32,
        key_layers: *const *const c_void,
        key_layer_sizes: *const usize,
        value_layers: *const *const c_void,
        value_layer_sizes: *const usize,
        dst: *mut c_void,
        dst_capacity: usize,
        out_size: *mut usize,
        out_metrics: *mut kvc_metrics,
    ) -> kvc_status;
    pub fn kvc_compress_with_queries(
        ctx: *mut kvc_context,
        params: *const kvc_compress_params,
        shape: *const kvc_cache_shape,
        keys: *const c_void,
        keys_size: usize,
        values: *const c_void,
        values_size: usize,
        query_shape: *const kvc_query_shape,
        queries: *const c_void,
        queries_size: usize,
        dst: *mut c_void,
        dst_capacity: usize,
        out_size: *mut usize,
        out_metrics: *mut kvc_metrics,
    ) -> kvc_status;
    pub fn kvc_inspect(
        ctx: *mut kvc_context,
        src: *const c_void,
        src_size: usize,
        out_info: *mut kvc_blob_info,
    ) -> kvc_status;
    pub fn kvc_verify(ctx: *mut kvc_context, src: *const c_void, src_size: usize) -> kvc_status;
    pub fn kvc_decompress_params_default(
        params: *mut kvc_decompress_params,
        struct_size: u32,
    ) -> kvc_status;
    pub fn kvc_decompress(
        ctx: *mut kvc_context,
        params: *const kvc_decompress_params,
        src: *const c_void,
        src_size: usize,
        keys: *mut c_void,
        values: *mut c_void,
        tensor_capacity: usize,
        out_tensor_bytes: *mut usize,
    ) -> kvc_status;
    pub fn kvc_decompress_positions(
        ctx: *mut kvc_context,
        params: *const kvc_decompress_params,
        src: *const c_void,
        src_size: usize,
        out_layer_counts: *mut u32,
        layer_counts_capacity: usize,
        out_positions: *mut u32,
        positions_capacity: usize,
        out_positions_count: *mut usize,
    ) -> kvc_status;
    pub fn kvc_decompress_mask(
        ctx: *mut kvc_context,
        params: *const kvc_decompress_params,
        src: *const c_void,
        src_size: usize,
        out_mask: *mut u8,
        mask_capacity: usize,
        out_mask_size: *mut usize,
    ) -> kvc_status;
}

// ---- kvc_tools.h functions ----------------------------------------------------------------------
extern "C" {
    pub fn kvc_estimate(
        ctx: *mut kvc_context,
        params: *const kvc_compress_params,
        shape: *const kvc_cache_shape,
        out_estimate: *mut kvc_estimate_result,
    ) -> kvc_status;
    pub fn kvc_validate_params_default(
        params: *mut kvc_validate_params,
        struct_size: u32,
    ) -> kvc_status;
    pub fn kvc_validate(
        ctx: *mut kvc_context,
        params: *const kvc_validate_params,
        adapter: *const kvc_adapter,
        shape: *const kvc_cache_shape,
        keys: *const c_void,
        keys_size: usize,
        values: *const c_void,
        values_size: usize,
        query_shape: *const kvc_query_shape,
        queries: *const c_void,
        queries_size: usize,
        blob: *const c_void,
        blob_size: usize,
        out_validation: *mut kvc_validation,
    ) -> kvc_status;
    pub fn kvc_benchmark(
        ctx: *mut kvc_context,
        params: *const kvc_compress_params,
        shape: *const kvc_cache_shape,
        keys: *const c_void,
        keys_size: usize,
        values: *const c_void,
        values_size: usize,
        query_shape: *const kvc_query_shape,
        queries: *const c_void,
        queries_size: usize,
        iterations: u32,
        out_result: *mut kvc_benchmark_result,
    ) -> kvc_status;
    pub fn kvc_stats_create(out_stats: *mut *mut kvc_stats) -> kvc_status;
    pub fn kvc_stats_free(stats: *mut kvc_stats);
    pub fn kvc_context_set_stats(ctx: *mut kvc_context, stats: *mut kvc_stats) -> kvc_status;
    pub fn kvc_stats_record(
        stats: *mut kvc_stats,
        model_name: *const c_char,
        metrics: *const kvc_metrics,
    ) -> kvc_status;
    pub fn kvc_stats_model_count(stats: *const kvc_stats) -> u32;
    pub fn kvc_stats_get(
        stats: *const kvc_stats,
        model_name: *const c_char,
        out_model_stats: *mut kvc_model_stats,
    ) -> kvc_status;
    pub fn kvc_stats_get_index(
        stats: *const kvc_stats,
        index: u32,
        out_model_stats: *mut kvc_model_stats,
    ) -> kvc_status;
    pub fn kvc_stats_reset(stats: *mut kvc_stats, model_name: *const c_char) -> kvc_status;
    pub fn kvc_quality_thresholds_default(
        thresholds: *mut kvc_quality_thresholds,
        struct_size: u32,
    ) -> kvc_status;
    pub fn kvc_quality_level_name(level: i32) -> *const c_char;
    pub fn kvc_quality_compare(
        ctx: *mut kvc_context,
        thresholds: *const kvc_quality_thresholds,
        shape_a: *const kvc_cache_shape,
        keys_a: *const c_void,
        keys_a_size: usize,
        values_a: *const c_void,
        values_a_size: usize,
        shape_b: *const kvc_cache_shape,
        keys_b: *const c_void,
        keys_b_size: usize,
        values_b: *const c_void,
        values_b_size: usize,
        out_quality: *mut kvc_quality,
    ) -> kvc_status;
    pub fn kvc_cache_load(
        ctx: *mut kvc_context,
        path: *const c_char,
        out_cache: *mut *mut kvc_cache,
    ) -> kvc_status;
    pub fn kvc_cache_free(cache: *mut kvc_cache);
    pub fn kvc_cache_get_shape(
        cache: *const kvc_cache,
        out_shape: *mut kvc_cache_shape,
    ) -> kvc_status;
    pub fn kvc_cache_keys(cache: *const kvc_cache) -> *const c_void;
    pub fn kvc_cache_values(cache: *const kvc_cache) -> *const c_void;
    pub fn kvc_cache_model_name(cache: *const kvc_cache) -> *const c_char;
    pub fn kvc_cache_save(
        ctx: *mut kvc_context,
        path: *const c_char,
        shape: *const kvc_cache_shape,
        keys: *const c_void,
        keys_size: usize,
        values: *const c_void,
        values_size: usize,
        model_name: *const c_char,
    ) -> kvc_status;
    pub fn kvc_query_file_load(
        ctx: *mut kvc_context,
        path: *const c_char,
        out_file: *mut *mut kvc_query_file,
    ) -> kvc_status;
    pub fn kvc_query_file_free(file: *mut kvc_query_file);
    pub fn kvc_query_file_get_shape(
        file: *const kvc_query_file,
        out_shape: *mut kvc_query_shape,
        out_num_layers: *mut u32,
    ) -> kvc_status;
    pub fn kvc_query_file_data(file: *const kvc_query_file) -> *const c_void;
    pub fn kvc_adapter_count() -> u32;
    pub fn kvc_adapter_get(index: u32, out_adapter: *mut *const kvc_adapter) -> kvc_status;
    pub fn kvc_adapter_find(
        name: *const c_char,
        out_adapter: *mut *const kvc_adapter,
    ) -> kvc_status;
    pub fn kvc_adapter_from_hf_config(
        ctx: *mut kvc_context,
        json_text: *const c_char,
        json_size: usize,
        out_adapter: *mut *mut kvc_adapter,
    ) -> kvc_status;
    pub fn kvc_adapter_from_gguf(
        ctx: *mut kvc_context,
        path: *const c_char,
        out_adapter: *mut *mut kvc_adapter,
    ) -> kvc_status;
    pub fn kvc_adapter_free(adapter: *const kvc_adapter);
    pub fn kvc_adapter_get_info(
        adapter: *const kvc_adapter,
        out_info: *mut kvc_adapter_info,
    ) -> kvc_status;
    pub fn kvc_adapter_cache_shape(
        adapter: *const kvc_adapter,
        num_tokens: u32,
        dtype: kvc_dtype,
        out_shape: *mut kvc_cache_shape,
    ) -> kvc_status;
    pub fn kvc_adapter_compress_params(
        adapter: *const kvc_adapter,
        params: *mut kvc_compress_params,
    ) -> kvc_status;
    pub fn kvc_attention_type_name(attention_type: i32) -> *const c_char;
}
