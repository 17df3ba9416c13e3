// lib.rs: the safe Rust layer over ffi.rs: owned handles with Drop, Result<_, Error>, slices.
//! kvc compresses LLM key/value caches through libkvc's C API (0.2: `kvc.h`, the stable core, and
//! `kvc_tools.h`, the tools; both are wrapped here).
//!
//! Handles ([`Context`], [`Cache`], [`Adapter`], [`Stats`], [`QueryFile`]) free their C object
//! on drop. Every failure is an [`Error`] with the kvc [`Status`] and the context's message.
//! Buffers go in as `&[u8]` and come out as `Vec<u8>`; the parameter structs are the C structs
//! themselves (`ffi::kvc_*`), filled with their defaults by the `*_default` functions here.
//!
//! Every slice goes to the library with its length, and the library checks it against the shape
//! before it reads or writes anything: a slice shorter than [`cache_shape_extent`] (keys,
//! values) or [`query_shape_extent`] (queries) gives Status::INVALID_ARGUMENT with a message
//! naming both sizes. A [`Context`] is used by one thread at a time (`&mut self`);
//! [`Status::BUSY`] comes only from unsafe code that calls a context inside one of its calls.

pub mod ffi;

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::{c_char, c_void};
use std::ptr::{self, NonNull};

pub use ffi::{
    kvc_adapter_info as AdapterInfo, kvc_benchmark_result as BenchmarkResult,
    kvc_blob_info as BlobInfo, kvc_cache_shape as Shape, kvc_compress_params as CompressParams,
    kvc_decompress_params as DecompressParams, kvc_estimate_result as EstimateResult,
    kvc_metrics as Metrics, kvc_model_stats as ModelStats, kvc_quality as Quality,
    kvc_quality_thresholds as QualityThresholds, kvc_query_shape as QueryShape,
    kvc_validate_params as ValidateParams, kvc_validation as Validation,
};

/// A kvc_status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Status(pub i32);

impl Status {
    pub const OK: Status = Status(ffi::KVC_OK);
    pub const INVALID_ARGUMENT: Status = Status(ffi::KVC_ERR_INVALID_ARGUMENT);
    pub const BUFFER_TOO_SMALL: Status = Status(ffi::KVC_ERR_BUFFER_TOO_SMALL);
    pub const CORRUPT_DATA: Status = Status(ffi::KVC_ERR_CORRUPT_DATA);
    pub const UNSUPPORTED_VERSION: Status = Status(ffi::KVC_ERR_UNSUPPORTED_VERSION);
    pub const OUT_OF_MEMORY: Status = Status(ffi::KVC_ERR_OUT_OF_MEMORY);
    pub const DEVICE: Status = Status(ffi::KVC_ERR_DEVICE);
    pub const IO: Status = Status(ffi::KVC_ERR_IO);
    /// The context is inside another call; nothing was done.
    pub const BUSY: Status = Status(ffi::KVC_ERR_BUSY);
    pub const INTERNAL: Status = Status(ffi::KVC_ERR_INTERNAL);

    /// The constant's name, e.g. "KVC_ERR_CORRUPT_DATA" (kvc_status_name).
    pub fn name(self) -> &'static str {
        unsafe { static_str(ffi::kvc_status_name(self.0)) }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed kvc call: its status and the library's message about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.status)
        } else {
            write!(f, "{}: {}", self.status, self.message)
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// A string owned by the library for its lifetime.
unsafe fn static_str(p: *const c_char) -> &'static str {
    if p.is_null() {
        ""
    } else {
        CStr::from_ptr(p).to_str().unwrap_or("")
    }
}

/// A fixed-size NUL-terminated C char array as a String.
pub fn c_chars_to_string(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Copies s into a fixed-size C char array, cut to len - 1 bytes, NUL-terminated.
pub fn set_c_chars(chars: &mut [c_char], s: &str) {
    let room = chars.len().saturating_sub(1);
    chars.fill(0);
    for (dst, &b) in chars.iter_mut().zip(s.as_bytes().iter().take(room)) {
        *dst = b as c_char;
    }
}

fn status_result(st: ffi::kvc_status, message: &str) -> Result<()> {
    if st == ffi::KVC_OK {
        Ok(())
    } else {
        Err(Error {
            status: Status(st),
            message: message.to_owned(),
        })
    }
}

fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error {
        status: Status::INVALID_ARGUMENT,
        message: format!("{s:?} holds a NUL byte"),
    })
}

fn slice_ptr(s: &[u8]) -> *const c_void {
    if s.is_empty() {
        ptr::null()
    } else {
        s.as_ptr().cast()
    }
}

fn slice_mut_ptr(s: &mut [u8]) -> *mut c_void {
    if s.is_empty() {
        ptr::null_mut()
    } else {
        s.as_mut_ptr().cast()
    }
}

/// The query shape, data pointer and byte count of optional queries (NULL, NULL, 0 for None).
fn queries_ffi(queries: Option<(&QueryShape, &[u8])>) -> (*const QueryShape, *const c_void, usize) {
    queries.map_or((ptr::null(), ptr::null(), 0), |(q, d)| {
        (q as *const _, slice_ptr(d), d.len())
    })
}

/// n bytes at p, borrowed for as long as owner; empty for NULL or 0.
///
/// # Safety
/// p is NULL or spans n bytes owned by owner, unchanged while owner lives (kvc_tools.h: the
/// extent helpers give the sizes of a loaded cache's and query file's data).
unsafe fn borrowed_bytes<T>(_owner: &T, p: *const c_void, n: usize) -> &[u8] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(p.cast(), n) }
    }
}

fn u32_mut_ptr(s: &mut [u32]) -> *mut u32 {
    if s.is_empty() {
        ptr::null_mut()
    } else {
        s.as_mut_ptr()
    }
}

