# test_api.py: the binding's surface: version, params defaults, contexts, errors, progress.
import numpy as np
import pytest

import kvc
from kvc import _ffi


def test_package_version_equals_the_library_version():
    assert kvc.__version__ == kvc.version() == _ffi.kvc_version_string().decode()
    assert _ffi.kvc_version_number() == _ffi.KVC_VERSION_NUMBER


def test_device_count_knows_cpu_and_cuda():
    assert kvc.device_count("cpu") == 1
    assert kvc.device_count("cuda") >= 0
    assert kvc.device_count(_ffi.KVC_DEVICE_CPU) == 1
    with pytest.raises(ValueError, match="gpu"):
        kvc.device_count("gpu")


def test_compress_params_defaults_come_from_the_library():
    c = _ffi.kvc_compress_params()
    assert _ffi.kvc_compress_params_default(c, 0) != _ffi.KVC_OK  # struct_size 0 is refused
    assert _ffi.kvc_compress_params_default(c, _ffi.ctypes.sizeof(c)) == _ffi.KVC_OK
    p = kvc.CompressParams()
    assert p.key_bits == c.key_bits and p.group_size == c.group_size and p.model_name == ""
    q = kvc.CompressParams(key_bits=8, model_name="m")
    assert q.key_bits == 8 and q.value_bits == c.value_bits and q.model_name == "m"
    assert q != p and kvc.CompressParams() == p
    with pytest.raises(AttributeError):
        kvc.CompressParams(bits=4)
    with pytest.raises(OverflowError, match="key_bits"):
        kvc.CompressParams(key_bits=2**32 + 4)  # would wrap to 4 in a C int32_t


def test_context_manager_closes_the_context(stories):
    keys, values, _ = stories
    with kvc.Context() as ctx:
        blob = ctx.compress(keys, values)
        assert ctx.inspect(blob).num_layers == keys.shape[0]
        assert not ctx.closed
    assert ctx.closed
    with pytest.raises(kvc.KvcError, match="closed") as e:
        ctx.compress(keys, values)
    assert isinstance(e.value, ValueError)  # as before 0.2
    ctx.close()  # closing twice does nothing
    other = kvc.Context()
    other.close()
    assert other.closed


def test_module_calls_accept_a_context(stories):
    keys, values, _ = stories
    with kvc.Context() as ctx:
        blob = kvc.compress(keys, values, ctx=ctx)
        assert kvc.decompress(blob, ctx=ctx)[0].shape == keys.shape


def test_a_cuda_context_without_a_gpu_is_a_device_error():
    if kvc.device_count("cuda") > 0:
        pytest.skip("a GPU is present: a CUDA context would succeed")
    with pytest.raises(kvc.KvcError) as e:
        kvc.Context(device="cuda")
    assert e.value.status == _ffi.KVC_ERR_DEVICE and "CUDA" in e.value.message  # the C reason


def test_progress_reports_chunks(stories):
    keys, values, _ = stories
    calls = []
    with kvc.Context() as ctx:
        ctx.set_progress(lambda done, total: calls.append((done, total)))
        ctx.compress(keys, values)
        ctx.set_progress(None)
        n = len(calls)
        ctx.compress(keys, values)
    assert calls and calls[-1][0] == calls[-1][1] and len(calls) == n


def test_bad_bits_raise_invalid_argument_naming_the_value(stories):
    keys, values, _ = stories
    with pytest.raises(kvc.KvcError) as e:
        kvc.compress(keys, values, kvc.CompressParams(key_bits=5))
    err = e.value
    assert err.status == _ffi.KVC_ERR_INVALID_ARGUMENT
    assert err.status_name == "KVC_ERR_INVALID_ARGUMENT"
    assert "key_bits 5" in err.message and "key_bits 5" in str(err)


def test_a_corrupt_blob_raises_corrupt_data(stories):
    keys, values, _ = stories
    blob = bytearray(kvc.compress(keys, values))
    blob[len(blob) // 2] ^= 0xFF
    for call in (kvc.verify, kvc.decompress):
        with pytest.raises(kvc.KvcError) as e:
            call(bytes(blob))
        assert e.value.status_name == "KVC_ERR_CORRUPT_DATA" and e.value.message


def test_a_truncated_or_empty_blob_raises_corrupt_data(stories):
    keys, values, _ = stories
    blob = kvc.compress(keys, values)
    for bad in (blob[:-1], blob[: len(blob) // 3], b"", b"not a kvc blob"):
        for call in (kvc.verify, kvc.inspect, kvc.decompress):
            with pytest.raises(kvc.KvcError) as e:
                call(bad)
            assert e.value.status == _ffi.KVC_ERR_CORRUPT_DATA, (call, len(bad))


def test_wrong_dtypes_and_shapes_raise_type_and_value_errors():
    a = np.zeros((1, 1, 4, 8), np.float32)
    with pytest.raises(TypeError, match="int32"):
        kvc.compress(a.astype(np.int32), a.astype(np.int32))
    with pytest.raises(TypeError, match="bfloat16"):
        kvc.compress(a.astype(np.uint16), a.astype(np.uint16))
    with pytest.raises(TypeError, match="does not match"):
        kvc.compress(a, a, dtype="float16")
    with pytest.raises(ValueError, match="agree"):
        kvc.compress(a, a.astype(np.float16))
    with pytest.raises(ValueError, match="layers, kv_heads"):
        kvc.compress(a[0], a[0])
    with pytest.raises(TypeError, match="numpy array"):
        kvc.compress("keys", "values")
    with pytest.raises(TypeError, match="both"):
        kvc.compress([a[0]], a)
    with pytest.raises(TypeError):
        kvc.decompress(b"", dtype=np.int8)


def test_an_empty_cache_is_invalid_argument():
    a = np.zeros((1, 1, 0, 8), np.float16)
    with pytest.raises(kvc.KvcError) as e:
        kvc.compress(a, a)
    assert e.value.status_name == "KVC_ERR_INVALID_ARGUMENT" and "num_tokens" in e.value.message


def test_a_missing_file_raises_io_error(tmp_path):
    with pytest.raises(kvc.KvcError) as e:
        kvc.load_cache(tmp_path / "missing.safetensors")
    assert e.value.status_name == "KVC_ERR_IO" and "missing.safetensors" in e.value.message


def test_separate_contexts_compress_in_parallel_threads_to_the_same_bytes(smol):
    from concurrent.futures import ThreadPoolExecutor
    keys, values, _ = smol
    params = kvc.CompressParams(key_bits=4, value_bits=4, group_size=128)
    expected = kvc.compress(keys, values, params)
    with ThreadPoolExecutor(4) as pool:  # ctypes releases the GIL during each call
        blobs = list(pool.map(lambda _: kvc.compress(keys, values, params), range(8)))
    assert all(b == expected for b in blobs)
