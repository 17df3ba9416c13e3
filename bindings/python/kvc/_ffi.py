# _ffi.py: raw ctypes mirror of include/kvc/kvc.h and kvc/kvc_tools.h (names, structs, constants,
# prototypes), in the headers' order; no logic.
import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int32,
                    c_size_t, c_uint32, c_uint64, c_void_p)


def _load_library():
    """libkvc.so from $KVC_LIBRARY, else next to this package, else the system loader."""
    candidates = []
    if os.environ.get("KVC_LIBRARY"):
        candidates.append(os.environ["KVC_LIBRARY"])
    here = os.path.dirname(os.path.abspath(__file__))
    candidates += [os.path.join(here, name)
                   for name in ("libkvc.so", "libkvc.so.0", "libkvc.dylib")]
    found = ctypes.util.find_library("kvc")
    if found:
        candidates.append(found)
    candidates.append("libkvc.so.0")
    errors = []
    for path in candidates:
        if os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: not found")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(str(e))
    raise ImportError("cannot load libkvc (set KVC_LIBRARY to the path of libkvc.so): "
                      + "; ".join(errors))


lib = _load_library()

# ---- Version -------------------------------------------------------------------------------
KVC_VERSION_MAJOR = 0
KVC_VERSION_MINOR = 2
KVC_VERSION_PATCH = 0
KVC_VERSION_NUMBER = KVC_VERSION_MAJOR * 10000 + KVC_VERSION_MINOR * 100 + KVC_VERSION_PATCH
KVC_FORMAT_MAJOR = 1
KVC_FORMAT_MINOR = 1

# uint32_t kvc_version_number(void);
kvc_version_number = lib.kvc_version_number
kvc_version_number.argtypes = []
kvc_version_number.restype = c_uint32

# const char* kvc_version_string(void);
kvc_version_string = lib.kvc_version_string
kvc_version_string.argtypes = []
kvc_version_string.restype = c_char_p

# ---- Status --------------------------------------------------------------------------------
kvc_status = c_int32
KVC_OK = 0
KVC_ERR_INVALID_ARGUMENT = 1
KVC_ERR_BUFFER_TOO_SMALL = 2
KVC_ERR_CORRUPT_DATA = 3
KVC_ERR_UNSUPPORTED_VERSION = 4
KVC_ERR_OUT_OF_MEMORY = 5
KVC_ERR_DEVICE = 6
KVC_ERR_IO = 7
KVC_ERR_BUSY = 8
KVC_ERR_INTERNAL = 100

# const char* kvc_status_name(kvc_status status);
kvc_status_name = lib.kvc_status_name
kvc_status_name.argtypes = [kvc_status]
kvc_status_name.restype = c_char_p

# ---- Types ---------------------------------------------------------------------------------
kvc_dtype = c_int32
KVC_DTYPE_F32 = 0
KVC_DTYPE_F16 = 1
KVC_DTYPE_BF16 = 2
KVC_DTYPE_AS_STORED = -1

kvc_device = c_int32
KVC_DEVICE_CPU = 0
KVC_DEVICE_CUDA = 1

# int32_t kvc_device_count(kvc_device device);
kvc_device_count = lib.kvc_device_count
kvc_device_count.argtypes = [kvc_device]
kvc_device_count.restype = c_int32

# ---- Context -------------------------------------------------------------------------------


class kvc_context(Structure):
    """Opaque."""


class kvc_context_params(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("device", kvc_device),
        ("device_index", c_int32),
    ]


# kvc_status kvc_context_params_default(kvc_context_params* params, uint32_t struct_size);
kvc_context_params_default = lib.kvc_context_params_default
kvc_context_params_default.argtypes = [POINTER(kvc_context_params), c_uint32]
kvc_context_params_default.restype = kvc_status

# kvc_status kvc_context_create(const kvc_context_params* params, kvc_context** out_ctx,
#                               char* out_error, size_t error_capacity);
kvc_context_create = lib.kvc_context_create
kvc_context_create.argtypes = [POINTER(kvc_context_params), POINTER(POINTER(kvc_context)), c_void_p,
                               c_size_t]
kvc_context_create.restype = kvc_status

# void kvc_context_free(kvc_context* ctx);
kvc_context_free = lib.kvc_context_free
kvc_context_free.argtypes = [POINTER(kvc_context)]
kvc_context_free.restype = None

# kvc_status kvc_context_set_stream(kvc_context* ctx, void* stream);
kvc_context_set_stream = lib.kvc_context_set_stream
kvc_context_set_stream.argtypes = [POINTER(kvc_context), c_void_p]
kvc_context_set_stream.restype = kvc_status

