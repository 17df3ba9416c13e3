# test_safety.py: hostile input never reads out of bounds: every buffer goes to the library with
# its byte size (API 0.2), so queries with too few layers and arrays smaller than their shape are
# KVC_ERR_INVALID_ARGUMENT; a Context's failures carry the C reason, decoded even where they are
# not UTF-8.
import ctypes
import os

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import kvc
from kvc import _ffi


def scene(layers=4, heads=2, q_heads=4, tokens=64, dim=16, n=4, seed=5):
    rng = np.random.default_rng(seed)
    keys = rng.standard_normal((layers, heads, tokens, dim)).astype(np.float32)
    values = rng.standard_normal((layers, heads, tokens, dim)).astype(np.float32)
    queries = rng.standard_normal((layers, q_heads, n, dim)).astype(np.float32)
    return keys, values, queries


def assert_invalid(excinfo, *words):
    assert excinfo.value.status == _ffi.KVC_ERR_INVALID_ARGUMENT, excinfo.value
    for word in words:
        assert word in excinfo.value.message, (word, excinfo.value.message)


# ---- Queries with fewer layers than the cache (0.1: validate crashed, compress read past) ----


def test_validate_with_queries_of_fewer_layers_is_invalid_argument():
    keys, values, queries = scene()
    blob = kvc.compress(keys, values, kvc.CompressParams(key_bits=8, value_bits=8))
    with pytest.raises(kvc.KvcError) as e:
        kvc.validate(keys, values, blob, queries=queries[:1])
    assert_invalid(e, "queries_size")
    assert kvc.validate(keys, values, blob, queries=queries).attention_coverage >= 0


@pytest.mark.parametrize("selection", ["attention", "none"])
def test_compress_with_queries_of_fewer_layers_is_invalid_argument(selection):
    keys, values, queries = scene()
    params = kvc.CompressParams(selection=selection, attention_threshold=0.9)
    for short in (queries[:3], queries[:1]):
        with pytest.raises(kvc.KvcError) as e:
            kvc.compress(keys, values, params, queries=short)
        assert_invalid(e, "queries_size")
    kvc.compress(keys, values, params, queries=queries)


def test_benchmark_with_queries_of_fewer_layers_is_invalid_argument():
    keys, values, queries = scene()
    with pytest.raises(kvc.KvcError) as e:
        kvc.benchmark(keys, values, iterations=1, queries=queries[:2])
    assert_invalid(e, "queries_size")


# ---- Arrays smaller than their shape --------------------------------------------------------


def test_a_view_that_reaches_past_its_buffer_is_invalid_argument():
    small = np.zeros(64, np.float32)  # 256 bytes seen as a [2, 2, 64, 16] cache
    keys = as_strided(small, shape=(2, 2, 64, 16), strides=(8192, 4096, 64, 4))
    ok = np.zeros((2, 2, 64, 16), np.float32)
    for call in (lambda: kvc.compress(keys, ok), lambda: kvc.compress(ok, keys),
                 lambda: kvc.compress([keys[0], keys[1]], [ok[0], ok[1]]),
                 lambda: kvc.quality(ok, ok, keys, ok),
                 lambda: kvc.benchmark(ok, keys, iterations=1)):
        with pytest.raises(kvc.KvcError) as e:
            call()
        assert_invalid(e, "256", "smaller than")


def test_save_cache_of_a_view_past_its_buffer_is_invalid_argument(tmp_path):
    small = np.zeros(16, np.float16)
    keys = as_strided(small, shape=(1, 1, 32, 8), strides=(512, 512, 16, 2))
    with pytest.raises(kvc.KvcError) as e:
        kvc.save_cache(tmp_path / "c.safetensors", keys, keys)
    assert_invalid(e, "smaller than")
    assert not (tmp_path / "c.safetensors").exists()


def test_a_view_of_part_of_a_buffer_passes_what_it_may_read():
    keys, values, _ = scene()
    params = kvc.CompressParams(key_bits=8, value_bits=8)
    # Every other layer, and the first tokens: strided views inside their arrays.
    for k, v in ((keys[::2], values[::2]), (keys[:, :, :40], values[:, :, :40]),
                 (keys[1:], values[1:]), (keys[-1:], values[-1:])):
        assert kvc.compress(k, v, params) == kvc.compress(np.ascontiguousarray(k),
                                                          np.ascontiguousarray(v), params)
    # Over memory a bytes object owns.
    raw = keys.tobytes()
    k = np.frombuffer(raw, np.float32).reshape(keys.shape)
    assert kvc.compress(k, values, params) == kvc.compress(keys, values, params)


def test_torch_views_pass_their_storage_bound():
    """torch keeps a view inside its storage (as_strided and set_ check or grow it): the size
    passed is the view's span, cut at the storage's end."""
    torch = pytest.importorskip("torch")
    keys, values, _ = scene()
    params = kvc.CompressParams(key_bits=8, value_bits=8)
    k, v = torch.from_numpy(keys), torch.from_numpy(values)
    for sub in ((slice(None), slice(None), slice(8, None)), (slice(1, None),),
                (slice(None, None, 2),)):
        assert kvc.compress(k[sub], v[sub], params) == kvc.compress(
            np.ascontiguousarray(keys[sub]), np.ascontiguousarray(values[sub]), params)


