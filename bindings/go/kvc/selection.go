// selection.go: token selection: queries (kvc_query_shape, kvc_compress_with_queries) and the
// kept positions and mask of a blob (kvc_decompress_positions, kvc_decompress_mask).
package kvc

/*
#include <kvc/kvc.h>
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// QueryShape mirrors kvc_query_shape: [num_query_heads][num_queries][head_dim] queries, once
// per layer (PerLayer 1) or once for all layers.
type QueryShape struct {
	StructSize    uint32 `kvc:"struct_size"`
	NumQueryHeads uint32 `kvc:"num_query_heads"`
	NumQueries    uint32 `kvc:"num_queries"`
	HeadDim       uint32 `kvc:"head_dim"`
	DType         DType  `kvc:"dtype"`
	PerLayer      uint32 `kvc:"per_layer"`
}

// DefaultQueryShape is kvc_query_shape_default.
func DefaultQueryShape() QueryShape {
	var q QueryShape
	C.kvc_query_shape_default(q.c(), C.uint32_t(unsafe.Sizeof(q)))
	return q
}

// Extent is kvc_query_shape_extent: the bytes a queries slice must hold for q, with numLayers
// layers when q.PerLayer is 1 (the cache's NumLayers). An invalid shape gives
// ErrInvalidArgument.
func (q QueryShape) Extent(numLayers int) (int, error) {
	if numLayers < 0 || numLayers > math.MaxUint32 {
		return 0, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("numLayers %d is not a uint32", numLayers)}
	}
	var n C.size_t
	st := C.kvc_query_shape_extent(q.c(), C.uint32_t(numLayers), &n)
	if st != C.KVC_OK {
		return 0, statusError(st, "invalid query shape: kvc_query_shape_extent failed")
	}
	return int(n), nil
}

func (q *QueryShape) c() *C.kvc_query_shape {
	if q == nil {
		return nil
	}
	return (*C.kvc_query_shape)(unsafe.Pointer(q))
}

// CompressWithQueries is Compress with queries for KVC_SELECT_ATTENTION and for the attention
// coverage of the metrics; qshape nil and queries empty together mean no queries. queries must
// hold qshape.Extent(shape.NumLayers) bytes.
func (c *Context) CompressWithQueries(p *CompressParams, shape Shape, keys, values []byte,
	qshape *QueryShape, queries []byte) ([]byte, Metrics, error) {
	need, _, _ := shape.Extent()
	out := blobBuffer(p, shape, len(keys), len(values), need)
	var n C.size_t
	m := newMetrics()
	err := c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_compress_with_queries(ptr, p.c(), shape.c(), bytesPtr(keys),
			C.size_t(len(keys)), bytesPtr(values), C.size_t(len(values)), qshape.c(), bytesPtr(queries),
			C.size_t(len(queries)), bytesPtr(out), C.size_t(len(out)), &n, m.c()))
	})
	if err != nil {
		return nil, Metrics{}, err
	}
	return out[:n], m, nil
}

// uint32Ptr is the address of s's first element, or nil for an empty slice.
func uint32Ptr(s []uint32) *C.uint32_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.uint32_t)(unsafe.Pointer(&s[0]))
}

// DecompressPositions gives the tokens each selected layer kept and their source positions,
// [layer][kv_head][kept] (the same row for every head unless the blob was made per head).
func (c *Context) DecompressPositions(p *DecompressParams, blob []byte) (layerCounts, positions []uint32, err error) {
	err = c.call(func(ptr *C.kvc_context) error {
		info, err := inspect(ptr, blob)
		if err != nil {
			return err
		}
		layers := int(info.NumLayers)
		if p != nil {
			layers -= int(p.FirstLayer)
			if p.NumLayers != 0 && int(p.NumLayers) < layers {
				layers = int(p.NumLayers)
			}
		}
		if layers < 0 {
			layers = 0
		}
		layerCounts = make([]uint32, layers)
		need, err := decompressPositions(ptr, p, blob, layerCounts, nil)
		if err != nil {
			return err
		}
		positions = make([]uint32, need)
		n, err := decompressPositions(ptr, p, blob, layerCounts, positions)
		if err != nil {
			return err
		}
		positions = positions[:n]
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return layerCounts, positions, nil
}

// DecompressPositionsInto is kvc_decompress_positions into caller slices: layerCounts (nil, or
// at least one entry per selected layer) receives the tokens each layer kept, positions (nil, or
// any length) their source positions. n is the positions written, or with positions nil the
// positions there are; when positions is too short it fails with ErrBufferTooSmall and n is
// the length needed.
func (c *Context) DecompressPositionsInto(p *DecompressParams, blob []byte, layerCounts, positions []uint32) (n int, err error) {
	err = c.call(func(ptr *C.kvc_context) error {
		n, err = decompressPositions(ptr, p, blob, layerCounts, positions)
		return err
	})
	return n, err
}

// decompressPositions is kvc_decompress_positions on ptr, inside a call.
func decompressPositions(ptr *C.kvc_context, p *DecompressParams, blob []byte, layerCounts, positions []uint32) (int, error) {
	var count C.size_t
	st := C.kvc_decompress_positions(ptr, p.c(), bytesPtr(blob), C.size_t(len(blob)),
		uint32Ptr(layerCounts), C.size_t(len(layerCounts)), uint32Ptr(positions),
		C.size_t(len(positions)), &count)
	return int(count), check(ptr, st)
}

// DecompressMask gives the kept-token mask of the selected layers, [layer][kv_head][num_tokens]
// bytes, 1 = kept, 0 = evicted.
func (c *Context) DecompressMask(p *DecompressParams, blob []byte) ([]byte, error) {
	var mask []byte
	err := c.call(func(ptr *C.kvc_context) error {
		var need C.size_t
		st := C.kvc_decompress_mask(ptr, p.c(), bytesPtr(blob), C.size_t(len(blob)), nil, 0, &need)
		if st != C.KVC_ERR_BUFFER_TOO_SMALL {
			if err := check(ptr, st); err != nil {
				return err
			}
		}
		mask = make([]byte, int(need))
		var n C.size_t
		st = C.kvc_decompress_mask(ptr, p.c(), bytesPtr(blob), C.size_t(len(blob)),
			(*C.uint8_t)(bytesPtr(mask)), C.size_t(len(mask)), &n)
		if err := check(ptr, st); err != nil {
			return err
		}
		mask = mask[:n]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return mask, nil
}
