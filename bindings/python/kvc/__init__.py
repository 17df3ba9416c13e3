# __init__.py: Pythonic kvc: contexts, numpy/torch buffers in and out, KvcError; thin over _ffi.
"""kvc: compress LLM key/value caches (Python binding of libkvc's C API, kvc.h and kvc_tools.h).

Arrays are [layers, kv_heads, tokens, head_dim] (or a list of per-layer [kv_heads, tokens,
head_dim] arrays), float32 or float16, or bf16 carried as uint16 with ``dtype="bfloat16"``.
Each goes to the library without a copy and with the bytes it may be read from (a view's span,
cut where the memory that owns it ends), so an array smaller than its shape is a KvcError
(KVC_ERR_INVALID_ARGUMENT), never a read out of bounds.

A Context serves one call at a time: a call while another runs on it (another thread, or its
own progress callback) raises KvcError with status KVC_ERR_BUSY; give each thread its own.
libkvc.so is found at run time: ``$KVC_LIBRARY``, next to this package, or the system loader.
"""
import ctypes
import json
import os
import threading
import weakref

import numpy as np

from . import _ffi

__version__ = "0.2.0"

__all__ = [
    "KvcError", "Context", "CompressParams", "Metrics", "BlobInfo", "Quality", "version",
    "device_count", "compress", "compress_with_metrics", "decompress", "inspect", "verify",
    "quality", "load_cache", "save_cache", "AdapterInfo", "adapters", "find_adapter",
    "adapter_from_hf_config", "adapter_from_gguf", "Estimate", "Validation", "BenchmarkResult",
    "ModelStats", "Stats", "estimate", "validate", "benchmark", "kept_positions", "kept_mask",
    "adapter_compress_params", "load_queries", "SELECTIONS",
]

_DTYPES = {"float32": _ffi.KVC_DTYPE_F32, "float16": _ffi.KVC_DTYPE_F16,
           "bfloat16": _ffi.KVC_DTYPE_BF16}
# bf16 comes back as uint16 (numpy has no bfloat16); torch: torch.from_numpy(a).view(torch.bfloat16)
_NUMPY_OF = {_ffi.KVC_DTYPE_F32: np.float32, _ffi.KVC_DTYPE_F16: np.float16,
             _ffi.KVC_DTYPE_BF16: np.uint16}
_DEVICES = {"cpu": _ffi.KVC_DEVICE_CPU, "cuda": _ffi.KVC_DEVICE_CUDA}
_VIOLATIONS = {name[len("KVC_VIOLATION_"):].lower(): getattr(_ffi, name)
               for name in dir(_ffi) if name.startswith("KVC_VIOLATION_")}
_WARNINGS = {name[len("KVC_WARNING_"):].lower(): getattr(_ffi, name)
             for name in dir(_ffi) if name.startswith("KVC_WARNING_")}
_RECOMMENDATIONS = {name[len("KVC_RECOMMEND_"):].lower(): getattr(_ffi, name)
                    for name in dir(_ffi) if name.startswith("KVC_RECOMMEND_")}
#: Token selection policies by name, for CompressParams(selection=...).
SELECTIONS = {"none": _ffi.KVC_SELECT_NONE, "attention": _ffi.KVC_SELECT_ATTENTION,
              "key-norm": _ffi.KVC_SELECT_KEY_NORM, "recency": _ffi.KVC_SELECT_RECENCY}


def _flag_names(flags, table):
    """Names of the bits set in flags, in bit order, plus "unknown 0x.." for others."""
    names = tuple(n for n, bit in sorted(table.items(), key=lambda kv: kv[1]) if flags & bit)
    unknown = flags & ~sum(table.values())
    return names + ((f"unknown 0x{unknown:x}",) if unknown else ())


def _device(kind):
    """KVC_DEVICE_* of "cpu", "cuda" or an int."""
    if isinstance(kind, str):
        if kind not in _DEVICES:
            raise ValueError(f"device {kind!r} is not one of {sorted(_DEVICES)}")
        return _DEVICES[kind]
    return kind


def _dtype_name(dtype):
    """"float32", "float16", "bfloat16" (also from torch dtypes), or numpy's name of dtype."""
    text = str(dtype).replace("torch.", "")
    return text if text == "bfloat16" else np.dtype(text).name


def _text(c_string):
    """str of a C string (bytes or None): bytes that are not UTF-8 (a path or model name the
    caller gave) become U+FFFD instead of raising UnicodeDecodeError."""
    return c_string.decode("utf-8", "replace") if c_string else ""


class KvcError(Exception):
    """A kvc call failed: ``status`` (int), ``status_name`` ("KVC_ERR_...") and ``message``."""

    def __init__(self, status, message=""):
        self.status = int(status)
        self.status_name = _text(_ffi.kvc_status_name(self.status))
        self.message = message
        super().__init__(f"{self.status_name}: {message}" if message else self.status_name)


class _ClosedError(KvcError, ValueError):
    """A call on a closed Context (a ValueError too, as before 0.2)."""

    def __init__(self):
        super().__init__(_ffi.KVC_ERR_INVALID_ARGUMENT, "the kvc Context is closed")


_BUSY_MESSAGE = ("the context is in use by another call (another thread, or its own progress "
                 "callback): a Context serves one call at a time")


def _check(status, what=""):
    """Raises KvcError(status, what) unless status is KVC_OK; for calls without a context."""
    if status != _ffi.KVC_OK:
        raise KvcError(status, what)


def _set_field(c_struct, name, value):
    """Sets a C field; an integer the C type cannot hold raises instead of wrapping silently."""
    setattr(c_struct, name, value)
    if isinstance(value, int) and getattr(c_struct, name) != value:
        raise OverflowError(f"{name} {value} does not fit {type(c_struct).__name__}.{name}")


def _versioned(struct_type, default_fn=None):
    s = struct_type()
    if default_fn is None:
        s.struct_size = ctypes.sizeof(s)
    else:
        _check(default_fn(ctypes.byref(s), ctypes.sizeof(s)), what=default_fn.__name__)
    return s


# ---- Records: read-only copies of C output structs -----------------------------------------


class _Record:
    """Fields of a C struct (minus struct_size/reserved), char arrays decoded to str."""

    _skip = ("struct_size", "reserved")

    def __init__(self, c_struct):
        for name, _ in c_struct._fields_:
            if name not in self._skip:
                value = getattr(c_struct, name)
                if isinstance(value, bytes):
                    value = _text(value)
                object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _asdict(self):
        return dict(vars(self))

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class Metrics(_Record):
    """Figures of one compress call (kvc_metrics)."""