// ---- Version and devices --------------------------------------------------------------------

/// MAJOR*10000 + MINOR*100 + PATCH of the library loaded at run time.
pub fn version_number() -> u32 {
    unsafe { ffi::kvc_version_number() }
}

/// "MAJOR.MINOR.PATCH" of the library loaded at run time.
pub fn version() -> &'static str {
    unsafe { static_str(ffi::kvc_version_string()) }
}

/// Usable devices of that kind (KVC_DEVICE_*): 1 for the CPU, 0 for CUDA without a GPU.
pub fn device_count(device: ffi::kvc_device) -> i32 {
    unsafe { ffi::kvc_device_count(device) }
}

// ---- Struct defaults ------------------------------------------------------------------------

macro_rules! defaults {
    ($(#[$doc:meta] $fn_name:ident, $ty:ty, $c_fn:ident;)*) => {$(
        #[$doc]
        pub fn $fn_name() -> $ty {
            // SAFETY: the C struct is plain data; all-zero bytes are a valid value of it.
            let mut v: $ty = unsafe { std::mem::zeroed() };
            unsafe { ffi::$c_fn(&mut v, std::mem::size_of::<$ty>() as u32) };
            v
        }
    )*};
}

defaults! {
    /// kvc_context_params_default.
    context_params_default, ffi::kvc_context_params, kvc_context_params_default;
    /// kvc_cache_shape_default: zeros, fp16, packed strides.
    shape_default, Shape, kvc_cache_shape_default;
    /// kvc_compress_params_default.
    compress_params_default, CompressParams, kvc_compress_params_default;
    /// kvc_decompress_params_default: every layer, dtype as stored.
    decompress_params_default, DecompressParams, kvc_decompress_params_default;
    /// kvc_quality_thresholds_default.
    quality_thresholds_default, QualityThresholds, kvc_quality_thresholds_default;
    /// kvc_query_shape_default: zeros, fp16, one set of queries for all layers.
    query_shape_default, QueryShape, kvc_query_shape_default;
    /// kvc_validate_params_default.
    validate_params_default, ValidateParams, kvc_validate_params_default;
}

/// An output struct with only struct_size set, as the C API expects.
fn sized<T>() -> T {
    // SAFETY: every output struct is plain data starting with a u32 struct_size.
    let mut v: T = unsafe { std::mem::zeroed() };
    unsafe { *(&mut v as *mut T as *mut u32) = std::mem::size_of::<T>() as u32 };
    v
}

/// A packed shape of the given dimensions.
pub fn shape(
    layers: u32,
    kv_heads: u32,
    tokens: u32,
    head_dim: u32,
    dtype: ffi::kvc_dtype,
) -> Shape {
    let mut s = shape_default();
    s.num_layers = layers;
    s.num_kv_heads = kv_heads;
    s.num_tokens = tokens;
    s.head_dim = head_dim;
    s.dtype = dtype;
    s
}

/// Bytes of one element of dtype (0 for KVC_DTYPE_AS_STORED and unknown values).
pub fn element_size(dtype: ffi::kvc_dtype) -> usize {
    match dtype {
        ffi::KVC_DTYPE_F32 => 4,
        ffi::KVC_DTYPE_F16 | ffi::KVC_DTYPE_BF16 => 2,
        _ => 0,
    }
}

/// Bytes of the packed keys (or values) of s, strides ignored; see [`cache_shape_extent`] for
/// the bytes a (possibly strided) buffer must span.
pub fn tensor_bytes(s: &Shape) -> usize {
    s.num_layers as usize
        * s.num_kv_heads as usize
        * s.num_tokens as usize
        * s.head_dim as usize
        * element_size(s.dtype)
}

/// Bytes a keys (or values) buffer must span for s, strides included
/// (kvc_cache_shape_extent): (one slice for all layers, as compress and the calls like it take;
/// one layer's slice, as compress_layers takes). A shorter slice gives Status::INVALID_ARGUMENT.
pub fn cache_shape_extent(s: &Shape) -> Result<(usize, usize)> {
    let (mut tensor, mut layer) = (0usize, 0usize);
    status_result(
        unsafe { ffi::kvc_cache_shape_extent(s, &mut tensor, &mut layer) },
        "invalid cache shape",
    )?;
    Ok((tensor, layer))
}

/// Bytes a queries buffer must hold for q and a cache of num_layers layers
/// (kvc_query_shape_extent): heads * queries * head_dim elements, times num_layers when
/// q.per_layer is 1.
pub fn query_shape_extent(q: &QueryShape, num_layers: u32) -> Result<usize> {
    let mut bytes = 0usize;
    status_result(
        unsafe { ffi::kvc_query_shape_extent(q, num_layers, &mut bytes) },
        "invalid query shape",
    )?;
    Ok(bytes)
}

/// Largest blob kvc_compress can make for p and s (0 when invalid).
pub fn compress_bound(p: Option<&CompressParams>, s: &Shape) -> usize {
    unsafe { ffi::kvc_compress_bound(p.map_or(ptr::null(), |p| p as *const _), s) }
}

/// "POOR", "ACCEPTABLE", "GOOD", "EXCELLENT" or "UNKNOWN".
pub fn quality_level_name(level: i32) -> &'static str {
    unsafe { static_str(ffi::kvc_quality_level_name(level)) }
}

/// "causal", "bidirectional", "sliding-window", "sparse", "latent" or "unknown".
pub fn attention_type_name(attention_type: i32) -> &'static str {
    unsafe { static_str(ffi::kvc_attention_type_name(attention_type)) }
}

// ---- Context --------------------------------------------------------------------------------

