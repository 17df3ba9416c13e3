// adapters.go: kvc_adapter as *Adapter: the built-in registry, config.json and GGUF builds, info.
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

// Attention types (KVC_ATTENTION_*).
const (
	AttentionCausal        = 0
	AttentionBidirectional = 1
	AttentionSlidingWindow = 2
	AttentionSparse        = 3
	AttentionLatent        = 4
)

// AttentionTypeName is "causal", "bidirectional", "sliding-window", "sparse", "latent" or
// "unknown".
func AttentionTypeName(attentionType int32) string {
	return C.GoString(C.kvc_attention_type_name(C.int32_t(attentionType)))
}

// AdapterInfo mirrors kvc_adapter_info.
type AdapterInfo struct {
	StructSize         uint32    `kvc:"struct_size"`
	AttentionType      int32     `kvc:"attention_type"`
	WindowTokens       int32     `kvc:"window_tokens"`
	NumLayers          int32     `kvc:"num_layers"`
	NumQueryHeads      int32     `kvc:"num_query_heads"`
	NumKVHeads         int32     `kvc:"num_kv_heads"`
	HeadDim            int32     `kvc:"head_dim"`
	ContextTokens      int32     `kvc:"context_tokens"`
	LatentDim          int32     `kvc:"latent_dim"`
	RopeKeyDim         int32     `kvc:"rope_key_dim"`
	RopeTheta          float32   `kvc:"rope_theta"`
	AttentionThreshold float32   `kvc:"attention_threshold"`
	SinkTokens         int32     `kvc:"sink_tokens"`
	RecentTokens       int32     `kvc:"recent_tokens"`
	KeyBits            int32     `kvc:"key_bits"`
	ValueBits          int32     `kvc:"value_bits"`
	GroupSize          int32     `kvc:"group_size"`
	MayCompressKeys    int32     `kvc:"may_compress_keys"`
	IsBuiltin          int32     `kvc:"is_builtin"`
	NameBytes          [64]byte  `kvc:"name"`
	FamilyBytes        [32]byte  `kvc:"family"`
	SourceBytes        [128]byte `kvc:"source"`
}

// Name is the model name, e.g. "llama-3-8b".
func (a *AdapterInfo) Name() string { return cString(a.NameBytes[:]) }

// Family is the model family, e.g. "llama".
func (a *AdapterInfo) Family() string { return cString(a.FamilyBytes[:]) }

// Source is the origin of the figures.
func (a *AdapterInfo) Source() string { return cString(a.SourceBytes[:]) }

// Adapter is a kvc_adapter: immutable, shared across goroutines freely. Registry adapters are
// borrowed (Close does nothing); built ones are owned until Close.
type Adapter struct {
	ptr   *C.kvc_adapter
	owned bool
}

func newAdapter(ptr *C.kvc_adapter, owned bool) *Adapter {
	a := &Adapter{ptr: ptr, owned: owned}
	if owned {
		runtime.SetFinalizer(a, (*Adapter).Close)
	}
	return a
}

// Close frees an adapter built from a config or GGUF; registry adapters stay valid.
func (a *Adapter) Close() error {
	if a.ptr != nil && a.owned {
		C.kvc_adapter_free(a.ptr)
	}
	a.ptr = nil
	runtime.SetFinalizer(a, nil)
	return nil
}

func (a *Adapter) handle() *C.kvc_adapter {
	if a == nil || a.ptr == nil {
		panic("kvc: use of a closed or nil Adapter")
	}
	return a.ptr
}

// AdapterCount is the number of adapters in the built-in registry.
func AdapterCount() int { return int(C.kvc_adapter_count()) }

// AdapterAt is the registry adapter at index (0 .. AdapterCount()-1), borrowed.
func AdapterAt(index int) (*Adapter, error) {
	var ptr *C.kvc_adapter
	if st := C.kvc_adapter_get(C.uint32_t(index), &ptr); st != C.KVC_OK {
		return nil, statusError(st, "adapter index out of range")
	}
	return newAdapter(ptr, false), nil
}

// FindAdapter is the registry adapter named name (case and punctuation insensitive), borrowed.
func FindAdapter(name string) (*Adapter, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var ptr *C.kvc_adapter
	if st := C.kvc_adapter_find(cname, &ptr); st != C.KVC_OK {
		return nil, statusError(st, "no built-in adapter named "+name)
	}
	return newAdapter(ptr, false), nil
}

// AdapterFromHFConfig builds an owned adapter from the text of a Hugging Face config.json.
func (c *Context) AdapterFromHFConfig(jsonText []byte) (*Adapter, error) {
	var aptr *C.kvc_adapter
	err := c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_adapter_from_hf_config(ptr, (*C.char)(bytesPtr(jsonText)),
			C.size_t(len(jsonText)), &aptr))
	})
	if err != nil {
		return nil, err
	}
	return newAdapter(aptr, true), nil
}

// AdapterFromGGUF builds an owned adapter from a GGUF file's metadata.
func (c *Context) AdapterFromGGUF(path string) (*Adapter, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var aptr *C.kvc_adapter
	err := c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_adapter_from_gguf(ptr, cpath, &aptr))
	})
	if err != nil {
		return nil, err
	}
	return newAdapter(aptr, true), nil
}

// Info is kvc_adapter_get_info.
func (a *Adapter) Info() (AdapterInfo, error) {
	info := AdapterInfo{StructSize: uint32(unsafe.Sizeof(AdapterInfo{}))}
	st := C.kvc_adapter_get_info(a.handle(), (*C.kvc_adapter_info)(unsafe.Pointer(&info)))
	runtime.KeepAlive(a)
	return info, statusError(st, "kvc_adapter_get_info failed")
}