class BlobInfo(_Record):
    """What a blob holds, from its header (kvc_blob_info); ``dtype_name`` names ``dtype``."""

    def __init__(self, c_struct):
        super().__init__(c_struct)
        names = {v: k for k, v in _DTYPES.items()}
        object.__setattr__(self, "dtype_name", names.get(self.dtype, f"dtype {self.dtype}"))


class Quality(_Record):
    """Reconstruction error (kvc_quality). ``passed`` is a bool, ``level_name`` names
    ``level``, ``violations`` is a tuple of names ("key_cosine", ...) and ``violation_flags``
    the raw KVC_VIOLATION_* bits."""

    def __init__(self, c_struct):
        super().__init__(c_struct)
        flags = c_struct.violations
        object.__setattr__(self, "passed", bool(c_struct.passed))
        object.__setattr__(self, "level_name", _text(_ffi.kvc_quality_level_name(self.level)))
        object.__setattr__(self, "violation_flags", flags)
        object.__setattr__(self, "violations", _flag_names(flags, _VIOLATIONS))


class Validation(Quality):
    """A validation report (kvc_validation): Quality's fields plus attention metrics (-1 when no
    queries were given), ``information_loss``, ``warnings`` and ``recommendations`` as name
    tuples (raw bits in ``warning_flags`` / ``recommendation_flags``) and ``report`` as a list of
    lines."""

    def __init__(self, c_struct):
        super().__init__(c_struct)
        object.__setattr__(self, "warning_flags", c_struct.warnings)
        object.__setattr__(self, "warnings", _flag_names(c_struct.warnings, _WARNINGS))
        object.__setattr__(self, "recommendation_flags", c_struct.recommendations)
        object.__setattr__(self, "recommendations",
                           _flag_names(c_struct.recommendations, _RECOMMENDATIONS))
        object.__setattr__(self, "report", [line for line in self.report.splitlines() if line])


class Estimate(_Record):
    """A prediction of kvc_compress's result (kvc_estimate_result); ``exact_tokens`` is a bool."""

    def __init__(self, c_struct):
        super().__init__(c_struct)
        object.__setattr__(self, "exact_tokens", bool(c_struct.exact_tokens))


class BenchmarkResult(_Record):
    """Timings of repeated compress and decompress calls (kvc_benchmark_result)."""

    def __init__(self, c_struct):
        super().__init__(c_struct)
        object.__setattr__(self, "quality_passed", bool(c_struct.quality_passed))


class ModelStats(_Record):
    """Running figures of one model (kvc_model_stats)."""


class AdapterInfo(_Record):
    """A model adapter (kvc_adapter_info): shape, attention and policy. ``attention_type_name``
    names ``attention_type``; ``may_compress_keys`` and ``is_builtin`` are bools."""

    def __init__(self, c_struct):
        super().__init__(c_struct)
        object.__setattr__(self, "attention_type_name",
                           _text(_ffi.kvc_attention_type_name(self.attention_type)))
        object.__setattr__(self, "may_compress_keys", bool(c_struct.may_compress_keys))
        object.__setattr__(self, "is_builtin", bool(c_struct.is_builtin))


def _adapter_info(adapter):
    info = _versioned(_ffi.kvc_adapter_info)
    _check(_ffi.kvc_adapter_get_info(adapter, ctypes.byref(info)), what="kvc_adapter_get_info")
    return AdapterInfo(info)


class CompressParams:
    """kvc_compress_params; unset fields keep the library's defaults
    (kvc_compress_params_default). ``CompressParams(key_bits=4, value_bits=4, group_size=128)``."""

    def __init__(self, **fields):
        object.__setattr__(self, "_c", _versioned(_ffi.kvc_compress_params,
                                                  _ffi.kvc_compress_params_default))
        for name, value in fields.items():
            setattr(self, name, value)

    @classmethod
    def _field_names(cls):
        return [n for n, _ in _ffi.kvc_compress_params._fields_ if n != "struct_size"]

    def __getattr__(self, name):
        if name in self._field_names():
            value = getattr(self._c, name)
            return _text(value) if isinstance(value, bytes) else value
        raise AttributeError(f"CompressParams has no field {name!r}")

    def __setattr__(self, name, value):
        if name not in self._field_names():
            raise AttributeError(f"CompressParams has no field {name!r}")
        if name == "selection" and isinstance(value, str):
            if value not in SELECTIONS:
                raise ValueError(f"selection {value!r} is not one of {sorted(SELECTIONS)}")
            value = SELECTIONS[value]
        if name == "per_head" and isinstance(value, bool):
            value = int(value)
        _set_field(self._c, name, value.encode() if isinstance(value, str) else value)

    def _asdict(self):
        return {n: getattr(self, n) for n in self._field_names()}

    def __eq__(self, other):
        return isinstance(other, CompressParams) and self._asdict() == other._asdict()

    def __repr__(self):
        return f"CompressParams({', '.join(f'{k}={v!r}' for k, v in self._asdict().items())})"


# ---- Buffers: numpy arrays and torch CPU tensors, never copied -----------------------------


def _numpy_owner_end(array):
    """End address of the memory that owns a numpy array's data (the array at the root of its
    ``base`` chain, or the buffer object there); None when nothing there says how large it is."""
    owner = array
    while getattr(owner, "base", None) is not None and (
            isinstance(owner, np.ndarray) or hasattr(owner, "__array_interface__")):
        owner = owner.base  # views, and as_strided's interface holder, lead to the owner
    if isinstance(owner, np.ndarray):
        return _byte_bounds(owner)[1]
    try:
        with memoryview(owner) as view:
            if not view.contiguous or view.nbytes == 0:
                return None
            start = np.frombuffer(view, np.uint8).__array_interface__["data"][0]
            return start + view.nbytes
    except (TypeError, ValueError, BufferError):
        return None


def _byte_bounds(array):
    bounds = getattr(np, "byte_bounds", None)  # numpy < 2; numpy 2 moved it to np.lib
    if bounds is None:
        from numpy.lib.array_utils import byte_bounds as bounds
    return bounds(array)