/// A progress callback: done of total units. It is `'static` and `Send`, so it cannot borrow
/// the [`Context`] it is set on: no call on that context can start from inside it.
pub type ProgressBox = Box<dyn FnMut(u64, u64) + Send>;

/// The message of an [`Error`] with [`Status::BUSY`]; kvc_context_last_error is not read then.
pub const BUSY_MESSAGE: &str = "the context is in use by another call";

/// Bytes of the buffer that receives the reason kvc_context_create failed.
const CREATE_ERROR_CAPACITY: usize = 512;

/// A kvc_context: one thread at a time (Send, not Sync); separate contexts run in parallel.
///
/// Every call takes `&mut self`, so safe Rust can neither share a context between threads nor
/// call it (or drop it) while one of its calls runs, from its progress callback included. Those
/// cases do not compile:
///
/// ```compile_fail
/// fn shared<T: Sync>() {}
/// shared::<kvc::Context>(); // Context is not Sync
/// ```
///
/// ```compile_fail
/// let mut ctx = kvc::Context::new().unwrap();
/// let inner = &mut ctx; // a callback must be 'static: it cannot borrow its context
/// ctx.set_progress(Some(Box::new(move |_, _| drop(inner.verify(&[]))))).unwrap();
/// ```
///
/// ```compile_fail
/// let mut ctx = kvc::Context::new().unwrap();
/// let mut other = kvc::Context::new().unwrap();
/// // Moved into the callback, the context can no longer be called (or dropped) from outside.
/// other.set_progress(Some(Box::new(move |_, _| drop(ctx.verify(&[]))))).unwrap();
/// ctx.verify(&[]).unwrap_err();
/// ```
///
/// Unsafe code that reaches the handle anyway (through [`Context::as_ptr`]) gets
/// Status::BUSY from the library ([`BUSY_MESSAGE`]); a `kvc_context_free` from there would be
/// deferred by the library to the end of the running call, but a `Context` frees its handle on
/// drop only.
pub struct Context {
    ptr: NonNull<ffi::kvc_context>,
    /// The callback kvc calls (its user_data), from Box::into_raw; null when none is set.
    progress: *mut ProgressBox,
    stats: Option<std::sync::Arc<Stats>>,
}

// SAFETY: a context may move between threads; it is used by one at a time (&mut self), and its
// progress callback is Send. It is not Sync (NonNull and the raw pointer are not).
unsafe impl Send for Context {}

unsafe extern "C" fn progress_trampoline(user_data: *mut c_void, done: u64, total: u64) {
    // SAFETY: user_data is the Context's live progress pointer: it is replaced or freed only
    // through &mut Context, never while a call on the context (that calls this) runs.
    let callback = unsafe { &mut *(user_data as *mut ProgressBox) };
    // Unwinding into C is undefined behaviour: a panic in the callback aborts the process.
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(done, total))).is_err() {
        std::process::abort();
    }
}

impl Context {
    /// A context with default parameters (the CPU).
    pub fn new() -> Result<Context> {
        Context::with_params(None)
    }

    /// A context on the device params names. On failure the Error's message is the library's
    /// reason (e.g. why a CUDA context could not be created).
    pub fn with_params(params: Option<&ffi::kvc_context_params>) -> Result<Context> {
        let mut raw = ptr::null_mut();
        let mut reason = [0 as c_char; CREATE_ERROR_CAPACITY];
        let st = unsafe {
            ffi::kvc_context_create(
                params.map_or(ptr::null(), |p| p as *const _),
                &mut raw,
                reason.as_mut_ptr(),
                reason.len(),
            )
        };
        if st != ffi::KVC_OK {
            let message = c_chars_to_string(&reason);
            return Err(Error {
                status: Status(st),
                message: if message.is_empty() {
                    "kvc_context_create failed".into()
                } else {
                    message
                },
            });
        }
        let ptr = NonNull::new(raw).ok_or(Error {
            status: Status::INTERNAL,
            message: "kvc_context_create gave NULL".into(),
        })?;
        Ok(Context {
            ptr,
            progress: ptr::null_mut(),
            stats: None,
        })
    }

    /// The message of the last failed call on this context ("" after a success).
    pub fn last_error(&self) -> String {
        unsafe { CStr::from_ptr(ffi::kvc_context_last_error(self.ptr.as_ptr())) }
            .to_string_lossy()
            .into_owned()
    }

    /// Ok for KVC_OK, else the status with the context's message; KVC_ERR_BUSY takes
    /// [`BUSY_MESSAGE`] instead, since the call that holds the context may be writing its
    /// last error.
    fn check(&self, st: ffi::kvc_status) -> Result<()> {
        match st {
            ffi::KVC_OK => Ok(()),
            ffi::KVC_ERR_BUSY => Err(Error {
                status: Status::BUSY,
                message: BUSY_MESSAGE.to_owned(),
            }),
            _ => Err(Error {
                status: Status(st),
                message: self.last_error(),
            }),
        }
    }

    /// The raw handle, for calls this layer does not wrap. It stays owned by this Context.
    pub fn as_ptr(&mut self) -> *mut ffi::kvc_context {
        self.ptr.as_ptr()
    }

    /// The cudaStream_t (as a pointer) a CUDA context enqueues its device work on; null is the
    /// default stream. A CPU context accepts only null.
    ///
    /// # Safety
    /// On a CUDA context, `stream` must be null or a live cudaStream_t of the context's device
    /// that outlives every call made on this context until the next `set_stream`.
    pub unsafe fn set_stream(&mut self, stream: *mut c_void) -> Result<()> {
        let st = unsafe { ffi::kvc_context_set_stream(self.ptr.as_ptr(), stream) };
        self.check(st)
    }