# const char* kvc_context_last_error(const kvc_context* ctx);
kvc_context_last_error = lib.kvc_context_last_error
kvc_context_last_error.argtypes = [POINTER(kvc_context)]
kvc_context_last_error.restype = c_char_p

# typedef void (*kvc_progress_fn)(void* user_data, uint64_t done, uint64_t total);
kvc_progress_fn = CFUNCTYPE(None, c_void_p, c_uint64, c_uint64)

# kvc_status kvc_context_set_progress(kvc_context* ctx, kvc_progress_fn callback,
#                                     void* user_data);
kvc_context_set_progress = lib.kvc_context_set_progress
kvc_context_set_progress.argtypes = [POINTER(kvc_context), kvc_progress_fn, c_void_p]
kvc_context_set_progress.restype = kvc_status

# ---- Cache shape ---------------------------------------------------------------------------


class kvc_cache_shape(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("num_layers", c_uint32),
        ("num_kv_heads", c_uint32),
        ("num_tokens", c_uint32),
        ("head_dim", c_uint32),
        ("dtype", kvc_dtype),
        ("layer_stride", c_uint64),
        ("head_stride", c_uint64),
        ("token_stride", c_uint64),
    ]


# kvc_status kvc_cache_shape_default(kvc_cache_shape* shape, uint32_t struct_size);
kvc_cache_shape_default = lib.kvc_cache_shape_default
kvc_cache_shape_default.argtypes = [POINTER(kvc_cache_shape), c_uint32]
kvc_cache_shape_default.restype = kvc_status

# kvc_status kvc_cache_shape_extent(const kvc_cache_shape* shape, size_t* out_tensor_bytes,
#                                   size_t* out_layer_bytes);
kvc_cache_shape_extent = lib.kvc_cache_shape_extent
kvc_cache_shape_extent.argtypes = [POINTER(kvc_cache_shape), POINTER(c_size_t), POINTER(c_size_t)]
kvc_cache_shape_extent.restype = kvc_status

# ---- Compress ------------------------------------------------------------------------------


class kvc_compress_params(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("key_bits", c_int32),
        ("value_bits", c_int32),
        ("group_size", c_int32),
        ("recent_full_precision_tokens", c_int32),
        ("zstd_level", c_int32),
        ("byte_shuffle", c_int32),
        ("model_name", c_char * 64),
        ("selection", c_int32),
        ("attention_threshold", c_float),
        ("keep_ratio", c_float),
        ("min_tokens", c_uint32),
        ("max_tokens", c_uint32),
        ("sink_tokens", c_uint32),
        ("recent_always_kept_tokens", c_uint32),
        ("sliding_window", c_uint32),
        ("per_head", c_int32),
    ]


KVC_SELECT_NONE = 0
KVC_SELECT_ATTENTION = 1
KVC_SELECT_KEY_NORM = 2
KVC_SELECT_RECENCY = 3

KVC_SHUFFLE_AUTO = 0
KVC_SHUFFLE_OFF = 1
KVC_SHUFFLE_ON = 2

# kvc_status kvc_compress_params_default(kvc_compress_params* params, uint32_t struct_size);
kvc_compress_params_default = lib.kvc_compress_params_default
kvc_compress_params_default.argtypes = [POINTER(kvc_compress_params), c_uint32]
kvc_compress_params_default.restype = kvc_status


class kvc_metrics(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("reserved", c_uint32),
        ("original_bytes", c_uint64),
        ("compressed_bytes", c_uint64),
        ("compression_ratio", c_double),
        ("bandwidth_savings_percent", c_double),
        ("bits_per_element", c_double),
        ("tokens_total", c_uint64),
        ("tokens_kept", c_uint64),
        ("compress_ms", c_double),
        ("attention_coverage", c_double),
    ]


class kvc_query_shape(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("num_query_heads", c_uint32),
        ("num_queries", c_uint32),
        ("head_dim", c_uint32),
        ("dtype", kvc_dtype),
        ("per_layer", c_uint32),
    ]


# kvc_status kvc_query_shape_default(kvc_query_shape* shape, uint32_t struct_size);
kvc_query_shape_default = lib.kvc_query_shape_default
kvc_query_shape_default.argtypes = [POINTER(kvc_query_shape), c_uint32]
kvc_query_shape_default.restype = kvc_status

