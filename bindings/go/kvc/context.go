// context.go: kvc_context as *Context: create, Close, last error, progress callback.
package kvc

/*
#include <kvc/kvc.h>
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// DType is a kvc_dtype.
type DType int32

// Element types (KVC_DTYPE_*).
const (
	DTypeF32      DType = 0
	DTypeF16      DType = 1
	DTypeBF16     DType = 2
	DTypeAsStored DType = -1 // decompress only: the dtype the cache was compressed from
)

// ElementSize is the bytes of one element of d (0 for DTypeAsStored and unknown values).
func (d DType) ElementSize() int {
	switch d {
	case DTypeF32:
		return 4
	case DTypeF16, DTypeBF16:
		return 2
	}
	return 0
}

// Device is a kvc_device.
type Device int32

// Devices (KVC_DEVICE_*).
const (
	DeviceCPU  Device = 0
	DeviceCUDA Device = 1
)

// DeviceCount is the number of usable devices of that kind (0 for CUDA without a GPU).
func DeviceCount(d Device) int { return int(C.kvc_device_count(C.kvc_device(d))) }

// ContextParams mirrors kvc_context_params.
type ContextParams struct {
	StructSize  uint32 `kvc:"struct_size"`
	Device      Device `kvc:"device"`
	DeviceIndex int32  `kvc:"device_index"`
}

// DefaultContextParams is kvc_context_params_default.
func DefaultContextParams() ContextParams {
	var p ContextParams
	C.kvc_context_params_default((*C.kvc_context_params)(unsafe.Pointer(&p)), C.uint32_t(unsafe.Sizeof(p)))
	return p
}

// Context is a kvc_context: used by one goroutine at a time; separate contexts run in parallel.
type Context struct {
	ptr      *C.kvc_context
	progress *cgo.Handle
	stats    *Stats // kept alive while attached
}

// NewContext creates a context with default parameters.
func NewContext() (*Context, error) { return NewContextWith(nil) }

// NewContextWith creates a context; p nil takes the defaults. A failure's *Error carries kvc's
// reason, e.g. "device_index 1 does not exist (one CPU device)".
func NewContextWith(p *ContextParams) (*Context, error) {
	var ptr *C.kvc_context
	var reason [256]C.char
	st := C.kvc_context_create((*C.kvc_context_params)(unsafe.Pointer(p)), &ptr, &reason[0],
		C.size_t(len(reason)))
	if st != C.KVC_OK {
		return nil, statusError(st, C.GoString(&reason[0]))
	}
	c := &Context{ptr: ptr}
	runtime.SetFinalizer(c, (*Context).Close)
	return c, nil
}

// Close frees the context; calling it again does nothing.
func (c *Context) Close() error {
	if c.ptr != nil {
		C.kvc_context_free(c.ptr)
		c.ptr = nil
	}
	c.dropProgress()
	runtime.SetFinalizer(c, nil)
	return nil
}

// LastError is the message of the last failed call on c ("" after a success).
func (c *Context) LastError() string {
	s := C.GoString(C.kvc_context_last_error(c.ptr))
	runtime.KeepAlive(c)
	return s
}

// check turns a status of a call on c into nil or an *Error with c's message.
func (c *Context) check(st C.kvc_status) error {
	if st == C.KVC_OK {
		return nil
	}
	return &Error{Status: Status(st), Message: c.LastError()}
}

// handle is c's C pointer; it panics on a closed context rather than passing NULL to C.
func (c *Context) handle() *C.kvc_context {
	if c == nil || c.ptr == nil {
		panic("kvc: use of a closed or nil Context")
	}
	return c.ptr
}

// SetStream is kvc_context_set_stream: the cudaStream_t (as a pointer) a CUDA context enqueues
// its device work on; nil is the default stream. A CPU context accepts only nil.
func (c *Context) SetStream(stream unsafe.Pointer) error {
	err := c.check(C.kvc_context_set_stream(c.handle(), stream))
	runtime.KeepAlive(c)
	return err
}
