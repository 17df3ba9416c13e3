// adapter_policy.go: an adapter's cache shape and compression policy (kvc_adapter_cache_shape,
// kvc_adapter_compress_params).
package kvc

/*
#include <kvc/kvc_tools.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// CacheShape is the cache shape of the adapter's model for numTokens tokens of dtype.
func (a *Adapter) CacheShape(numTokens uint32, dtype DType) (Shape, error) {
	s := Shape{StructSize: uint32(unsafe.Sizeof(Shape{}))}
	st := C.kvc_adapter_cache_shape(a.handle(), C.uint32_t(numTokens), C.kvc_dtype(dtype), s.c())
	runtime.KeepAlive(a)
	return s, statusError(st, "the adapter has no cache shape")
}

// ApplyTo sets the policy fields of *p (bits, group size, recent tokens, thresholds, sink and
// recent windows, sliding window, model name) from the adapter.
func (a *Adapter) ApplyTo(p *CompressParams) error {
	st := C.kvc_adapter_compress_params(a.handle(), p.c())
	runtime.KeepAlive(a)
	return statusError(st, "kvc_adapter_compress_params failed")
}