# kvc_status kvc_query_shape_extent(const kvc_query_shape* query_shape, uint32_t num_layers,
#                                   size_t* out_bytes);
kvc_query_shape_extent = lib.kvc_query_shape_extent
kvc_query_shape_extent.argtypes = [POINTER(kvc_query_shape), c_uint32, POINTER(c_size_t)]
kvc_query_shape_extent.restype = kvc_status


# size_t kvc_compress_bound(const kvc_compress_params* params, const kvc_cache_shape* shape);
kvc_compress_bound = lib.kvc_compress_bound
kvc_compress_bound.argtypes = [POINTER(kvc_compress_params), POINTER(kvc_cache_shape)]
kvc_compress_bound.restype = c_size_t

# kvc_status kvc_compress(kvc_context* ctx, const kvc_compress_params* params,
#                         const kvc_cache_shape* shape, const void* keys, size_t keys_size,
#                         const void* values, size_t values_size, void* dst,
#                         size_t dst_capacity, size_t* out_size, kvc_metrics* out_metrics);
kvc_compress = lib.kvc_compress
kvc_compress.argtypes = [POINTER(kvc_context), POINTER(kvc_compress_params),
                         POINTER(kvc_cache_shape), c_void_p, c_size_t, c_void_p, c_size_t,
                         c_void_p, c_size_t, POINTER(c_size_t), POINTER(kvc_metrics)]
kvc_compress.restype = kvc_status

# kvc_status kvc_compress_layers(kvc_context* ctx, const kvc_compress_params* params,
#                                const kvc_cache_shape* shape, uint32_t num_layer_pointers,
#                                const void* const* key_layers,
#                                const size_t* key_layer_sizes,
#                                const void* const* value_layers,
#                                const size_t* value_layer_sizes, void* dst,
#                                size_t dst_capacity, size_t* out_size,
#                                kvc_metrics* out_metrics);
kvc_compress_layers = lib.kvc_compress_layers
kvc_compress_layers.argtypes = [POINTER(kvc_context), POINTER(kvc_compress_params),
                                POINTER(kvc_cache_shape), c_uint32, POINTER(c_void_p),
                                POINTER(c_size_t), POINTER(c_void_p), POINTER(c_size_t),
                                c_void_p, c_size_t, POINTER(c_size_t), POINTER(kvc_metrics)]
kvc_compress_layers.restype = kvc_status

# kvc_status kvc_compress_with_queries(kvc_context* ctx, const kvc_compress_params* params,
#                                      const kvc_cache_shape* shape, const void* keys,
#                                      size_t keys_size, const void* values,
#                                      size_t values_size, const kvc_query_shape* query_shape,
#                                      const void* queries, size_t queries_size, void* dst,
#                                      size_t dst_capacity, size_t* out_size,
#                                      kvc_metrics* out_metrics);
kvc_compress_with_queries = lib.kvc_compress_with_queries
kvc_compress_with_queries.argtypes = [POINTER(kvc_context), POINTER(kvc_compress_params),
                                      POINTER(kvc_cache_shape), c_void_p, c_size_t, c_void_p,
                                      c_size_t, POINTER(kvc_query_shape), c_void_p, c_size_t,
                                      c_void_p, c_size_t, POINTER(c_size_t), POINTER(kvc_metrics)]
kvc_compress_with_queries.restype = kvc_status

# ---- Inspect, verify, decompress -----------------------------------------------------------


class kvc_blob_info(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("format_major", c_uint32),
        ("format_minor", c_uint32),
        ("num_layers", c_uint32),
        ("num_kv_heads", c_uint32),
        ("num_tokens", c_uint32),
        ("head_dim", c_uint32),
        ("dtype", kvc_dtype),
        ("key_bits", c_int32),
        ("value_bits", c_int32),
        ("group_size", c_int32),
        ("recent_full_precision_tokens", c_int32),
        ("zstd_level", c_int32),
        ("byte_shuffle", c_int32),
        ("num_chunks", c_uint32),
        ("reserved", c_uint32),
        ("original_bytes", c_uint64),
        ("blob_bytes", c_uint64),
        ("producer", c_char * 64),
        ("model_name", c_char * 64),
        ("selection", c_int32),
        ("per_head", c_int32),
        ("tokens_kept", c_uint64),
        ("max_layer_tokens", c_uint32),
        ("reserved2", c_uint32),
    ]


# kvc_status kvc_inspect(kvc_context* ctx, const void* src, size_t src_size,
#                        kvc_blob_info* out_info);
kvc_inspect = lib.kvc_inspect
kvc_inspect.argtypes = [POINTER(kvc_context), c_void_p, c_size_t, POINTER(kvc_blob_info)]
kvc_inspect.restype = kvc_status