def _numpy_size(array, ptr):
    """Bytes of memory at ptr the library may read for this array: the view's own span, cut
    where the memory that owns it ends (a hostile as_strided view can reach past that)."""
    end = _byte_bounds(array)[1]
    owner_end = _numpy_owner_end(array)
    if owner_end is not None and ptr <= owner_end:
        end = min(end, owner_end)
    return max(end - ptr, 0)


def _torch_size(tensor):
    """As _numpy_size, for a torch tensor: its span, cut at the end of its storage."""
    span = (sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride())) + 1) \
        * tensor.element_size()
    storage = tensor.untyped_storage()
    reach = storage.data_ptr() + storage.nbytes() - tensor.data_ptr()
    return max(min(span, reach), 0)


class _Tensor:
    """Pointer, byte size, dims, strides (elements) and kvc dtype of one caller array; keeps it
    alive. ``nbytes`` is what the library may read from ``ptr`` (it checks it against the shape)."""

    def __init__(self, obj, dtype, what, on_device=False):
        self.owner = obj
        is_torch = type(obj).__module__.split(".")[0] == "torch" and hasattr(obj, "data_ptr")
        if on_device and not (is_torch and obj.device.type == "cuda"):
            where = obj.device if is_torch else "the host"
            raise TypeError(f"{what}: a CUDA Context compresses torch CUDA tensors (GPU memory); "
                            f"got {type(obj).__name__} in {where}")
        if is_torch:
            if obj.device.type != ("cuda" if on_device else "cpu"):
                raise TypeError(f"{what}: torch tensor on {obj.device}; a CPU Context takes CPU "
                                f"tensors (Context('cuda') takes CUDA tensors)")
            type_name = str(obj.dtype).replace("torch.", "")
            self.ptr, self.shape, itemsize = obj.data_ptr(), tuple(obj.shape), obj.element_size()
            self.strides = tuple(obj.stride())
        else:
            if not isinstance(obj, np.ndarray):
                if not hasattr(obj, "__array_interface__"):
                    raise TypeError(f"{what}: expected a numpy array or torch tensor, "
                                    f"got {type(obj).__name__}")
                obj = self.owner = np.asarray(obj)  # zero-copy over __array_interface__
            type_name, itemsize = obj.dtype.name, obj.dtype.itemsize
            self.ptr, self.shape = obj.__array_interface__["data"][0], obj.shape
            if any(s % itemsize for s in obj.strides):
                raise ValueError(f"{what}: strides {obj.strides} are not whole elements")
            self.strides = tuple(s // itemsize for s in obj.strides)
        if dtype is not None:
            wanted = _dtype_name(dtype)
            if type_name == "uint16" and wanted == "bfloat16":
                type_name = "bfloat16"
            elif type_name != wanted:
                raise TypeError(f"{what}: dtype={dtype!r} does not match the array's {type_name}")
        if type_name not in _DTYPES:
            hint = " (pass dtype='bfloat16' for bf16 carried as uint16)" if type_name == "uint16" \
                else ""
            raise TypeError(f"{what}: dtype {type_name} is not float32, float16 or bfloat16{hint}")
        self.dtype = _DTYPES[type_name]
        if 0 in self.shape:  # nothing to address: let the library judge the dims
            self.strides = (0,) * len(self.shape)
            self.nbytes = 0
            return
        if self.shape and self.shape[-1] > 1 and self.strides[-1] != 1:
            raise ValueError(f"{what}: the last axis (head_dim) must be contiguous; got strides "
                             f"{self.strides} in elements (use np.ascontiguousarray to copy)")
        for n, s in zip(self.shape[:-1], self.strides[:-1]):
            if n > 1 and s <= 0:
                raise ValueError(f"{what}: strides {self.strides} (in elements) must be positive")
        self.nbytes = _torch_size(obj) if is_torch else _numpy_size(obj, self.ptr)

    def c_strides(self):
        """Strides of the leading axes for kvc_cache_shape; 0 (packed) where an axis has size 1."""
        return [s if n > 1 else 0 for n, s in zip(self.shape[:-1], self.strides[:-1])]


def _shape(tensors, num_layers, per_layer, what):
    """One kvc_cache_shape for tensors that must share dims, dtype and strides."""
    first = tensors[0]
    ndim = 3 if per_layer else 4
    for t in tensors:
        if len(t.shape) != ndim:
            layout = "[kv_heads, tokens, head_dim]" if per_layer else \
                "[layers, kv_heads, tokens, head_dim]"
            raise ValueError(f"{what}: expected {layout}, got shape {tuple(t.shape)}")
        if t.shape != first.shape or t.dtype != first.dtype:
            raise ValueError(f"{what}: keys and values (and every layer) must agree in shape and "
                             f"dtype; got {tuple(first.shape)} and {tuple(t.shape)}")
        if t.c_strides() != first.c_strides():
            raise ValueError(f"{what}: keys and values (and every layer) must share strides; got "
                             f"{first.strides} and {t.strides} (elements)")
    s = _versioned(_ffi.kvc_cache_shape, _ffi.kvc_cache_shape_default)
    strides = first.c_strides()
    fields = {"num_layers": num_layers if per_layer else first.shape[0], "dtype": first.dtype,
              "layer_stride": 0 if per_layer else strides.pop(0)}
    fields.update(zip(("num_kv_heads", "num_tokens", "head_dim"), first.shape[-3:]))
    fields.update(zip(("head_stride", "token_stride"), strides))
    for name, value in fields.items():
        _set_field(s, name, int(value))
    return s


class _Cache:
    """The kvc_cache_shape and buffers of caller keys and values, as the C calls take them:
    ``keys``/``values`` a pointer and ``keys_size``/``values_size`` its bytes, or with
    ``per_layer`` arrays of one pointer and one size per layer. Keeps the arrays alive."""

    def __init__(self, keys, values, dtype, what, on_device=False):
        if isinstance(keys, (list, tuple)) != isinstance(values, (list, tuple)):
            raise TypeError(f"{what}: keys and values must both be arrays or both be lists")
        self.per_layer = isinstance(keys, (list, tuple))
        if self.per_layer:
            if len(keys) != len(values) or not keys:
                raise ValueError(f"{what}: keys and values must be non-empty lists of equal "
                                 f"length")
            ks = [_Tensor(k, dtype, f"keys[{i}]", on_device) for i, k in enumerate(keys)]
            vs = [_Tensor(v, dtype, f"values[{i}]", on_device) for i, v in enumerate(values)]
            self.shape = _shape(ks + vs, len(ks), True, what)
            self.num_layers = len(ks)
            self.keys = (ctypes.c_void_p * len(ks))(*[t.ptr for t in ks])
            self.keys_size = (ctypes.c_size_t * len(ks))(*[t.nbytes for t in ks])
            self.values = (ctypes.c_void_p * len(vs))(*[t.ptr for t in vs])
            self.values_size = (ctypes.c_size_t * len(vs))(*[t.nbytes for t in vs])
            self._owners = ks + vs
        else:
            k = _Tensor(keys, dtype, "keys", on_device)
            v = _Tensor(values, dtype, "values", on_device)
            self.shape = _shape([k, v], 0, False, what)
            self.keys, self.keys_size, self.values, self.values_size = \
                k.ptr, k.nbytes, v.ptr, v.nbytes
            self._owners = [k, v]


class _Queries:
    """kvc_query_shape, pointer and byte size of queries: [layers, query_heads, n, head_dim]
    (one set per layer) or [query_heads, n, head_dim] (one set for every layer); None gives
    no shape, a NULL pointer and size 0. Non-contiguous input is copied to a contiguous array."""

    def __init__(self, queries, dtype=None):
        self.shape, self.ptr, self.nbytes, self._owner = None, None, 0, None
        if queries is None:
            return
        if type(queries).__module__.split(".")[0] == "torch":
            queries = queries.contiguous()
        elif isinstance(queries, np.ndarray):
            queries = np.ascontiguousarray(queries)
        t = self._owner = _Tensor(queries, dtype, "queries")
        if len(t.shape) not in (3, 4):
            raise ValueError(f"queries: expected [layers, query_heads, n, head_dim] or "
                             f"[query_heads, n, head_dim], got shape {tuple(t.shape)}")
        q = self.shape = _versioned(_ffi.kvc_query_shape, _ffi.kvc_query_shape_default)
        q.num_query_heads, q.num_queries, q.head_dim = (int(x) for x in t.shape[-3:])
        q.dtype = t.dtype
        q.per_layer = 1 if len(t.shape) == 4 else 0
        self.ptr, self.nbytes = t.ptr, t.nbytes

    def ref(self):
        return ctypes.byref(self.shape) if self.shape is not None else None


def _adapter_handle(name):
    """The registry kvc_adapter named name (None gives None)."""
    if name is None:
        return None
    adapter = ctypes.POINTER(_ffi.kvc_adapter)()
    _check(_ffi.kvc_adapter_find(name.encode(), ctypes.byref(adapter)),
           what=f"unknown model {name!r} (kvc.adapters() lists them)")
    return adapter


def _bytes_arg(blob):
    """(pointer, size, owner) of a bytes-like blob, without copying."""
    view = memoryview(blob).cast("B")
    if view.nbytes == 0:
        return None, 0, view
    array = np.frombuffer(view, dtype=np.uint8)
    return array.__array_interface__["data"][0], view.nbytes, array


# ---- Context --------------------------------------------------------------------------------


class Context:
    """A kvc_context: one call at a time. Use ``with Context() as ctx:`` or call ``close()``;
    the finalizer is only a safety net.

    A call made while another call on the same Context runs (from another thread, or from its
    own progress callback) raises KvcError with status KVC_ERR_BUSY and does nothing: give each
    thread its own Context. ``close()`` during a call (from the progress callback, or from
    another thread) frees the context when that call returns; later calls raise KvcError."""

    def __init__(self, device="cpu", device_index=0):
        p = _versioned(_ffi.kvc_context_params, _ffi.kvc_context_params_default)
        p.device = _device(device)
        p.device_index = device_index
        ptr = ctypes.POINTER(_ffi.kvc_context)()
        reason = ctypes.create_string_buffer(512)
        status = _ffi.kvc_context_create(ctypes.byref(p), ctypes.byref(ptr), reason, len(reason))
        if status != _ffi.KVC_OK:
            raise KvcError(status, _text(reason.value) or
                           f"kvc_context_create(device={device!r}, device_index={device_index})")
        self._ptr = ptr
        self._lock = threading.Lock()  # held during each C call and its last_error read
        self._closing = False
        self._progress = None
        self._stats = None
        self._on_device = p.device == _ffi.KVC_DEVICE_CUDA
        self._device_index = device_index
        self._finalizer = weakref.finalize(self, _ffi.kvc_context_free, ptr)

    @property
    def closed(self):
        """True once close() was called (the context itself may be freed a call later)."""
        return self._closing

    def close(self):
        """Frees the context; further calls raise KvcError (also a ValueError). Closing twice is
        a no-op. Inside a call (its progress callback, or another thread) the context is freed
        when that call returns."""
        if self._closing:
            return
        self._closing = True
        self._free_if_idle()

    def _free_if_idle(self):
        if self._closing and self._lock.acquire(blocking=False):
            try:
                if self._ptr is not None:
                    self._finalizer()
                    self._ptr = None
            finally:
                self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, fn, *args, allow=()):
        """fn(ctx, *args) under this Context's lock; raises KvcError (the message from
        kvc_context_last_error) unless it returns KVC_OK or a status in ``allow``, which it
        returns. KVC_ERR_BUSY when another call holds the lock."""
        if self._closing:
            raise _ClosedError()
        if not self._lock.acquire(blocking=False):
            raise KvcError(_ffi.KVC_ERR_BUSY, _BUSY_MESSAGE)
        try:
            if self._ptr is None:
                raise _ClosedError()
            status = fn(self._ptr, *args)
            if status == _ffi.KVC_OK or status in allow:
                return status
            # After KVC_ERR_BUSY last_error belongs to the running call: never read it then.
            message = _BUSY_MESSAGE if status == _ffi.KVC_ERR_BUSY else \
                _text(_ffi.kvc_context_last_error(self._ptr))
        finally:
            self._lock.release()
            self._free_if_idle()  # a close() that came during the call
        raise KvcError(status, message)

    def set_stream(self, stream):
        """A CUDA Context's stream: a torch.cuda.Stream, a cudaStream_t as an int, or None (the
        default stream). A CPU Context accepts only None."""
        handle = getattr(stream, "cuda_stream", stream)
        self._call(_ffi.kvc_context_set_stream, ctypes.c_void_p(handle or None))

    def set_progress(self, callback):
        """callback(done, total) during compress/decompress; None clears it. A kvc call on this
        context from inside it raises KvcError (KVC_ERR_BUSY); ``close()`` there frees the
        context when the running call returns. An exception inside it is printed and ignored."""
        fn = _ffi.kvc_progress_fn(lambda _user, done, total: callback(done, total)) \
            if callback else _ffi.kvc_progress_fn()
        self._call(_ffi.kvc_context_set_progress, fn, None)
        self._progress = fn

    def compress_with_metrics(self, keys, values, params=None, dtype=None, queries=None):
        """Compresses keys and values into one .kvc blob; returns (bytes, Metrics).
        ``queries`` ([layers, query_heads, n, head_dim], or [query_heads, n, head_dim] for every
        layer) drive ``selection="attention"`` and the metrics' attention coverage; with queries
        keys and values must be [layers, ...] arrays, not lists. Per-layer queries need as many
        layers as the cache (else KvcError, KVC_ERR_INVALID_ARGUMENT)."""
        c = _Cache(keys, values, dtype, "compress", self._on_device)
        q = _Queries(queries)
        if q.shape is not None and c.per_layer:
            raise TypeError("compress: queries need [layers, kv_heads, tokens, head_dim] arrays, "
                            "not per-layer lists")
        p = (params if params is not None else CompressParams())._c
        metrics = _versioned(_ffi.kvc_metrics)
        capacity = _ffi.kvc_compress_bound(ctypes.byref(p), ctypes.byref(c.shape))
        n = ctypes.c_size_t()
        while True:  # a bound of 0 (invalid params) makes the call name the problem
            out = ctypes.create_string_buffer(max(capacity, 1))
            if c.per_layer:
                st = self._call(_ffi.kvc_compress_layers, ctypes.byref(p), ctypes.byref(c.shape),
                                c.num_layers, c.keys, c.keys_size, c.values, c.values_size, out,
                                capacity, ctypes.byref(n), ctypes.byref(metrics),
                                allow=(_ffi.KVC_ERR_BUFFER_TOO_SMALL,))
            else:
                st = self._call(_ffi.kvc_compress_with_queries, ctypes.byref(p),
                                ctypes.byref(c.shape), c.keys, c.keys_size, c.values,
                                c.values_size, q.ref(), q.ptr, q.nbytes, out, capacity,
                                ctypes.byref(n), ctypes.byref(metrics),
                                allow=(_ffi.KVC_ERR_BUFFER_TOO_SMALL,))
            if st == _ffi.KVC_OK:
                return out.raw[:n.value], Metrics(metrics)
            if n.value <= capacity:
                raise KvcError(st, f"compress: the library asked for {n.value} bytes after a "
                                   f"bound of {capacity}")
            capacity = n.value

    def compress(self, keys, values, params=None, dtype=None, queries=None):
        """Compresses keys and values into one .kvc blob (bytes)."""
        return self.compress_with_metrics(keys, values, params, dtype, queries)[0]

    def inspect(self, blob):
        """BlobInfo read from the blob's header and footer."""
        src, size, _owner = _bytes_arg(blob)
        info = _versioned(_ffi.kvc_blob_info)
        self._call(_ffi.kvc_inspect, src, size, ctypes.byref(info))
        return BlobInfo(info)

    def verify(self, blob):
        """Raises KvcError unless every message and checksum of the blob is valid."""
        src, size, _owner = _bytes_arg(blob)
        self._call(_ffi.kvc_verify, src, size)

    def _decompress_params(self, dtype=None, first_layer=0, num_layers=0, scatter=False):
        p = _versioned(_ffi.kvc_decompress_params, _ffi.kvc_decompress_params_default)
        if dtype is not None:
            name = _dtype_name(dtype)
            if name not in _DTYPES:
                raise TypeError(f"decompress: dtype {name} is not float32, float16 or bfloat16")
            p.dtype = _DTYPES[name]
        p.first_layer, p.num_layers, p.scatter = first_layer, num_layers, int(bool(scatter))
        return p

    def kept_positions(self, blob, first_layer=0, num_layers=0):
        """Per decoded layer, a uint32 array [kv_heads, kept] of the kept tokens' source
        positions (ascending; every token when the blob has no selection)."""
        p = self._decompress_params(None, first_layer, num_layers)
        src, size, _owner = _bytes_arg(blob)
        info = self.inspect(blob)
        layers = num_layers or info.num_layers - first_layer
        counts = np.zeros(max(layers, 1), dtype=np.uint32)
        needed = ctypes.c_size_t()
        self._call(_ffi.kvc_decompress_positions, ctypes.byref(p), src, size, counts.ctypes.data,
                   counts.size, None, 0, ctypes.byref(needed),
                   allow=(_ffi.KVC_ERR_BUFFER_TOO_SMALL,))
        flat = np.zeros(max(needed.value, 1), dtype=np.uint32)
        self._call(_ffi.kvc_decompress_positions, ctypes.byref(p), src, size, None, 0,
                   flat.ctypes.data, flat.size, ctypes.byref(needed))
        out, offset = [], 0
        for count in counts[:layers]:
            n = int(count) * info.num_kv_heads
            out.append(flat[offset:offset + n].reshape(info.num_kv_heads, int(count)))
            offset += n
        return out

    def kept_mask(self, blob, first_layer=0, num_layers=0):
        """bool array [layers, kv_heads, num_tokens]: True where a token was kept."""
        p = self._decompress_params(None, first_layer, num_layers)
        src, size, _owner = _bytes_arg(blob)
        info = self.inspect(blob)
        layers = num_layers or info.num_layers - first_layer
        mask = np.zeros((layers, info.num_kv_heads, info.num_tokens), dtype=np.uint8)
        n = ctypes.c_size_t()
        self._call(_ffi.kvc_decompress_mask, ctypes.byref(p), src, size, mask.ctypes.data,
                   mask.nbytes, ctypes.byref(n))
        return mask.astype(bool)

    def decompress(self, blob, dtype=None, first_layer=0, num_layers=0, scatter=False):
        """(keys, values): [layers, kv_heads, tokens, head_dim] numpy arrays in ``dtype``
        (None: as stored). bf16 comes back as uint16 holding the bf16 bits. With token selection
        ``scatter=True`` restores the original length (zeros where tokens were evicted; see
        kept_mask); otherwise the kept tokens come back, as one array when every layer kept the
        same number and as lists of per-layer [kv_heads, kept, head_dim] arrays when not."""
        p = self._decompress_params(dtype, first_layer, num_layers, scatter)
        src, size, _owner = _bytes_arg(blob)
        info = self.inspect(blob)
        layers = num_layers or info.num_layers - first_layer
        if scatter or info.selection == _ffi.KVC_SELECT_NONE and info.tokens_kept == \
                info.num_layers * info.num_tokens:
            counts = [info.num_tokens] * layers
        else:
            counts = [a.shape[1] for a in self.kept_positions(blob, first_layer, num_layers)]
        out_dtype = info.dtype if p.dtype == _ffi.KVC_DTYPE_AS_STORED else p.dtype
        heads, dim = info.num_kv_heads, info.head_dim
        total = sum(counts) * heads * dim
        if self._on_device:  # a CUDA Context decodes into torch CUDA tensors
            import torch

            torch_dtype = {_ffi.KVC_DTYPE_F32: torch.float32, _ffi.KVC_DTYPE_F16: torch.float16,
                           _ffi.KVC_DTYPE_BF16: torch.bfloat16}[out_dtype]
            device = f"cuda:{self._device_index}"
            keys = torch.empty(total, dtype=torch_dtype, device=device)
            values = torch.empty(total, dtype=torch_dtype, device=device)
            key_ptr, value_ptr = keys.data_ptr(), values.data_ptr()
            nbytes = total * keys.element_size()
        else:
            keys = np.empty(total, dtype=_NUMPY_OF[out_dtype])
            values = np.empty(total, dtype=_NUMPY_OF[out_dtype])
            key_ptr, value_ptr, nbytes = keys.ctypes.data, values.ctypes.data, keys.nbytes
        n = ctypes.c_size_t()
        self._call(_ffi.kvc_decompress, ctypes.byref(p), src, size, key_ptr, value_ptr, nbytes,
                   ctypes.byref(n))
        if len(set(counts)) <= 1:
            dims = (layers, heads, counts[0] if counts else 0, dim)
            return keys.reshape(dims), values.reshape(dims)
        bounds = np.cumsum([0] + [c * heads * dim for c in counts])
        split = [(a[b:e].reshape(heads, c, dim) for a in (keys, values))
                 for b, e, c in zip(bounds[:-1], bounds[1:], counts)]
        pairs = [tuple(x) for x in split]
        return [k for k, _ in pairs], [v for _, v in pairs]

    def estimate(self, shape=None, params=None, *, model=None, tokens=None, dtype="float16"):
        """Estimate of what compress would give, without data. ``shape``: (layers, kv_heads,
        tokens, head_dim); or ``model`` (a registry name) with ``tokens``. params default to the
        model's policy (or the library's defaults)."""
        s = _versioned(_ffi.kvc_cache_shape, _ffi.kvc_cache_shape_default)
        if model is not None:
            adapter = _adapter_handle(model)
            _check(_ffi.kvc_adapter_cache_shape(adapter, int(tokens or 0),
                                                _DTYPES[_dtype_name(dtype)], ctypes.byref(s)),
                   what=f"kvc_adapter_cache_shape({model!r}, tokens={tokens})")
            if params is None:
                params = adapter_compress_params(model)
        else:
            if shape is None:
                raise TypeError("estimate: give shape=(layers, kv_heads, tokens, head_dim) or "
                                "model= and tokens=")
            for name, value in zip(("num_layers", "num_kv_heads", "num_tokens", "head_dim"),
                                   shape):
                _set_field(s, name, int(value))
            s.dtype = _DTYPES[_dtype_name(dtype)]
        p = (params if params is not None else CompressParams())._c
        out = _versioned(_ffi.kvc_estimate_result)
        self._call(_ffi.kvc_estimate, ctypes.byref(p), ctypes.byref(s), ctypes.byref(out))
        return Estimate(out)

    def validate(self, keys, values, blob, queries=None, model=None, min_cosine=None,
                 min_snr_db=None, min_attention_coverage=None, max_attention_error=None,
                 top_k=None, dtype=None):
        """Validation of a blob against the cache it was made from (and queries, with as many
        layers as the cache when per layer): metrics, level, violations, warnings and
        recommendations. ``model`` names a registry adapter whose policy supplies the attention
        threshold when the blob has none."""
        vp = _versioned(_ffi.kvc_validate_params, _ffi.kvc_validate_params_default)
        for name, value in (("min_cosine", min_cosine), ("min_snr_db", min_snr_db),
                            ("min_attention_coverage", min_attention_coverage),
                            ("max_attention_error", max_attention_error), ("top_k", top_k)):
            if value is not None:
                _set_field(vp, name, value)
        c = _packed(keys, values, dtype, "validate")
        q = _Queries(queries)
        src, size, _owner = _bytes_arg(blob)
        out = _versioned(_ffi.kvc_validation)
        self._call(_ffi.kvc_validate, ctypes.byref(vp), _adapter_handle(model),
                   ctypes.byref(c.shape), c.keys, c.keys_size, c.values, c.values_size, q.ref(),
                   q.ptr, q.nbytes, src, size, ctypes.byref(out))
        return Validation(out)

    def benchmark(self, keys, values, params=None, iterations=10, queries=None, dtype=None):
        """Compresses and decompresses the cache ``iterations`` times: BenchmarkResult."""
        c = _packed(keys, values, dtype, "benchmark")
        q = _Queries(queries)
        p = (params if params is not None else CompressParams())._c
        out = _versioned(_ffi.kvc_benchmark_result)
        self._call(_ffi.kvc_benchmark, ctypes.byref(p), ctypes.byref(c.shape), c.keys,
                   c.keys_size, c.values, c.values_size, q.ref(), q.ptr, q.nbytes,
                   int(iterations), ctypes.byref(out))
        return BenchmarkResult(out)

    def set_stats(self, stats):
        """Attaches a Stats (None detaches): this context's calls then record into it."""
        handle = stats._handle() if stats is not None else None
        self._call(_ffi.kvc_context_set_stats, handle)
        self._stats = stats  # keeps it alive while attached

    def load_queries(self, path):
        """[layers, query_heads, n, head_dim] array of a query file (layer_<i>_query tensors)."""
        qf = ctypes.POINTER(_ffi.kvc_query_file)()
        self._call(_ffi.kvc_query_file_load, os.fsencode(path), ctypes.byref(qf))
        where = _text(os.fsencode(path))
        try:
            q = _versioned(_ffi.kvc_query_shape)
            layers = ctypes.c_uint32()
            _check(_ffi.kvc_query_file_get_shape(qf, ctypes.byref(q), ctypes.byref(layers)),
                   what=f"{where}: kvc_query_file_get_shape")
            nbytes = ctypes.c_size_t()
            _check(_ffi.kvc_query_shape_extent(ctypes.byref(q), layers.value,
                                               ctypes.byref(nbytes)),
                   what=f"{where}: kvc_query_shape_extent")
            dims = (layers.value, q.num_query_heads, q.num_queries, q.head_dim)
            buffer = (ctypes.c_char * nbytes.value).from_address(_ffi.kvc_query_file_data(qf))
            return np.frombuffer(buffer, dtype=_NUMPY_OF[q.dtype]).reshape(dims).copy()
        finally:
            _ffi.kvc_query_file_free(qf)

    def quality(self, orig_keys, orig_values, rec_keys, rec_values, min_cosine=None,
                min_snr_db=None, dtype=None):
        """Quality of a reconstruction (rec_*) against the original (orig_*); thresholds left
        None keep the library's defaults. ``dtype="bfloat16"`` marks uint16 inputs as bf16."""
        t = _versioned(_ffi.kvc_quality_thresholds, _ffi.kvc_quality_thresholds_default)
        if min_cosine is not None:
            t.min_cosine = min_cosine
        if min_snr_db is not None:
            t.min_snr_db = min_snr_db
        a = _packed(orig_keys, orig_values, dtype, "quality original")
        b = _packed(rec_keys, rec_values, dtype, "quality reconstruction")
        q = _versioned(_ffi.kvc_quality)
        self._call(_ffi.kvc_quality_compare, ctypes.byref(t), ctypes.byref(a.shape), a.keys,
                   a.keys_size, a.values, a.values_size, ctypes.byref(b.shape), b.keys,
                   b.keys_size, b.values, b.values_size, ctypes.byref(q))
        return Quality(q)

    def load_cache(self, path):
        """(keys, values, model_name) of a safetensors KV cache; arrays are copies the caller
        owns (bf16 as uint16)."""
        cache = ctypes.POINTER(_ffi.kvc_cache)()
        self._call(_ffi.kvc_cache_load, os.fsencode(path), ctypes.byref(cache))
        where = _text(os.fsencode(path))
        try:
            shape = _versioned(_ffi.kvc_cache_shape)
            _check(_ffi.kvc_cache_get_shape(cache, ctypes.byref(shape)),
                   what=f"{where}: kvc_cache_get_shape")
            nbytes = ctypes.c_size_t()
            _check(_ffi.kvc_cache_shape_extent(ctypes.byref(shape), ctypes.byref(nbytes), None),
                   what=f"{where}: kvc_cache_shape_extent")
            dims = (shape.num_layers, shape.num_kv_heads, shape.num_tokens, shape.head_dim)

            def copy(address):  # library memory of kvc_cache_shape_extent's bytes, packed
                buffer = (ctypes.c_char * nbytes.value).from_address(address)
                return np.frombuffer(buffer, dtype=_NUMPY_OF[shape.dtype]).reshape(dims).copy()

            keys = copy(_ffi.kvc_cache_keys(cache))
            values = copy(_ffi.kvc_cache_values(cache))
            model_name = _text(_ffi.kvc_cache_model_name(cache))
        finally:
            _ffi.kvc_cache_free(cache)
        return keys, values, model_name

    def adapter_from_hf_config(self, config):
        """AdapterInfo built from a Hugging Face config.json (its text, bytes, or a dict)."""
        if isinstance(config, dict):
            config = json.dumps(config)
        text = config.encode() if isinstance(config, str) else bytes(config)
        return self._owned_adapter(_ffi.kvc_adapter_from_hf_config, text, len(text))

    def adapter_from_gguf(self, path):
        """AdapterInfo built from a GGUF file's metadata (only its header is read)."""
        return self._owned_adapter(_ffi.kvc_adapter_from_gguf, os.fsencode(path))

    def _owned_adapter(self, build, *args):
        adapter = ctypes.POINTER(_ffi.kvc_adapter)()
        self._call(build, *args, ctypes.byref(adapter))
        try:
            return _adapter_info(adapter)
        finally:
            _ffi.kvc_adapter_free(adapter)

    def save_cache(self, path, keys, values, model_name=None, dtype=None):
        """Writes keys and values as safetensors plus the metadata sidecar (atomically)."""
        c = _packed(keys, values, dtype, "save_cache")
        name = model_name.encode() if model_name is not None else None
        self._call(_ffi.kvc_cache_save, os.fsencode(path), ctypes.byref(c.shape), c.keys,
                   c.keys_size, c.values, c.values_size, name)


