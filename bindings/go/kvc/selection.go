// selection.go: token selection: queries (kvc_query_shape, kvc_compress_with_queries) and the
// kept positions and mask of a blob (kvc_decompress_positions, kvc_decompress_mask).
package kvc

/*
#include <kvc/kvc.h>
*/
import "C"

import (
	"runtime"
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

func (q *QueryShape) c() *C.kvc_query_shape {
	if q == nil {
		return nil
	}
	return (*C.kvc_query_shape)(unsafe.Pointer(q))
}

// CompressWithQueries is Compress with queries for KVC_SELECT_ATTENTION and for the attention
// coverage of the metrics; qshape nil and queries empty together mean no queries.
func (c *Context) CompressWithQueries(p *CompressParams, shape Shape, keys, values []byte,
	qshape *QueryShape, queries []byte) ([]byte, Metrics, error) {
	out := make([]byte, CompressBound(p, shape))
	var n C.size_t
	m := newMetrics()
	st := C.kvc_compress_with_queries(c.handle(), p.c(), shape.c(), bytesPtr(keys), bytesPtr(values),
		qshape.c(), bytesPtr(queries), bytesPtr(out), C.size_t(len(out)), &n, m.c())
	runtime.KeepAlive(c)
	if err := c.check(st); err != nil {
		return nil, Metrics{}, err
	}
	return out[:n], m, nil
}

// DecompressPositions gives the tokens each selected layer kept and their source positions,
// [layer][kv_head][kept] (the same row for every head unless the blob was made per head).
func (c *Context) DecompressPositions(p *DecompressParams, blob []byte) (layerCounts, positions []uint32, err error) {
	info, err := c.Inspect(blob)
	if err != nil {
		return nil, nil, err
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
	layerCounts = make([]uint32, layers+1)
	var need C.size_t
	st := C.kvc_decompress_positions(c.handle(), p.c(), bytesPtr(blob), C.size_t(len(blob)),
		(*C.uint32_t)(unsafe.Pointer(&layerCounts[0])), nil, 0, &need)
	if st != C.KVC_ERR_BUFFER_TOO_SMALL {
		if err := c.check(st); err != nil {
			return nil, nil, err
		}
	}
	positions = make([]uint32, int(need)+1)
	var n C.size_t
	st = C.kvc_decompress_positions(c.handle(), p.c(), bytesPtr(blob), C.size_t(len(blob)),
		(*C.uint32_t)(unsafe.Pointer(&layerCounts[0])), (*C.uint32_t)(unsafe.Pointer(&positions[0])),
		need, &n)
	runtime.KeepAlive(c)
	if err := c.check(st); err != nil {
		return nil, nil, err
	}
	return layerCounts[:layers], positions[:n], nil
}

// DecompressMask gives the kept-token mask of the selected layers, [layer][kv_head][num_tokens]
// bytes, 1 = kept, 0 = evicted.
func (c *Context) DecompressMask(p *DecompressParams, blob []byte) ([]byte, error) {
	var need C.size_t
	st := C.kvc_decompress_mask(c.handle(), p.c(), bytesPtr(blob), C.size_t(len(blob)), nil, 0, &need)
	if st != C.KVC_ERR_BUFFER_TOO_SMALL {
		if err := c.check(st); err != nil {
			return nil, err
		}
	}
	mask := make([]byte, int(need))
	var n C.size_t
	st = C.kvc_decompress_mask(c.handle(), p.c(), bytesPtr(blob), C.size_t(len(blob)),
		(*C.uint8_t)(bytesPtr(mask)), C.size_t(len(mask)), &n)
	runtime.KeepAlive(c)
	if err := c.check(st); err != nil {
		return nil, err
	}
	return mask[:n], nil
}