    /// Sets (Some) or clears (None) the progress callback: done of total chunks. It runs on the
    /// calling thread inside compress, decompress and benchmark; a panic in it aborts the
    /// process.
    pub fn set_progress(&mut self, callback: Option<ProgressBox>) -> Result<()> {
        let new = callback.map_or(ptr::null_mut(), |cb| Box::into_raw(Box::new(cb)));
        let trampoline: Option<ffi::kvc_progress_fn> = if new.is_null() {
            None
        } else {
            Some(progress_trampoline)
        };
        let st = unsafe {
            ffi::kvc_context_set_progress(self.ptr.as_ptr(), trampoline, new as *mut c_void)
        };
        // The library now holds new (on success) or still the old callback (on failure).
        let unused = if st == ffi::KVC_OK {
            std::mem::replace(&mut self.progress, new)
        } else {
            new
        };
        if !unused.is_null() {
            // SAFETY: from Box::into_raw above or in an earlier call, and no longer set in kvc.
            drop(unsafe { Box::from_raw(unused) });
        }
        self.check(st)
    }

    // ---- Compress ---------------------------------------------------------------------------

    /// Encodes keys and values (layout and dtype from s) into one blob; p None: defaults. keys
    /// and values must each span [`cache_shape_extent`]`(s).0` bytes.
    pub fn compress(
        &mut self,
        p: Option<&CompressParams>,
        s: &Shape,
        keys: &[u8],
        values: &[u8],
    ) -> Result<(Vec<u8>, Metrics)> {
        let mut out = vec![0u8; compress_bound(p, s)];
        let mut n = 0usize;
        let mut m: Metrics = sized();
        let st = unsafe {
            ffi::kvc_compress(
                self.ptr.as_ptr(),
                p.map_or(ptr::null(), |p| p as *const _),
                s,
                slice_ptr(keys),
                keys.len(),
                slice_ptr(values),
                values.len(),
                slice_mut_ptr(&mut out),
                out.len(),
                &mut n,
                &mut m,
            )
        };
        self.check(st)?;
        out.truncate(n);
        Ok((out, m))
    }

    /// As compress, with one key and one value slice per layer (kvc_compress_layers). There must
    /// be as many key slices as value slices, and as many as s.num_layers; each slice must span
    /// one layer's extent ([`cache_shape_extent`]). The library checks the count and every
    /// slice's length before it reads anything (Status::INVALID_ARGUMENT).
    pub fn compress_layers(
        &mut self,
        p: Option<&CompressParams>,
        s: &Shape,
        keys: &[&[u8]],
        values: &[&[u8]],
    ) -> Result<(Vec<u8>, Metrics)> {
        // One count covers both pointer arrays: it must not exceed either.
        if keys.len() != values.len() {
            return Err(Error {
                status: Status::INVALID_ARGUMENT,
                message: format!(
                    "{} key layers and {} value layers: the counts must be equal",
                    keys.len(),
                    values.len()
                ),
            });
        }
        let num_layers = u32::try_from(keys.len()).map_err(|_| Error {
            status: Status::INVALID_ARGUMENT,
            message: format!("{} layers do not fit a uint32_t", keys.len()),
        })?;
        let key_ptrs: Vec<*const c_void> = keys.iter().map(|k| slice_ptr(k)).collect();
        let value_ptrs: Vec<*const c_void> = values.iter().map(|v| slice_ptr(v)).collect();
        let key_sizes: Vec<usize> = keys.iter().map(|k| k.len()).collect();
        let value_sizes: Vec<usize> = values.iter().map(|v| v.len()).collect();
        let mut out = vec![0u8; compress_bound(p, s)];
        let mut n = 0usize;
        let mut m: Metrics = sized();
        let st = unsafe {
            ffi::kvc_compress_layers(
                self.ptr.as_ptr(),
                p.map_or(ptr::null(), |p| p as *const _),
                s,
                num_layers,
                key_ptrs.as_ptr(),
                key_sizes.as_ptr(),
                value_ptrs.as_ptr(),
                value_sizes.as_ptr(),
                slice_mut_ptr(&mut out),
                out.len(),
                &mut n,
                &mut m,
            )
        };
        self.check(st)?;
        out.truncate(n);
        Ok((out, m))
    }

    /// As compress, with queries for KVC_SELECT_ATTENTION and for the attention coverage of the
    /// metrics (kvc_compress_with_queries). queries must span
    /// [`query_shape_extent`]`(query_shape, s.num_layers)` bytes.
    pub fn compress_with_queries(
        &mut self,
        p: Option<&CompressParams>,
        s: &Shape,
        keys: &[u8],
        values: &[u8],
        query_shape: &QueryShape,
        queries: &[u8],
    ) -> Result<(Vec<u8>, Metrics)> {
        let mut out = vec![0u8; compress_bound(p, s)];
        let mut n = 0usize;
        let mut m: Metrics = sized();
        let st = unsafe {
            ffi::kvc_compress_with_queries(
                self.ptr.as_ptr(),
                p.map_or(ptr::null(), |p| p as *const _),
                s,
                slice_ptr(keys),
                keys.len(),
                slice_ptr(values),
                values.len(),
                query_shape,
                slice_ptr(queries),
                queries.len(),
                slice_mut_ptr(&mut out),
                out.len(),
                &mut n,
                &mut m,
            )
        };
        self.check(st)?;
        out.truncate(n);
        Ok((out, m))
    }

    // ---- Inspect, verify, decompress ----------------------------------------------------------

    /// The header and footer of a blob (both verified).
    pub fn inspect(&mut self, blob: &[u8]) -> Result<BlobInfo> {
        let mut info: BlobInfo = sized();
        let st =
            unsafe { ffi::kvc_inspect(self.ptr.as_ptr(), slice_ptr(blob), blob.len(), &mut info) };
        self.check(st)?;
        Ok(info)
    }

