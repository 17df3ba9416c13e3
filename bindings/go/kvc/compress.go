// compress.go: kvc_compress, kvc_compress_layers, kvc_compress_with_queries and their params.
package kvc

/*
#include <stdlib.h>
#include <kvc/kvc.h>
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// Token selection policies (KVC_SELECT_*).
const (
	SelectNone      = 0
	SelectAttention = 1
	SelectKeyNorm   = 2
	SelectRecency   = 3
)

// Byte shuffle modes (KVC_SHUFFLE_*).
const (
	ShuffleAuto = 0
	ShuffleOff  = 1
	ShuffleOn   = 2
)

// CompressParams mirrors kvc_compress_params; start from DefaultCompressParams.
type CompressParams struct {
	StructSize                uint32   `kvc:"struct_size"`
	KeyBits                   int32    `kvc:"key_bits"`
	ValueBits                 int32    `kvc:"value_bits"`
	GroupSize                 int32    `kvc:"group_size"`
	RecentFullPrecisionTokens int32    `kvc:"recent_full_precision_tokens"`
	ZstdLevel                 int32    `kvc:"zstd_level"`
	ByteShuffle               int32    `kvc:"byte_shuffle"`
	ModelNameBytes            [64]byte `kvc:"model_name"`
	Selection                 int32    `kvc:"selection"`
	AttentionThreshold        float32  `kvc:"attention_threshold"`
	KeepRatio                 float32  `kvc:"keep_ratio"`
	MinTokens                 uint32   `kvc:"min_tokens"`
	MaxTokens                 uint32   `kvc:"max_tokens"`
	SinkTokens                uint32   `kvc:"sink_tokens"`
	RecentAlwaysKeptTokens    uint32   `kvc:"recent_always_kept_tokens"`
	SlidingWindow             uint32   `kvc:"sliding_window"`
	PerHead                   int32    `kvc:"per_head"`
}

// DefaultCompressParams is kvc_compress_params_default.
func DefaultCompressParams() CompressParams {
	var p CompressParams
	C.kvc_compress_params_default(p.c(), C.uint32_t(unsafe.Sizeof(p)))
	return p
}

// ModelName is the model identifier recorded in the blob.
func (p *CompressParams) ModelName() string { return cString(p.ModelNameBytes[:]) }

// SetModelName sets the model identifier (cut to 63 bytes).
func (p *CompressParams) SetModelName(name string) { setCString(p.ModelNameBytes[:], name) }

func (p *CompressParams) c() *C.kvc_compress_params {
	if p == nil {
		return nil
	}
	return (*C.kvc_compress_params)(unsafe.Pointer(p))
}

// Metrics mirrors kvc_metrics: the figures of one compress call.
type Metrics struct {
	StructSize              uint32  `kvc:"struct_size"`
	Reserved                uint32  `kvc:"reserved"`
	OriginalBytes           uint64  `kvc:"original_bytes"`
	CompressedBytes         uint64  `kvc:"compressed_bytes"`
	CompressionRatio        float64 `kvc:"compression_ratio"`
	BandwidthSavingsPercent float64 `kvc:"bandwidth_savings_percent"`
	BitsPerElement          float64 `kvc:"bits_per_element"`
	TokensTotal             uint64  `kvc:"tokens_total"`
	TokensKept              uint64  `kvc:"tokens_kept"`
	CompressMs              float64 `kvc:"compress_ms"`
	AttentionCoverage       float64 `kvc:"attention_coverage"`
}

func newMetrics() Metrics { return Metrics{StructSize: uint32(unsafe.Sizeof(Metrics{}))} }

func (m *Metrics) c() *C.kvc_metrics { return (*C.kvc_metrics)(unsafe.Pointer(m)) }

// CompressBound is the largest blob kvc_compress can make for p and shape (0 when invalid).
func CompressBound(p *CompressParams, shape Shape) int {
	return int(C.kvc_compress_bound(p.c(), shape.c()))
}

// blobBuffer is the output of a compress call: CompressBound bytes, or none when an input slice
// (keyLen, valueLen: the shortest one) is shorter than need. kvc then fails on the slice's size,
// naming both numbers, before it looks at the output; the bound of a shape the slices do not
// hold is never allocated.
func blobBuffer(p *CompressParams, shape Shape, keyLen, valueLen, need int) []byte {
	if keyLen < need || valueLen < need {
		return nil
	}
	return make([]byte, CompressBound(p, shape))
}

// Compress encodes keys and values (layout and dtype from shape; layer l at l*LayerStride
// elements) into one blob. p nil takes the defaults. Each slice must hold the shape's extent
// (Shape.Extent); kvc reads nothing past len(keys) or len(values), and fails with
// ErrInvalidArgument instead.
func (c *Context) Compress(p *CompressParams, shape Shape, keys, values []byte) ([]byte, Metrics, error) {
	need, _, _ := shape.Extent()
	out := blobBuffer(p, shape, len(keys), len(values), need)
	var n C.size_t
	m := newMetrics()
	err := c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_compress(ptr, p.c(), shape.c(), bytesPtr(keys), C.size_t(len(keys)),
			bytesPtr(values), C.size_t(len(values)), bytesPtr(out), C.size_t(len(out)), &n, m.c()))
	})
	if err != nil {
		return nil, Metrics{}, err
	}
	return out[:n], m, nil
}

// CompressLayers is Compress with one key and one value slice per layer: len(keys) must be the
// shape's NumLayers, and each slice must hold one layer's extent (Shape.Extent's layerBytes).
// cgo may not hand C an array of Go pointers, so the layers are copied into C memory first.
func (c *Context) CompressLayers(p *CompressParams, shape Shape, keys, values [][]byte) ([]byte, Metrics, error) {
	n := len(keys)
	if len(values) != n {
		return nil, Metrics{}, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf(
			"%d key layers and %d value layers: kvc takes one count for both", n, len(values))}
	}
	// The pointer table and the layers live in C memory: Go memory may not hold Go pointers.
	// An empty layer is copied too (C.CBytes allocates at least one byte), so kvc reports its
	// size rather than a NULL pointer.
	base := C.calloc(C.size_t(2*n+1), C.size_t(unsafe.Sizeof(uintptr(0))))
	table := unsafe.Slice((*unsafe.Pointer)(base), 2*n+1)
	defer func() {
		for _, ptr := range table {
			C.free(ptr)
		}
		C.free(base)
	}()
	sizes := make([]C.size_t, 2*n+1)
	_, need, _ := shape.Extent()
	shortest := math.MaxInt
	for i := 0; i < n; i++ {
		table[i], sizes[i] = C.CBytes(keys[i]), C.size_t(len(keys[i]))
		table[n+i], sizes[n+i] = C.CBytes(values[i]), C.size_t(len(values[i]))
		if l := len(keys[i]); l < shortest {
			shortest = l
		}
		if l := len(values[i]); l < shortest {
			shortest = l
		}
	}
	out := blobBuffer(p, shape, shortest, shortest, need)
	var size C.size_t
	m := newMetrics()
	err := c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_compress_layers(ptr, p.c(), shape.c(), C.uint32_t(n), &table[0],
			&sizes[0], &table[n], &sizes[n], bytesPtr(out), C.size_t(len(out)), &size, m.c()))
	})
	if err != nil {
		return nil, Metrics{}, err
	}
	return out[:size], m, nil
}