class Stats:
    """Thread-safe running figures per model (kvc_stats), shared by any number of contexts:
    ``ctx.set_stats(stats)``; ``stats[model]`` gives ModelStats. ``close()`` (or ``with``) frees
    it once no context uses it."""

    def __init__(self):
        ptr = ctypes.POINTER(_ffi.kvc_stats)()
        _check(_ffi.kvc_stats_create(ctypes.byref(ptr)), what="kvc_stats_create")
        self._ptr = ptr
        self._finalizer = weakref.finalize(self, _ffi.kvc_stats_free, ptr)

    def close(self):
        if self._ptr is not None:
            self._finalizer()
            self._ptr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if self._ptr is None:
            raise ValueError("the kvc Stats is closed")
        return self._ptr

    def record(self, model_name, metrics):
        """Records one compress call's Metrics under model_name."""
        m = _versioned(_ffi.kvc_metrics)
        for name, _ in _ffi.kvc_metrics._fields_:
            if name not in ("struct_size", "reserved"):
                setattr(m, name, getattr(metrics, name))
        _check(_ffi.kvc_stats_record(self._handle(), (model_name or "").encode(),
                                     ctypes.byref(m)), what="kvc_stats_record")

    def __len__(self):
        return _ffi.kvc_stats_model_count(self._handle())

    def __getitem__(self, model_name):
        out = _versioned(_ffi.kvc_model_stats)
        _check(_ffi.kvc_stats_get(self._handle(), model_name.encode(), ctypes.byref(out)),
               what=f"no statistics for model {model_name!r}")
        return ModelStats(out)

    def models(self):
        """ModelStats of every model, in the order they were first seen."""
        out = []
        for i in range(len(self)):
            m = _versioned(_ffi.kvc_model_stats)
            _check(_ffi.kvc_stats_get_index(self._handle(), i, ctypes.byref(m)),
                   what=f"kvc_stats_get_index({i})")
            out.append(ModelStats(m))
        return out

    def reset(self, model_name=None):
        """Clears one model's figures, or every model's."""
        _check(_ffi.kvc_stats_reset(self._handle(),
                                    model_name.encode() if model_name is not None else None),
               what="kvc_stats_reset")