    /// Checks every message and checksum of a blob without decoding it.
    pub fn verify(&mut self, blob: &[u8]) -> Result<()> {
        let st = unsafe { ffi::kvc_verify(self.ptr.as_ptr(), slice_ptr(blob), blob.len()) };
        self.check(st)
    }

    /// Decodes into caller buffers of equal length; returns the bytes written to each. Too small
    /// buffers give Status::BUFFER_TOO_SMALL (use decompress to size them).
    pub fn decompress_into(
        &mut self,
        p: Option<&DecompressParams>,
        blob: &[u8],
        keys: &mut [u8],
        values: &mut [u8],
    ) -> Result<usize> {
        if keys.len() != values.len() {
            return Err(Error {
                status: Status::INVALID_ARGUMENT,
                message: "keys and values buffers differ in length".into(),
            });
        }
        let mut n = 0usize;
        let st = unsafe {
            ffi::kvc_decompress(
                self.ptr.as_ptr(),
                p.map_or(ptr::null(), |p| p as *const _),
                slice_ptr(blob),
                blob.len(),
                slice_mut_ptr(keys),
                slice_mut_ptr(values),
                keys.len(),
                &mut n,
            )
        };
        self.check(st)?;
        Ok(n)
    }

    /// Decodes a blob into packed keys and values (p None: every layer, dtype as stored).
    pub fn decompress(
        &mut self,
        p: Option<&DecompressParams>,
        blob: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let pp = p.map_or(ptr::null(), |p| p as *const _);
        let mut need = 0usize;
        let st = unsafe {
            ffi::kvc_decompress(
                self.ptr.as_ptr(),
                pp,
                slice_ptr(blob),
                blob.len(),
                ptr::null_mut(),
                ptr::null_mut(),
                0,
                &mut need,
            )
        };
        if st != ffi::KVC_ERR_BUFFER_TOO_SMALL {
            self.check(st)?;
        }
        let (mut keys, mut values) = (vec![0u8; need], vec![0u8; need]);
        let n = self.decompress_into(p, blob, &mut keys, &mut values)?;
        keys.truncate(n);
        values.truncate(n);
        Ok((keys, values))
    }

    /// Kept token positions into caller buffers (kvc_decompress_positions): counts receives the
    /// tokens each selected layer kept and must hold at least one entry per selected layer;
    /// positions receives `[layer][kv_head][kept]` source positions. Returns the entries written
    /// to positions; too small a positions buffer gives Status::BUFFER_TOO_SMALL, too short a
    /// counts buffer Status::INVALID_ARGUMENT.
    pub fn decompress_positions_into(
        &mut self,
        p: Option<&DecompressParams>,
        blob: &[u8],
        counts: &mut [u32],
        positions: &mut [u32],
    ) -> Result<usize> {
        let mut n = 0usize;
        let st = unsafe {
            ffi::kvc_decompress_positions(
                self.ptr.as_ptr(),
                p.map_or(ptr::null(), |p| p as *const _),
                slice_ptr(blob),
                blob.len(),
                u32_mut_ptr(counts),
                counts.len(),
                u32_mut_ptr(positions),
                positions.len(),
                &mut n,
            )
        };
        self.check(st)?;
        Ok(n)
    }

    /// Tokens each selected layer kept and their source positions, `[layer][kv_head][kept]`
    /// (kvc_decompress_positions).
    pub fn decompress_positions(
        &mut self,
        p: Option<&DecompressParams>,
        blob: &[u8],
    ) -> Result<(Vec<u32>, Vec<u32>)> {
        let info = self.inspect(blob)?;
        let (first, count) = p.map_or((0, 0), |p| (p.first_layer, p.num_layers));
        let mut layers = info.num_layers.saturating_sub(first) as usize;
        if count != 0 {
            layers = layers.min(count as usize);
        }
        let mut counts = vec![0u32; layers];
        let mut need = 0usize;
        let st = unsafe {
            ffi::kvc_decompress_positions(
                self.ptr.as_ptr(),
                p.map_or(ptr::null(), |p| p as *const _),
                slice_ptr(blob),
                blob.len(),
                u32_mut_ptr(&mut counts),
                counts.len(),
                ptr::null_mut(),
                0,
                &mut need,
            )
        };
        if st != ffi::KVC_ERR_BUFFER_TOO_SMALL {
            self.check(st)?;
        }
        let mut positions = vec![0u32; need];
        let n = self.decompress_positions_into(p, blob, &mut counts, &mut positions)?;
        positions.truncate(n);
        Ok((counts, positions))
    }

    /// Kept-token mask of the selected layers, `[layer][kv_head][num_tokens]` bytes, 1 = kept
    /// (kvc_decompress_mask).
    pub fn decompress_mask(
        &mut self,
        p: Option<&DecompressParams>,
        blob: &[u8],
    ) -> Result<Vec<u8>> {
        let pp = p.map_or(ptr::null(), |p| p as *const _);
        let mut need = 0usize;
        let st = unsafe {
            ffi::kvc_decompress_mask(
                self.ptr.as_ptr(),
                pp,
                slice_ptr(blob),
                blob.len(),
                ptr::null_mut(),
                0,
                &mut need,
            )
        };
        if st != ffi::KVC_ERR_BUFFER_TOO_SMALL {
            self.check(st)?;
        }
        let mut mask = vec![0u8; need];
        let mut n = 0usize;
        let st = unsafe {
            ffi::kvc_decompress_mask(
                self.ptr.as_ptr(),
                pp,
                slice_ptr(blob),
                blob.len(),
                mask.as_mut_ptr(),
                mask.len(),
                &mut n,
            )
        };
        self.check(st)?;
        mask.truncate(n);
        Ok(mask)
    }

