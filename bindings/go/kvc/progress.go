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
// It runs on the calling goroutine and must not call kvc on the same Context.
type ProgressFunc func(done, total uint64)

// SetProgress sets (or with nil clears) the progress callback of c.
func (c *Context) SetProgress(fn ProgressFunc) error {
	if fn == nil {
		err := c.check(C.kvc_context_set_progress(c.handle(), nil, nil))
		c.dropProgress()
		return err
	}
	h := cgo.NewHandle(fn)
	if err := c.check(C.kvc_go_set_progress(c.handle(), C.uintptr_t(h))); err != nil {
		h.Delete()
		return err
	}
	c.dropProgress()
	c.progress = &h
	return nil
}

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