# kvc_status kvc_verify(kvc_context* ctx, const void* src, size_t src_size);
kvc_verify = lib.kvc_verify
kvc_verify.argtypes = [POINTER(kvc_context), c_void_p, c_size_t]
kvc_verify.restype = kvc_status


class kvc_decompress_params(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("dtype", kvc_dtype),
        ("first_layer", c_uint32),
        ("num_layers", c_uint32),
        ("scatter", c_int32),
    ]


# kvc_status kvc_decompress_params_default(kvc_decompress_params* params,
#                                          uint32_t struct_size);
kvc_decompress_params_default = lib.kvc_decompress_params_default
kvc_decompress_params_default.argtypes = [POINTER(kvc_decompress_params), c_uint32]
kvc_decompress_params_default.restype = kvc_status

# kvc_status kvc_decompress(kvc_context* ctx, const kvc_decompress_params* params,
#                           const void* src, size_t src_size, void* keys, void* values,
#                           size_t tensor_capacity, size_t* out_tensor_bytes);
kvc_decompress = lib.kvc_decompress
kvc_decompress.argtypes = [POINTER(kvc_context), POINTER(kvc_decompress_params), c_void_p,
                           c_size_t, c_void_p, c_void_p, c_size_t, POINTER(c_size_t)]
kvc_decompress.restype = kvc_status

# kvc_status kvc_decompress_positions(kvc_context* ctx, const kvc_decompress_params* params,
#                                     const void* src, size_t src_size,
#                                     uint32_t* out_layer_counts,
#                                     size_t layer_counts_capacity, uint32_t* out_positions,
#                                     size_t positions_capacity, size_t* out_positions_count);
kvc_decompress_positions = lib.kvc_decompress_positions
kvc_decompress_positions.argtypes = [POINTER(kvc_context), POINTER(kvc_decompress_params),
                                     c_void_p, c_size_t, c_void_p, c_size_t, c_void_p, c_size_t,
                                     POINTER(c_size_t)]
kvc_decompress_positions.restype = kvc_status

# kvc_status kvc_decompress_mask(kvc_context* ctx, const kvc_decompress_params* params,
#                                const void* src, size_t src_size, uint8_t* out_mask,
#                                size_t mask_capacity, size_t* out_mask_size);
kvc_decompress_mask = lib.kvc_decompress_mask
kvc_decompress_mask.argtypes = [POINTER(kvc_context), POINTER(kvc_decompress_params), c_void_p,
                                c_size_t, c_void_p, c_size_t, POINTER(c_size_t)]
kvc_decompress_mask.restype = kvc_status

# ==== kvc/kvc_tools.h ========================================================================


class kvc_adapter(Structure):
    """Opaque (the Adapters section below); declared here as kvc_tools.h does."""


# ---- Estimate, validate, benchmark ---------------------------------------------------------


class kvc_estimate_result(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("exact_tokens", c_int32),
        ("original_bytes", c_uint64),
        ("compressed_bytes", c_uint64),
        ("compression_ratio", c_double),
        ("bandwidth_savings_percent", c_double),
        ("bits_per_element", c_double),
        ("tokens_total", c_uint64),
        ("tokens_kept", c_uint64),
    ]


# kvc_status kvc_estimate(kvc_context* ctx, const kvc_compress_params* params,
#                         const kvc_cache_shape* shape, kvc_estimate_result* out_estimate);
kvc_estimate = lib.kvc_estimate
kvc_estimate.argtypes = [POINTER(kvc_context), POINTER(kvc_compress_params),
                         POINTER(kvc_cache_shape), POINTER(kvc_estimate_result)]
kvc_estimate.restype = kvc_status


class kvc_validate_params(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("min_cosine", c_float),
        ("min_snr_db", c_float),
        ("min_attention_coverage", c_float),
        ("max_attention_error", c_float),
        ("top_k", c_uint32),
    ]


# kvc_status kvc_validate_params_default(kvc_validate_params* params, uint32_t struct_size);
kvc_validate_params_default = lib.kvc_validate_params_default
kvc_validate_params_default.argtypes = [POINTER(kvc_validate_params), c_uint32]
kvc_validate_params_default.restype = kvc_status

KVC_VIOLATION_ATTENTION_COVERAGE = 32
KVC_VIOLATION_ATTENTION_ERROR = 64