def adapter_compress_params(model):
    """CompressParams with the policy of the registry model (bits, groups, recent window,
    attention threshold, sinks, sliding window, model name)."""
    params = CompressParams()
    _check(_ffi.kvc_adapter_compress_params(_adapter_handle(model), ctypes.byref(params._c)),
           what=f"kvc_adapter_compress_params({model!r})")
    return params


def _packed(keys, values, dtype, what):
    if isinstance(keys, (list, tuple)) or isinstance(values, (list, tuple)):
        raise TypeError(f"{what}: takes [layers, kv_heads, tokens, head_dim] arrays, not lists")
    return _Cache(keys, values, dtype, what)


# ---- Module-level calls: each runs on a fresh Context unless ctx= is given -----------------


def _run(ctx, method, *args, **kwargs):
    if ctx is not None:
        return getattr(ctx, method)(*args, **kwargs)
    with Context() as fresh:
        return getattr(fresh, method)(*args, **kwargs)


def adapters():
    """Every adapter of the built-in registry, as AdapterInfo records."""
    out = []
    for index in range(_ffi.kvc_adapter_count()):
        adapter = ctypes.POINTER(_ffi.kvc_adapter)()
        _check(_ffi.kvc_adapter_get(index, ctypes.byref(adapter)), what=f"kvc_adapter_get({index})")
        out.append(_adapter_info(adapter))
    return out


