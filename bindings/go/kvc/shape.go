// shape.go: the kvc_cache_shape mirror with its default and extent (kvc_query_shape: selection.go).
package kvc

/*
#include <kvc/kvc.h>
*/
import "C"

import "unsafe"

// Shape mirrors kvc_cache_shape: num_layers layers of [kv_heads][tokens][head_dim] keys and
// values; strides in elements, 0 = packed.
type Shape struct {
	StructSize  uint32 `kvc:"struct_size"`
	NumLayers   uint32 `kvc:"num_layers"`
	NumKVHeads  uint32 `kvc:"num_kv_heads"`
	NumTokens   uint32 `kvc:"num_tokens"`
	HeadDim     uint32 `kvc:"head_dim"`
	DType       DType  `kvc:"dtype"`
	LayerStride uint64 `kvc:"layer_stride"`
	HeadStride  uint64 `kvc:"head_stride"`
	TokenStride uint64 `kvc:"token_stride"`
}

// DefaultShape is kvc_cache_shape_default: zeros, fp16, packed strides.
func DefaultShape() Shape {
	var s Shape
	C.kvc_cache_shape_default(s.c(), C.uint32_t(unsafe.Sizeof(s)))
	return s
}

// NewShape is a packed shape of the given dimensions.
func NewShape(layers, kvHeads, tokens, headDim uint32, dtype DType) Shape {
	s := DefaultShape()
	s.NumLayers, s.NumKVHeads, s.NumTokens, s.HeadDim, s.DType = layers, kvHeads, tokens, headDim, dtype
	return s
}

// Extent is kvc_cache_shape_extent: the bytes a keys (or values) slice must hold for s, strides
// included. tensorBytes is for one slice holding every layer (Compress, CompressWithQueries,
// Validate, Benchmark, QualityCompare, SaveCache): ((NumLayers-1)*LayerStride + one layer's
// extent) elements; layerBytes is for one layer's slice (CompressLayers). An invalid shape gives
// ErrInvalidArgument.
func (s Shape) Extent() (tensorBytes, layerBytes int, err error) {
	var tensor, layer C.size_t
	st := C.kvc_cache_shape_extent(s.c(), &tensor, &layer)
	if st != C.KVC_OK {
		return 0, 0, statusError(st, "invalid shape: kvc_cache_shape_extent failed")
	}
	return int(tensor), int(layer), nil
}

// TensorBytes is the bytes of the packed keys (or values) of s.
func (s Shape) TensorBytes() int {
	return int(s.NumLayers) * int(s.NumKVHeads) * int(s.NumTokens) * int(s.HeadDim) * s.DType.ElementSize()
}

func (s *Shape) c() *C.kvc_cache_shape { return (*C.kvc_cache_shape)(unsafe.Pointer(s)) }