KVC_WARNING_NO_QUERIES = 1
KVC_WARNING_MANY_EVICTED = 2
KVC_WARNING_SHAPE_FROM_INPUT = 4
KVC_WARNING_QUALITY_TO_SPARE = 8

KVC_RECOMMEND_MORE_KEY_BITS = 1
KVC_RECOMMEND_MORE_VALUE_BITS = 2
KVC_RECOMMEND_SMALLER_GROUPS = 4
KVC_RECOMMEND_MORE_RECENT_TOKENS = 8
KVC_RECOMMEND_HIGHER_THRESHOLD = 16
KVC_RECOMMEND_MORE_SINK_TOKENS = 32
KVC_RECOMMEND_FEWER_BITS = 64
KVC_RECOMMEND_LOWER_THRESHOLD = 128


class kvc_validation(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("level", c_int32),
        ("passed", c_int32),
        ("violations", c_uint32),
        ("warnings", c_uint32),
        ("recommendations", c_uint32),
        ("key_rmse", c_double),
        ("key_snr_db", c_double),
        ("key_cosine", c_double),
        ("key_max_error", c_double),
        ("value_rmse", c_double),
        ("value_snr_db", c_double),
        ("value_cosine", c_double),
        ("value_max_error", c_double),
        ("rmse", c_double),
        ("snr_db", c_double),
        ("cosine", c_double),
        ("max_error", c_double),
        ("attention_coverage", c_double),
        ("attention_output_error", c_double),
        ("attention_kl", c_double),
        ("topk_overlap", c_double),
        ("information_loss", c_double),
        ("tokens_total", c_uint64),
        ("tokens_kept", c_uint64),
        ("report", c_char * 1024),
    ]


# kvc_status kvc_validate(kvc_context* ctx, const kvc_validate_params* params,
#                         const kvc_adapter* adapter, const kvc_cache_shape* shape,
#                         const void* keys, size_t keys_size, const void* values,
#                         size_t values_size, const kvc_query_shape* query_shape,
#                         const void* queries, size_t queries_size, const void* blob,
#                         size_t blob_size, kvc_validation* out_validation);
kvc_validate = lib.kvc_validate
kvc_validate.argtypes = [POINTER(kvc_context), POINTER(kvc_validate_params),
                         POINTER(kvc_adapter), POINTER(kvc_cache_shape), c_void_p, c_size_t,
                         c_void_p, c_size_t, POINTER(kvc_query_shape), c_void_p, c_size_t,
                         c_void_p, c_size_t, POINTER(kvc_validation)]
kvc_validate.restype = kvc_status


class kvc_benchmark_result(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("iterations", c_uint32),
        ("compress_ms_median", c_double),
        ("compress_ms_p99", c_double),
        ("decompress_ms_median", c_double),
        ("decompress_ms_p99", c_double),
        ("compress_gb_per_s", c_double),
        ("decompress_gb_per_s", c_double),
        ("compression_ratio", c_double),
        ("bandwidth_savings_percent", c_double),
        ("bits_per_element", c_double),
        ("original_bytes", c_uint64),
        ("compressed_bytes", c_uint64),
        ("tokens_total", c_uint64),
        ("tokens_kept", c_uint64),
        ("quality_passed", c_int32),
        ("quality_level", c_int32),
    ]


# kvc_status kvc_benchmark(kvc_context* ctx, const kvc_compress_params* params,
#                          const kvc_cache_shape* shape, const void* keys, size_t keys_size,
#                          const void* values, size_t values_size,
#                          const kvc_query_shape* query_shape, const void* queries,
#                          size_t queries_size, uint32_t iterations,
#                          kvc_benchmark_result* out_result);
kvc_benchmark = lib.kvc_benchmark
kvc_benchmark.argtypes = [POINTER(kvc_context), POINTER(kvc_compress_params),
                          POINTER(kvc_cache_shape), c_void_p, c_size_t, c_void_p, c_size_t,
                          POINTER(kvc_query_shape), c_void_p, c_size_t, c_uint32,
                          POINTER(kvc_benchmark_result)]
kvc_benchmark.restype = kvc_status

# ---- Statistics ----------------------------------------------------------------------------


class kvc_stats(Structure):
    """Opaque."""


class kvc_model_stats(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("reserved", c_uint32),
        ("model_name", c_char * 64),
        ("compress_calls", c_uint64),
        ("decompress_calls", c_uint64),
        ("original_bytes", c_uint64),
        ("compressed_bytes", c_uint64),
        ("tokens_total", c_uint64),
        ("tokens_kept", c_uint64),
        ("coverage_samples", c_uint64),
        ("total_compress_ms", c_double),
        ("mean_compress_ms", c_double),
        ("total_decompress_ms", c_double),
        ("mean_decompress_ms", c_double),
        ("compression_ratio", c_double),
        ("mean_savings_percent", c_double),
        ("mean_attention_coverage", c_double),
    ]


