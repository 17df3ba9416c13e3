// query_file.go: kvc_query_file as *QueryFile: query vectors saved beside a cache.
package kvc

/*
#include <stdlib.h>
#include <kvc/kvc_tools.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// QueryFile is a loaded kvc_query_file: immutable, safe to share across goroutines until Close.
type QueryFile struct {
	ptr *C.kvc_query_file
}

// LoadQueryFile loads query vectors (tensors layer_{i}_query) saved beside a cache.
func (c *Context) LoadQueryFile(path string) (*QueryFile, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var fptr *C.kvc_query_file
	err := c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_query_file_load(ptr, cpath, &fptr))
	})
	if err != nil {
		return nil, err
	}
	f := &QueryFile{ptr: fptr}
	runtime.SetFinalizer(f, (*QueryFile).Close)
	return f, nil
}

// Close frees the query file; calling it again does nothing.
func (f *QueryFile) Close() error {
	if f.ptr != nil {
		C.kvc_query_file_free(f.ptr)
		f.ptr = nil
	}
	runtime.SetFinalizer(f, nil)
	return nil
}

func (f *QueryFile) handle() *C.kvc_query_file {
	if f == nil || f.ptr == nil {
		panic("kvc: use of a closed or nil QueryFile")
	}
	return f.ptr
}

// Shape is the queries' shape (per layer) and the number of layers they cover.
func (f *QueryFile) Shape() (QueryShape, int, error) {
	q := QueryShape{StructSize: uint32(unsafe.Sizeof(QueryShape{}))}
	var layers C.uint32_t
	st := C.kvc_query_file_get_shape(f.handle(), q.c(), &layers)
	runtime.KeepAlive(f)
	return q, int(layers), statusError(st, "kvc_query_file_get_shape failed")
}

// Data is a copy of the packed [layer][query_head][query][head_dim] queries.
func (f *QueryFile) Data() ([]byte, error) {
	q, layers, err := f.Shape()
	if err != nil {
		return nil, err
	}
	n, err := q.Extent(layers)
	if err != nil {
		return nil, err
	}
	b := copyOut(C.kvc_query_file_data(f.handle()), n)
	runtime.KeepAlive(f)
	return b, nil
}