def find_adapter(name):
    """The registry adapter named name (case-insensitive; "Qwen2.5-72B" finds qwen-2.5-72b)."""
    adapter = ctypes.POINTER(_ffi.kvc_adapter)()
    _check(_ffi.kvc_adapter_find(name.encode(), ctypes.byref(adapter)),
           what=f"unknown model {name!r} (kvc.adapters() lists them)")
    return _adapter_info(adapter)


def adapter_from_hf_config(config, ctx=None):
    """AdapterInfo from a Hugging Face config.json. See Context.adapter_from_hf_config."""
    return _run(ctx, "adapter_from_hf_config", config)


def adapter_from_gguf(path, ctx=None):
    """AdapterInfo from a GGUF file's metadata. See Context.adapter_from_gguf."""
    return _run(ctx, "adapter_from_gguf", path)


def version():
    """"MAJOR.MINOR.PATCH" of the loaded libkvc."""
    return _text(_ffi.kvc_version_string())


def device_count(kind="cpu"):
    """Usable devices of a kind ("cpu", "cuda" or a KVC_DEVICE_* value)."""
    return _ffi.kvc_device_count(_device(kind))


def compress(keys, values, params=None, dtype=None, ctx=None, queries=None):
    """Compresses keys and values into one .kvc blob (bytes). See Context.compress."""
    return _run(ctx, "compress", keys, values, params, dtype, queries)