# kvc_status kvc_stats_create(kvc_stats** out_stats);
kvc_stats_create = lib.kvc_stats_create
kvc_stats_create.argtypes = [POINTER(POINTER(kvc_stats))]
kvc_stats_create.restype = kvc_status

# void kvc_stats_free(kvc_stats* stats);
kvc_stats_free = lib.kvc_stats_free
kvc_stats_free.argtypes = [POINTER(kvc_stats)]
kvc_stats_free.restype = None

# kvc_status kvc_context_set_stats(kvc_context* ctx, kvc_stats* stats);
kvc_context_set_stats = lib.kvc_context_set_stats
kvc_context_set_stats.argtypes = [POINTER(kvc_context), POINTER(kvc_stats)]
kvc_context_set_stats.restype = kvc_status

# kvc_status kvc_stats_record(kvc_stats* stats, const char* model_name,
#                             const kvc_metrics* metrics);
kvc_stats_record = lib.kvc_stats_record
kvc_stats_record.argtypes = [POINTER(kvc_stats), c_char_p, POINTER(kvc_metrics)]
kvc_stats_record.restype = kvc_status

# uint32_t kvc_stats_model_count(const kvc_stats* stats);
kvc_stats_model_count = lib.kvc_stats_model_count
kvc_stats_model_count.argtypes = [POINTER(kvc_stats)]
kvc_stats_model_count.restype = c_uint32

# kvc_status kvc_stats_get(const kvc_stats* stats, const char* model_name,
#                          kvc_model_stats* out_model_stats);
kvc_stats_get = lib.kvc_stats_get
kvc_stats_get.argtypes = [POINTER(kvc_stats), c_char_p, POINTER(kvc_model_stats)]
kvc_stats_get.restype = kvc_status

# kvc_status kvc_stats_get_index(const kvc_stats* stats, uint32_t index,
#                                kvc_model_stats* out_model_stats);
kvc_stats_get_index = lib.kvc_stats_get_index
kvc_stats_get_index.argtypes = [POINTER(kvc_stats), c_uint32, POINTER(kvc_model_stats)]
kvc_stats_get_index.restype = kvc_status

# kvc_status kvc_stats_reset(kvc_stats* stats, const char* model_name);
kvc_stats_reset = lib.kvc_stats_reset
kvc_stats_reset.argtypes = [POINTER(kvc_stats), c_char_p]
kvc_stats_reset.restype = kvc_status

# ---- Quality -------------------------------------------------------------------------------
KVC_QUALITY_POOR = 0
KVC_QUALITY_ACCEPTABLE = 1
KVC_QUALITY_GOOD = 2
KVC_QUALITY_EXCELLENT = 3

KVC_VIOLATION_KEY_COSINE = 1
KVC_VIOLATION_VALUE_COSINE = 2
KVC_VIOLATION_KEY_SNR = 4
KVC_VIOLATION_VALUE_SNR = 8
KVC_VIOLATION_NON_FINITE = 16


class kvc_quality_thresholds(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("min_cosine", c_float),
        ("min_snr_db", c_float),
    ]


# kvc_status kvc_quality_thresholds_default(kvc_quality_thresholds* thresholds,
#                                           uint32_t struct_size);
kvc_quality_thresholds_default = lib.kvc_quality_thresholds_default
kvc_quality_thresholds_default.argtypes = [POINTER(kvc_quality_thresholds), c_uint32]
kvc_quality_thresholds_default.restype = kvc_status


class kvc_quality(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("level", c_int32),
        ("passed", c_int32),
        ("violations", c_uint32),
        ("key_rmse", c_double),
        ("key_snr_db", c_double),
        ("key_cosine", c_double),
        ("key_max_error", c_double),
        ("value_rmse", c_double),
        ("value_snr_db", c_double),
        ("value_cosine", c_double),
        ("value_max_error", c_double),
        ("rmse", c_double),
        ("snr_db", c_double),
        ("cosine", c_double),
        ("max_error", c_double),
    ]


# const char* kvc_quality_level_name(int32_t level);
kvc_quality_level_name = lib.kvc_quality_level_name
kvc_quality_level_name.argtypes = [c_int32]
kvc_quality_level_name.restype = c_char_p

