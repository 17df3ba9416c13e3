// cache_file.go: kvc_cache as *Cache: safetensors KV caches loaded and saved through the library.
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

// Cache is a loaded kvc_cache: immutable, safe to share across goroutines until Close.
type Cache struct {
	ptr *C.kvc_cache
}

// LoadCache loads a safetensors KV cache (layer_{i}_key / layer_{i}_value tensors).
func (c *Context) LoadCache(path string) (*Cache, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cptr *C.kvc_cache
	err := c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_cache_load(ptr, cpath, &cptr))
	})
	if err != nil {
		return nil, err
	}
	cache := &Cache{ptr: cptr}
	runtime.SetFinalizer(cache, (*Cache).Close)
	return cache, nil
}

// Close frees the cache; calling it again does nothing.
func (k *Cache) Close() error {
	if k.ptr != nil {
		C.kvc_cache_free(k.ptr)
		k.ptr = nil
	}
	runtime.SetFinalizer(k, nil)
	return nil
}

func (k *Cache) handle() *C.kvc_cache {
	if k == nil || k.ptr == nil {
		panic("kvc: use of a closed or nil Cache")
	}
	return k.ptr
}

// Shape is the packed shape of the cache.
func (k *Cache) Shape() Shape {
	s := Shape{StructSize: uint32(unsafe.Sizeof(Shape{}))}
	C.kvc_cache_get_shape(k.handle(), s.c())
	runtime.KeepAlive(k)
	return s
}

// Keys is a copy of the packed keys, [layer][kv_heads][tokens][head_dim].
func (k *Cache) Keys() []byte {
	b := copyOut(C.kvc_cache_keys(k.handle()), k.tensorBytes())
	runtime.KeepAlive(k)
	return b
}

// Values is a copy of the packed values.
func (k *Cache) Values() []byte {
	b := copyOut(C.kvc_cache_values(k.handle()), k.tensorBytes())
	runtime.KeepAlive(k)
	return b
}

// tensorBytes is the bytes the cache's keys (and its values) span: its shape's extent.
func (k *Cache) tensorBytes() int {
	n, _, err := k.Shape().Extent()
	if err != nil {
		return 0 // a loaded cache's shape is valid
	}
	return n
}

// copyOut copies n bytes of C memory at p into a new Go slice (nil for p nil or n 0).
func copyOut(p unsafe.Pointer, n int) []byte {
	if p == nil || n == 0 {
		return nil
	}
	b := make([]byte, n)
	copy(b, unsafe.Slice((*byte)(p), n))
	return b
}

// ModelName is the model recorded in the file's metadata ("" when none).
func (k *Cache) ModelName() string {
	s := C.GoString(C.kvc_cache_model_name(k.handle()))
	runtime.KeepAlive(k)
	return s
}

// SaveCache writes keys and values as safetensors plus the metadata sidecar, atomically. Each
// slice must hold the shape's extent (Shape.Extent); otherwise it fails with
// ErrInvalidArgument and writes nothing.
func (c *Context) SaveCache(path string, shape Shape, keys, values []byte, modelName string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	cname := C.CString(modelName)
	defer C.free(unsafe.Pointer(cname))
	return c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_cache_save(ptr, cpath, shape.c(), bytesPtr(keys), C.size_t(len(keys)),
			bytesPtr(values), C.size_t(len(values)), cname))
	})
}