    /// Validates a blob against the cache it was made from (kvc_validate); adapter and queries
    /// optional. Slices as for compress_with_queries.
    #[allow(clippy::too_many_arguments)]
    pub fn validate(
        &mut self,
        p: Option<&ValidateParams>,
        adapter: Option<&Adapter>,
        s: &Shape,
        keys: &[u8],
        values: &[u8],
        queries: Option<(&QueryShape, &[u8])>,
        blob: &[u8],
    ) -> Result<Validation> {
        let mut v: Validation = sized();
        let (query_shape, query_data, query_size) = queries_ffi(queries);
        let st = unsafe {
            ffi::kvc_validate(
                self.ptr.as_ptr(),
                p.map_or(ptr::null(), |p| p as *const _),
                adapter.map_or(ptr::null(), |a| a.ptr),
                s,
                slice_ptr(keys),
                keys.len(),
                slice_ptr(values),
                values.len(),
                query_shape,
                query_data,
                query_size,
                slice_ptr(blob),
                blob.len(),
                &mut v,
            )
        };
        self.check(st)?;
        Ok(v)
    }

    // ---- Quality ------------------------------------------------------------------------------

    /// Compares a reconstruction (b) against its original (a); t None: default thresholds. Each
    /// slice must span its shape's extent ([`cache_shape_extent`]).
    #[allow(clippy::too_many_arguments)]
    pub fn quality_compare(
        &mut self,
        t: Option<&QualityThresholds>,
        shape_a: &Shape,
        keys_a: &[u8],
        values_a: &[u8],
        shape_b: &Shape,
        keys_b: &[u8],
        values_b: &[u8],
    ) -> Result<Quality> {
        let mut q: Quality = sized();
        let st = unsafe {
            ffi::kvc_quality_compare(
                self.ptr.as_ptr(),
                t.map_or(ptr::null(), |t| t as *const _),
                shape_a,
                slice_ptr(keys_a),
                keys_a.len(),
                slice_ptr(values_a),
                values_a.len(),
                shape_b,
                slice_ptr(keys_b),
                keys_b.len(),
                slice_ptr(values_b),
                values_b.len(),
                &mut q,
            )
        };
        self.check(st)?;
        Ok(q)
    }

    // ---- Cache files ----------------------------------------------------------------------------

    /// Loads a safetensors KV cache.
    pub fn load_cache(&mut self, path: &str) -> Result<Cache> {
        let cpath = c_string(path)?;
        let mut raw = ptr::null_mut();
        let st = unsafe { ffi::kvc_cache_load(self.ptr.as_ptr(), cpath.as_ptr(), &mut raw) };
        self.check(st)?;
        Ok(Cache(
            NonNull::new(raw).expect("kvc_cache_load gave NULL with KVC_OK"),
        ))
    }

    /// Writes keys and values as safetensors plus the metadata sidecar, atomically; slices as
    /// for compress (a short slice fails before any file is written).
    pub fn save_cache(
        &mut self,
        path: &str,
        s: &Shape,
        keys: &[u8],
        values: &[u8],
        model_name: Option<&str>,
    ) -> Result<()> {
        let cpath = c_string(path)?;
        let cname = model_name.map(c_string).transpose()?;
        let st = unsafe {
            ffi::kvc_cache_save(
                self.ptr.as_ptr(),
                cpath.as_ptr(),
                s,
                slice_ptr(keys),
                keys.len(),
                slice_ptr(values),
                values.len(),
                cname.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            )
        };
        self.check(st)
    }

    // ---- Adapters -------------------------------------------------------------------------------

    /// An owned adapter built from the text of a Hugging Face config.json.
    pub fn adapter_from_hf_config(&mut self, json_text: &[u8]) -> Result<Adapter> {
        let mut raw = ptr::null_mut();
        let st = unsafe {
            ffi::kvc_adapter_from_hf_config(
                self.ptr.as_ptr(),
                slice_ptr(json_text).cast(),
                json_text.len(),
                &mut raw,
            )
        };
        self.check(st)?;
        Ok(Adapter {
            ptr: raw,
            owned: true,
        })
    }

    /// An owned adapter built from a GGUF file's metadata.
    pub fn adapter_from_gguf(&mut self, path: &str) -> Result<Adapter> {
        let cpath = c_string(path)?;
        let mut raw = ptr::null_mut();
        let st = unsafe { ffi::kvc_adapter_from_gguf(self.ptr.as_ptr(), cpath.as_ptr(), &mut raw) };
        self.check(st)?;
        Ok(Adapter {
            ptr: raw,
            owned: true,
        })
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        unsafe { ffi::kvc_context_free(self.ptr.as_ptr()) }
        if !self.progress.is_null() {
            // SAFETY: from Box::into_raw in set_progress; the context that called it is freed.
            drop(unsafe { Box::from_raw(self.progress) });
        }
    }
}

// ---- Cache files ----------------------------------------------------------------------------

/// A loaded kvc_cache: immutable, shared across threads freely.
pub struct Cache(NonNull<ffi::kvc_cache>);

// SAFETY: a kvc_cache is immutable once loaded (kvc.h).
unsafe impl Send for Cache {}
unsafe impl Sync for Cache {}

impl Cache {
    /// The packed shape of the cache.
    pub fn shape(&self) -> Shape {
        let mut s: Shape = sized();
        unsafe { ffi::kvc_cache_get_shape(self.0.as_ptr(), &mut s) };
        s
    }

    /// Bytes of its keys and of its values: kvc_cache_shape_extent of its packed shape.
    fn tensor_extent(&self) -> usize {
        cache_shape_extent(&self.shape()).map_or(0, |(tensor, _)| tensor)
    }