# kvc_status kvc_quality_compare(kvc_context* ctx, const kvc_quality_thresholds* thresholds,
#                                const kvc_cache_shape* shape_a, const void* keys_a,
#                                size_t keys_a_size, const void* values_a,
#                                size_t values_a_size, const kvc_cache_shape* shape_b,
#                                const void* keys_b, size_t keys_b_size,
#                                const void* values_b, size_t values_b_size,
#                                kvc_quality* out_quality);
kvc_quality_compare = lib.kvc_quality_compare
kvc_quality_compare.argtypes = [POINTER(kvc_context), POINTER(kvc_quality_thresholds),
                                POINTER(kvc_cache_shape), c_void_p, c_size_t, c_void_p, c_size_t,
                                POINTER(kvc_cache_shape), c_void_p, c_size_t, c_void_p, c_size_t,
                                POINTER(kvc_quality)]
kvc_quality_compare.restype = kvc_status

# ---- Cache files ---------------------------------------------------------------------------


class kvc_cache(Structure):
    """Opaque."""


# kvc_status kvc_cache_load(kvc_context* ctx, const char* path, kvc_cache** out_cache);
kvc_cache_load = lib.kvc_cache_load
kvc_cache_load.argtypes = [POINTER(kvc_context), c_char_p, POINTER(POINTER(kvc_cache))]
kvc_cache_load.restype = kvc_status

# void kvc_cache_free(kvc_cache* cache);
kvc_cache_free = lib.kvc_cache_free
kvc_cache_free.argtypes = [POINTER(kvc_cache)]
kvc_cache_free.restype = None

# kvc_status kvc_cache_get_shape(const kvc_cache* cache, kvc_cache_shape* out_shape);
kvc_cache_get_shape = lib.kvc_cache_get_shape
kvc_cache_get_shape.argtypes = [POINTER(kvc_cache), POINTER(kvc_cache_shape)]
kvc_cache_get_shape.restype = kvc_status

# const void* kvc_cache_keys(const kvc_cache* cache);
kvc_cache_keys = lib.kvc_cache_keys
kvc_cache_keys.argtypes = [POINTER(kvc_cache)]
kvc_cache_keys.restype = c_void_p

# const void* kvc_cache_values(const kvc_cache* cache);
kvc_cache_values = lib.kvc_cache_values
kvc_cache_values.argtypes = [POINTER(kvc_cache)]
kvc_cache_values.restype = c_void_p

# const char* kvc_cache_model_name(const kvc_cache* cache);
kvc_cache_model_name = lib.kvc_cache_model_name
kvc_cache_model_name.argtypes = [POINTER(kvc_cache)]
kvc_cache_model_name.restype = c_char_p

# kvc_status kvc_cache_save(kvc_context* ctx, const char* path, const kvc_cache_shape* shape,
#                           const void* keys, size_t keys_size, const void* values,
#                           size_t values_size, const char* model_name);
kvc_cache_save = lib.kvc_cache_save
kvc_cache_save.argtypes = [POINTER(kvc_context), c_char_p, POINTER(kvc_cache_shape), c_void_p,
                           c_size_t, c_void_p, c_size_t, c_char_p]
kvc_cache_save.restype = kvc_status


class kvc_query_file(Structure):
    """Opaque."""


# kvc_status kvc_query_file_load(kvc_context* ctx, const char* path, kvc_query_file** out_file);
kvc_query_file_load = lib.kvc_query_file_load
kvc_query_file_load.argtypes = [POINTER(kvc_context), c_char_p, POINTER(POINTER(kvc_query_file))]
kvc_query_file_load.restype = kvc_status

# void kvc_query_file_free(kvc_query_file* file);
kvc_query_file_free = lib.kvc_query_file_free
kvc_query_file_free.argtypes = [POINTER(kvc_query_file)]
kvc_query_file_free.restype = None

# kvc_status kvc_query_file_get_shape(const kvc_query_file* file, kvc_query_shape* out_shape,
#                                     uint32_t* out_num_layers);
kvc_query_file_get_shape = lib.kvc_query_file_get_shape
kvc_query_file_get_shape.argtypes = [POINTER(kvc_query_file), POINTER(kvc_query_shape),
                                     POINTER(c_uint32)]
kvc_query_file_get_shape.restype = kvc_status

# const void* kvc_query_file_data(const kvc_query_file* file);
kvc_query_file_data = lib.kvc_query_file_data
kvc_query_file_data.argtypes = [POINTER(kvc_query_file)]
kvc_query_file_data.restype = c_void_p