def compress_with_metrics(keys, values, params=None, dtype=None, ctx=None, queries=None):
    """(blob, Metrics). See Context.compress_with_metrics."""
    return _run(ctx, "compress_with_metrics", keys, values, params, dtype, queries)


def decompress(blob, dtype=None, first_layer=0, num_layers=0, ctx=None, scatter=False):
    """(keys, values) numpy arrays. See Context.decompress."""
    return _run(ctx, "decompress", blob, dtype, first_layer, num_layers, scatter)


def kept_positions(blob, first_layer=0, num_layers=0, ctx=None):
    """Per layer, [kv_heads, kept] source positions. See Context.kept_positions."""
    return _run(ctx, "kept_positions", blob, first_layer, num_layers)


def kept_mask(blob, first_layer=0, num_layers=0, ctx=None):
    """bool [layers, kv_heads, tokens]. See Context.kept_mask."""
    return _run(ctx, "kept_mask", blob, first_layer, num_layers)


def estimate(shape=None, params=None, *, model=None, tokens=None, dtype="float16", ctx=None):
    """Estimate of a compress call. See Context.estimate."""
    return _run(ctx, "estimate", shape, params, model=model, tokens=tokens, dtype=dtype)


def validate(keys, values, blob, queries=None, model=None, ctx=None, **thresholds):
    """Validation report. See Context.validate."""
    return _run(ctx, "validate", keys, values, blob, queries, model, **thresholds)