    /// The packed keys, `[layer][kv_heads][tokens][head_dim]`, borrowed from the cache.
    pub fn keys(&self) -> &[u8] {
        unsafe {
            borrowed_bytes(
                self,
                ffi::kvc_cache_keys(self.0.as_ptr()),
                self.tensor_extent(),
            )
        }
    }

    /// The packed values, borrowed from the cache.
    pub fn values(&self) -> &[u8] {
        unsafe {
            borrowed_bytes(
                self,
                ffi::kvc_cache_values(self.0.as_ptr()),
                self.tensor_extent(),
            )
        }
    }

    /// The model recorded in the file's metadata ("" when none).
    pub fn model_name(&self) -> String {
        unsafe { CStr::from_ptr(ffi::kvc_cache_model_name(self.0.as_ptr())) }
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        unsafe { ffi::kvc_cache_free(self.0.as_ptr()) }
    }
}

// ---- Adapters -------------------------------------------------------------------------------

/// A kvc_adapter: immutable. Registry adapters are borrowed for the life of the library; built
/// ones are freed on drop.
pub struct Adapter {
    ptr: *const ffi::kvc_adapter,
    owned: bool,
}

// SAFETY: a kvc_adapter is immutable once built (kvc.h).
unsafe impl Send for Adapter {}
unsafe impl Sync for Adapter {}

impl Adapter {
    /// Adapters in the built-in registry.
    pub fn count() -> u32 {
        unsafe { ffi::kvc_adapter_count() }
    }

    /// The registry adapter at index (0 .. count()).
    pub fn get(index: u32) -> Result<Adapter> {
        let mut raw = ptr::null();
        status_result(
            unsafe { ffi::kvc_adapter_get(index, &mut raw) },
            "adapter index out of range",
        )?;
        Ok(Adapter {
            ptr: raw,
            owned: false,
        })
    }

    /// The registry adapter named name (case and punctuation insensitive).
    pub fn find(name: &str) -> Result<Adapter> {
        let cname = c_string(name)?;
        let mut raw = ptr::null();
        status_result(
            unsafe { ffi::kvc_adapter_find(cname.as_ptr(), &mut raw) },
            &format!("no built-in adapter named {name}"),
        )?;
        Ok(Adapter {
            ptr: raw,
            owned: false,
        })
    }

    /// kvc_adapter_get_info.
    pub fn info(&self) -> Result<AdapterInfo> {
        let mut info: AdapterInfo = sized();
        status_result(
            unsafe { ffi::kvc_adapter_get_info(self.ptr, &mut info) },
            "kvc_adapter_get_info failed",
        )?;
        Ok(info)
    }

    /// The raw handle, for calls this layer does not wrap.
    pub fn as_ptr(&self) -> *const ffi::kvc_adapter {
        self.ptr
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        if self.owned {
            unsafe { ffi::kvc_adapter_free(self.ptr) }
        }
    }
}

// ---- Estimate, benchmark, statistics ------------------------------------------------------------

impl Context {
    /// Predicts the blob size, ratio, savings and tokens kept without compressing (kvc_estimate).
    pub fn estimate(&mut self, p: Option<&CompressParams>, s: &Shape) -> Result<EstimateResult> {
        let mut e: EstimateResult = sized();
        let st = unsafe {
            ffi::kvc_estimate(
                self.ptr.as_ptr(),
                p.map_or(ptr::null(), |p| p as *const _),
                s,
                &mut e,
            )
        };
        self.check(st)?;
        Ok(e)
    }

    /// Compresses and decompresses the cache iterations times (kvc_benchmark); slices as for
    /// compress_with_queries. Progress goes to the context's callback.
    pub fn benchmark(
        &mut self,
        p: Option<&CompressParams>,
        s: &Shape,
        keys: &[u8],
        values: &[u8],
        queries: Option<(&QueryShape, &[u8])>,
        iterations: u32,
    ) -> Result<BenchmarkResult> {
        let mut r: BenchmarkResult = sized();
        let (query_shape, query_data, query_size) = queries_ffi(queries);
        let st = unsafe {
            ffi::kvc_benchmark(
                self.ptr.as_ptr(),
                p.map_or(ptr::null(), |p| p as *const _),
                s,
                slice_ptr(keys),
                keys.len(),
                slice_ptr(values),
                values.len(),
                query_shape,
                query_data,
                query_size,
                iterations,
                &mut r,
            )
        };
        self.check(st)?;
        Ok(r)
    }

    /// Attaches stats (None detaches): this context's calls record into it. The Arc keeps the
    /// statistics alive while attached.
    pub fn set_stats(&mut self, stats: Option<std::sync::Arc<Stats>>) -> Result<()> {
        let raw = stats.as_ref().map_or(ptr::null_mut(), |s| s.0.as_ptr());
        let st = unsafe { ffi::kvc_context_set_stats(self.ptr.as_ptr(), raw) };
        self.check(st)?;
        self.stats = stats;
        Ok(())
    }
}

// ---- Statistics -------------------------------------------------------------------------------

/// A kvc_stats: thread-safe running figures per model; share it (Arc) across threads.
pub struct Stats(NonNull<ffi::kvc_stats>);

// SAFETY: a kvc_stats is thread-safe (kvc.h).
unsafe impl Send for Stats {}
unsafe impl Sync for Stats {}

impl Stats {
    /// Empty statistics (kvc_stats_create).
    pub fn new() -> Result<Stats> {
        let mut raw = ptr::null_mut();
        status_result(
            unsafe { ffi::kvc_stats_create(&mut raw) },
            "kvc_stats_create failed",
        )?;
        Ok(Stats(
            NonNull::new(raw).expect("kvc_stats_create gave NULL with KVC_OK"),
        ))
    }