def test_raw_calls_take_every_buffer_size():
    """_ffi passes the sizes the C prototypes name; a size under the extent is refused before
    the library reads anything."""
    keys, values, queries = scene(layers=2)
    s = _ffi.kvc_cache_shape()
    assert _ffi.kvc_cache_shape_default(ctypes.byref(s), ctypes.sizeof(s)) == _ffi.KVC_OK
    s.num_layers, s.num_kv_heads, s.num_tokens, s.head_dim = keys.shape
    s.dtype = _ffi.KVC_DTYPE_F32
    tensor, layer = ctypes.c_size_t(), ctypes.c_size_t()
    assert _ffi.kvc_cache_shape_extent(ctypes.byref(s), ctypes.byref(tensor),
                                       ctypes.byref(layer)) == _ffi.KVC_OK
    assert (tensor.value, layer.value) == (keys.nbytes, keys[0].nbytes)
    q = _ffi.kvc_query_shape()
    assert _ffi.kvc_query_shape_default(ctypes.byref(q), ctypes.sizeof(q)) == _ffi.KVC_OK
    q.num_query_heads, q.num_queries, q.head_dim = queries.shape[1:]
    q.dtype, q.per_layer = _ffi.KVC_DTYPE_F32, 1
    qbytes = ctypes.c_size_t()
    assert _ffi.kvc_query_shape_extent(ctypes.byref(q), 2, ctypes.byref(qbytes)) == _ffi.KVC_OK
    assert qbytes.value == queries.nbytes
    with kvc.Context() as ctx:
        out = ctypes.create_string_buffer(1 << 20)
        n = ctypes.c_size_t()
        st = _ffi.kvc_compress(ctx._ptr, None, ctypes.byref(s), keys.ctypes.data, 16,
                               values.ctypes.data, values.nbytes, out, len(out),
                               ctypes.byref(n), None)
        assert st == _ffi.KVC_ERR_INVALID_ARGUMENT
        message = _ffi.kvc_context_last_error(ctx._ptr).decode()
        assert "16" in message and str(keys.nbytes) in message, message
        st = _ffi.kvc_compress_with_queries(
            ctx._ptr, None, ctypes.byref(s), keys.ctypes.data, keys.nbytes, values.ctypes.data,
            values.nbytes, ctypes.byref(q), queries.ctypes.data, queries.nbytes - 1, out,
            len(out), ctypes.byref(n), None)
        assert st == _ffi.KVC_ERR_INVALID_ARGUMENT
        assert _ffi.kvc_compress(ctx._ptr, None, ctypes.byref(s), keys.ctypes.data, keys.nbytes,
                                 values.ctypes.data, values.nbytes, out, len(out),
                                 ctypes.byref(n), None) == _ffi.KVC_OK
        blob = out.raw[:n.value]
        # kvc_decompress_positions: the layer counts have a capacity too.
        counts = (ctypes.c_uint32 * 1)()
        assert _ffi.kvc_decompress_positions(ctx._ptr, None, blob, len(blob), counts, 1, None, 0,
                                             ctypes.byref(n)) == _ffi.KVC_ERR_INVALID_ARGUMENT
        counts = (ctypes.c_uint32 * 2)()
        assert _ffi.kvc_decompress_positions(ctx._ptr, None, blob, len(blob), counts, 2, None, 0,
                                             ctypes.byref(n)) == _ffi.KVC_OK
        assert list(counts) == [keys.shape[2]] * 2


# ---- Context creation -----------------------------------------------------------------------


def test_context_creation_failure_carries_the_c_reason():
    with pytest.raises(kvc.KvcError) as e:
        kvc.Context(device_index=1)
    assert_invalid(e, "device_index 1")
    with pytest.raises(kvc.KvcError) as e:
        kvc.Context(device=7)
    assert_invalid(e, "device 7")


# ---- C strings that are not UTF-8 (0.1: UnicodeDecodeError escaped) ---------------------------


def test_an_error_message_with_non_utf8_bytes_is_a_kvc_error(tmp_path):
    path = os.path.join(os.fsencode(tmp_path), b"\xff\xfe-missing.safetensors")
    for call in (kvc.load_cache, kvc.load_queries, kvc.adapter_from_gguf):
        with pytest.raises(kvc.KvcError) as e:
            call(path)
        assert e.value.status == _ffi.KVC_ERR_IO
        assert "\ufffd\ufffd-missing.safetensors" in e.value.message, e.value.message
        str(e.value)


def test_a_model_name_with_non_utf8_bytes_reads_back_replaced():
    keys, values, _ = scene(layers=1)
    params = kvc.CompressParams(key_bits=8, value_bits=8, model_name=b"\xffmodel\xfe")
    assert params.model_name == "\ufffdmodel\ufffd"
    blob = kvc.compress(keys, values, params)
    assert kvc.inspect(blob).model_name == "\ufffdmodel\ufffd"
    with kvc.Stats() as stats, kvc.Context() as ctx:
        ctx.set_stats(stats)
        ctx.compress(keys, values, params)
        ctx.set_stats(None)
        assert [m.model_name for m in stats.models()] == ["\ufffdmodel\ufffd"]