# ---- Adapters ------------------------------------------------------------------------------


KVC_ATTENTION_CAUSAL = 0
KVC_ATTENTION_BIDIRECTIONAL = 1
KVC_ATTENTION_SLIDING_WINDOW = 2
KVC_ATTENTION_SPARSE = 3
KVC_ATTENTION_LATENT = 4


class kvc_adapter_info(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("attention_type", c_int32),
        ("window_tokens", c_int32),
        ("num_layers", c_int32),
        ("num_query_heads", c_int32),
        ("num_kv_heads", c_int32),
        ("head_dim", c_int32),
        ("context_tokens", c_int32),
        ("latent_dim", c_int32),
        ("rope_key_dim", c_int32),
        ("rope_theta", c_float),
        ("attention_threshold", c_float),
        ("sink_tokens", c_int32),
        ("recent_tokens", c_int32),
        ("key_bits", c_int32),
        ("value_bits", c_int32),
        ("group_size", c_int32),
        ("may_compress_keys", c_int32),
        ("is_builtin", c_int32),
        ("name", c_char * 64),
        ("family", c_char * 32),
        ("source", c_char * 128),
    ]


# uint32_t kvc_adapter_count(void);
kvc_adapter_count = lib.kvc_adapter_count
kvc_adapter_count.argtypes = []
kvc_adapter_count.restype = c_uint32

# kvc_status kvc_adapter_get(uint32_t index, const kvc_adapter** out_adapter);
kvc_adapter_get = lib.kvc_adapter_get
kvc_adapter_get.argtypes = [c_uint32, POINTER(POINTER(kvc_adapter))]
kvc_adapter_get.restype = kvc_status

# kvc_status kvc_adapter_find(const char* name, const kvc_adapter** out_adapter);
kvc_adapter_find = lib.kvc_adapter_find
kvc_adapter_find.argtypes = [c_char_p, POINTER(POINTER(kvc_adapter))]
kvc_adapter_find.restype = kvc_status

# kvc_status kvc_adapter_from_hf_config(kvc_context* ctx, const char* json_text,
#                                       size_t json_size, kvc_adapter** out_adapter);
kvc_adapter_from_hf_config = lib.kvc_adapter_from_hf_config
kvc_adapter_from_hf_config.argtypes = [POINTER(kvc_context), c_char_p, c_size_t,
                                       POINTER(POINTER(kvc_adapter))]
kvc_adapter_from_hf_config.restype = kvc_status

# kvc_status kvc_adapter_from_gguf(kvc_context* ctx, const char* path, kvc_adapter** out_adapter);
kvc_adapter_from_gguf = lib.kvc_adapter_from_gguf
kvc_adapter_from_gguf.argtypes = [POINTER(kvc_context), c_char_p, POINTER(POINTER(kvc_adapter))]
kvc_adapter_from_gguf.restype = kvc_status

# void kvc_adapter_free(const kvc_adapter* adapter);
kvc_adapter_free = lib.kvc_adapter_free
kvc_adapter_free.argtypes = [POINTER(kvc_adapter)]
kvc_adapter_free.restype = None

# kvc_status kvc_adapter_get_info(const kvc_adapter* adapter, kvc_adapter_info* out_info);
kvc_adapter_get_info = lib.kvc_adapter_get_info
kvc_adapter_get_info.argtypes = [POINTER(kvc_adapter), POINTER(kvc_adapter_info)]
kvc_adapter_get_info.restype = kvc_status

# const char* kvc_attention_type_name(int32_t attention_type);
kvc_attention_type_name = lib.kvc_attention_type_name
kvc_attention_type_name.argtypes = [c_int32]
kvc_attention_type_name.restype = c_char_p

# kvc_status kvc_adapter_cache_shape(const kvc_adapter* adapter, uint32_t num_tokens,
#                                    kvc_dtype dtype, kvc_cache_shape* out_shape);
kvc_adapter_cache_shape = lib.kvc_adapter_cache_shape
kvc_adapter_cache_shape.argtypes = [POINTER(kvc_adapter), c_uint32, kvc_dtype,
                                    POINTER(kvc_cache_shape)]
kvc_adapter_cache_shape.restype = kvc_status

# kvc_status kvc_adapter_compress_params(const kvc_adapter* adapter,
#                                        kvc_compress_params* params);
kvc_adapter_compress_params = lib.kvc_adapter_compress_params
kvc_adapter_compress_params.argtypes = [POINTER(kvc_adapter), POINTER(kvc_compress_params)]
kvc_adapter_compress_params.restype = kvc_status