    /// Records one compress call's metrics under model_name ("" = no model).
    pub fn record(&self, model_name: &str, m: &Metrics) -> Result<()> {
        let name = c_string(model_name)?;
        status_result(
            unsafe { ffi::kvc_stats_record(self.0.as_ptr(), name.as_ptr(), m) },
            "kvc_stats_record failed",
        )
    }

    /// Models with at least one record.
    pub fn model_count(&self) -> u32 {
        unsafe { ffi::kvc_stats_model_count(self.0.as_ptr()) }
    }

    /// The figures of model_name.
    pub fn get(&self, model_name: &str) -> Result<ModelStats> {
        let name = c_string(model_name)?;
        let mut m: ModelStats = sized();
        status_result(
            unsafe { ffi::kvc_stats_get(self.0.as_ptr(), name.as_ptr(), &mut m) },
            &format!("no statistics for model {model_name}"),
        )?;
        Ok(m)
    }

    /// The figures of the model at index, in first-seen order.
    pub fn get_index(&self, index: u32) -> Result<ModelStats> {
        let mut m: ModelStats = sized();
        status_result(
            unsafe { ffi::kvc_stats_get_index(self.0.as_ptr(), index, &mut m) },
            "statistics index out of range",
        )?;
        Ok(m)
    }

    /// Forgets model_name (it comes back, last, with its next record), or every model (None).
    pub fn reset(&self, model_name: Option<&str>) -> Result<()> {
        let name = model_name.map(c_string).transpose()?;
        status_result(
            unsafe {
                ffi::kvc_stats_reset(
                    self.0.as_ptr(),
                    name.as_ref().map_or(ptr::null(), |n| n.as_ptr()),
                )
            },
            "kvc_stats_reset failed",
        )
    }
}

impl Drop for Stats {
    fn drop(&mut self) {
        unsafe { ffi::kvc_stats_free(self.0.as_ptr()) }
    }
}

// ---- Adapter policy ---------------------------------------------------------------------------

impl Adapter {
    /// The cache shape of the adapter's model for num_tokens tokens of dtype.
    pub fn cache_shape(&self, num_tokens: u32, dtype: ffi::kvc_dtype) -> Result<Shape> {
        let mut s: Shape = sized();
        status_result(
            unsafe { ffi::kvc_adapter_cache_shape(self.ptr, num_tokens, dtype, &mut s) },
            "the adapter has no cache shape",
        )?;
        Ok(s)
    }

    /// Sets the policy fields of *p from the adapter (kvc_adapter_compress_params).
    pub fn apply_to(&self, p: &mut CompressParams) -> Result<()> {
        status_result(
            unsafe { ffi::kvc_adapter_compress_params(self.ptr, p) },
            "kvc_adapter_compress_params failed",
        )
    }
}

// ---- Query files ------------------------------------------------------------------------------

/// A loaded kvc_query_file: query vectors saved beside a cache; immutable.
pub struct QueryFile(NonNull<ffi::kvc_query_file>);

// SAFETY: a kvc_query_file is immutable once loaded (kvc.h).
unsafe impl Send for QueryFile {}
unsafe impl Sync for QueryFile {}

impl Context {
    /// Loads query vectors (tensors layer_{i}_query) saved beside a cache.
    pub fn load_query_file(&mut self, path: &str) -> Result<QueryFile> {
        let cpath = c_string(path)?;
        let mut raw = ptr::null_mut();
        let st = unsafe { ffi::kvc_query_file_load(self.ptr.as_ptr(), cpath.as_ptr(), &mut raw) };
        self.check(st)?;
        Ok(QueryFile(
            NonNull::new(raw).expect("kvc_query_file_load gave NULL with KVC_OK"),
        ))
    }
}

impl QueryFile {
    /// The queries' shape (per layer) and the number of layers they cover.
    pub fn shape(&self) -> Result<(QueryShape, u32)> {
        let mut q: QueryShape = sized();
        let mut layers = 0u32;
        status_result(
            unsafe { ffi::kvc_query_file_get_shape(self.0.as_ptr(), &mut q, &mut layers) },
            "kvc_query_file_get_shape failed",
        )?;
        Ok((q, layers))
    }

    /// The packed `[layer][query_head][query][head_dim]` queries, borrowed from the file.
    pub fn data(&self) -> Result<&[u8]> {
        let (q, layers) = self.shape()?;
        let n = query_shape_extent(&q, layers)?;
        Ok(unsafe { borrowed_bytes(self, ffi::kvc_query_file_data(self.0.as_ptr()), n) })
    }
}

impl Drop for QueryFile {
    fn drop(&mut self) {
        unsafe { ffi::kvc_query_file_free(self.0.as_ptr()) }
    }
}

// ---- Typed slices ---------------------------------------------------------------------------

/// f32 values as little-endian bytes (a copy; kvc runs on little-endian hosts).
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian bytes as f32 values (a copy); a trailing partial element is ignored.
pub fn bytes_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// fp16 or bf16 bits as little-endian bytes (a copy).
pub fn u16_bytes(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian bytes as fp16 or bf16 bits (a copy).
pub fn bytes_u16(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_gets_the_fixed_message_and_never_the_last_error() {
        let mut ctx = Context::new().unwrap();
        // A failed call leaves a last error behind; BUSY must not report it.
        assert!(ctx.verify(b"not a blob").is_err());
        assert!(!ctx.last_error().is_empty());
        let err = ctx.check(ffi::KVC_ERR_BUSY).unwrap_err();
        assert_eq!(
            (err.status, err.message.as_str()),
            (Status::BUSY, BUSY_MESSAGE)
        );
        assert_eq!(err.to_string(), format!("KVC_ERR_BUSY: {BUSY_MESSAGE}"));
    }
}