def benchmark(keys, values, params=None, iterations=10, queries=None, dtype=None, ctx=None):
    """BenchmarkResult. See Context.benchmark."""
    return _run(ctx, "benchmark", keys, values, params, iterations, queries, dtype)


def load_queries(path, ctx=None):
    """[layers, query_heads, n, head_dim] array of a query file. See Context.load_queries."""
    return _run(ctx, "load_queries", path)


def inspect(blob, ctx=None):
    """BlobInfo of a blob. See Context.inspect."""
    return _run(ctx, "inspect", blob)


def verify(blob, ctx=None):
    """Raises KvcError unless the blob verifies. See Context.verify."""
    return _run(ctx, "verify", blob)


def quality(orig_keys, orig_values, rec_keys, rec_values, min_cosine=None, min_snr_db=None,
            dtype=None, ctx=None):
    """Quality of rec_* against orig_*. See Context.quality."""
    return _run(ctx, "quality", orig_keys, orig_values, rec_keys, rec_values, min_cosine,
                min_snr_db, dtype)


def load_cache(path, ctx=None):
    """(keys, values, model_name) of a safetensors KV cache. See Context.load_cache."""
    return _run(ctx, "load_cache", path)


def save_cache(path, keys, values, model_name=None, dtype=None, ctx=None):
    """Writes a safetensors KV cache. See Context.save_cache."""
    return _run(ctx, "save_cache", path, keys, values, model_name, dtype)
