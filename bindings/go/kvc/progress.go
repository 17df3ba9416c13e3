// progress.go: kvc_context_set_progress with a Go callback, through a cgo.Handle and a C bridge.
package kvc

/*
#include <stdint.h>
#include <kvc/kvc.h>
kvc_status kvc_go_set_progress(kvc_context* ctx, uintptr_t handle);
*/
import "C"

import "runtime/cgo"

// ProgressFunc is told done of total units of a long call (chunks of a blob) as they finish.
// It runs on the calling goroutine, inside the call: a call on the same Context from it fails
// with ErrBusy, and Close from it frees the Context when the call returns.
type ProgressFunc func(done, total uint64)

// SetProgress sets (or with nil clears) the progress callback of c.
func (c *Context) SetProgress(fn ProgressFunc) error {
	var h *cgo.Handle
	if fn != nil {
		nh := cgo.NewHandle(fn)
		h = &nh
	}
	err := c.call(func(ptr *C.kvc_context) error {
		var st C.kvc_status
		if h == nil {
			st = C.kvc_context_set_progress(ptr, nil, nil)
		} else {
			st = C.kvc_go_set_progress(ptr, C.uintptr_t(*h))
		}
		if err := check(ptr, st); err != nil {
			return err
		}
		// kvc holds h now and no call runs: the old handle is no longer reachable from C.
		c.mu.Lock()
		c.dropProgress()
		c.progress = h
		c.mu.Unlock()
		return nil
	})
	if err != nil && h != nil {
		h.Delete()
	}
	return err
}

// dropProgress deletes the handle kvc held; c.mu is held and kvc no longer calls it.
func (c *Context) dropProgress() {
	if c.progress != nil {
		c.progress.Delete()
		c.progress = nil
	}
}

//export kvcGoProgress
func kvcGoProgress(handle C.uintptr_t, done, total C.uint64_t) {
	cgo.Handle(handle).Value().(ProgressFunc)(uint64(done), uint64(total))
}
