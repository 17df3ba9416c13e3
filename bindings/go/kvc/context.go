// context.go: kvc_context as *Context: create (with kvc's reason on failure), Close, the guard
// that keeps calls on one Context from overlapping, last error, stream.
package kvc

/*
#include <kvc/kvc.h>
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync"
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

// Context is a kvc_context. One call at a time: a call made while another runs on the same
// Context (from another goroutine, or from its own progress callback) fails at once with
// ErrBusy and does nothing; separate contexts run in parallel. Close may come at any time,
// even during a call (from its progress callback): the context is then freed when that call
// returns, and every later call fails with ErrInvalidArgument.
type Context struct {
	mu       sync.Mutex // guards the fields below; never held during a C call
	ptr      *C.kvc_context
	busy     bool        // a call on ptr runs (enter to leave)
	closing  bool        // Close came during that call: leave frees ptr
	progress *cgo.Handle // the progress callback kvc holds
	stats    *Stats      // kept alive while attached
}

// Messages of the errors of StatusBusy and of a closed Context: the guard's own, and kvc's
// KVC_ERR_BUSY (after which the context's last error is not read).
const (
	busyMessage    = "the Context is in use by another call"
	closedMessage  = "the Context is closed"
	kvcBusyMessage = "kvc found the context inside another call"
)

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

// Close frees the context; calling it again does nothing. During a call on c (from c's progress
// callback, or from another goroutine) it returns at once and the context is freed when that
// call returns.
func (c *Context) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.ptr == nil:
	case c.busy:
		c.closing = true
	default:
		c.free()
	}
	return nil
}

// free releases the C context and what it holds; c.mu is held and no call runs.
func (c *Context) free() {
	C.kvc_context_free(c.ptr)
	c.ptr, c.closing, c.stats = nil, false, nil
	c.dropProgress()
	runtime.SetFinalizer(c, nil)
}

// enter marks c as inside a call and gives its C pointer; a Context already inside a call gives
// ErrBusy, a closed (or closing) one ErrInvalidArgument.
func (c *Context) enter() (*C.kvc_context, error) {
	if c == nil {
		return nil, &Error{Status: StatusInvalidArgument, Message: "the Context is nil"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.ptr == nil || c.closing:
		return nil, &Error{Status: StatusInvalidArgument, Message: closedMessage}
	case c.busy:
		return nil, &Error{Status: StatusBusy, Message: busyMessage}
	}
	c.busy = true
	return c.ptr, nil
}

// leave ends the call enter began, and frees the context when Close came meanwhile.
func (c *Context) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy = false
	if c.closing {
		c.free()
	}
}

// call runs f, one or more C calls on c's C pointer, as one call on c (between enter and
// leave): nothing else uses the context meanwhile, so f may read its last error.
func (c *Context) call(f func(ptr *C.kvc_context) error) error {
	ptr, err := c.enter()
	if err != nil {
		return err
	}
	defer c.leave()
	return f(ptr)
}

// check turns the status of a C call on ptr into nil or an *Error with ptr's message; it runs
// inside call. After KVC_ERR_BUSY the message is not ours to read (another thread may be
// writing it): that error carries a fixed one. (The guard keeps Go calls from overlapping, so
// kvc returns it only when something else holds the context.)
func check(ptr *C.kvc_context, st C.kvc_status) error {
	switch st {
	case C.KVC_OK:
		return nil
	case C.KVC_ERR_BUSY:
		return &Error{Status: StatusBusy, Message: kvcBusyMessage}
	}
	return &Error{Status: Status(st), Message: C.GoString(C.kvc_context_last_error(ptr))}
}

// LastError is the message of the last failed call on c ("" after a success); "" too while
// another call runs on c, and once c is closed.
func (c *Context) LastError() string {
	var s string
	_ = c.call(func(ptr *C.kvc_context) error {
		s = C.GoString(C.kvc_context_last_error(ptr))
		return nil
	})
	return s
}

// SetStream is kvc_context_set_stream: the cudaStream_t (as a pointer) a CUDA context enqueues
// its device work on; nil is the default stream. A CPU context accepts only nil.
func (c *Context) SetStream(stream unsafe.Pointer) error {
	return c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_context_set_stream(ptr, stream))
	})
}
