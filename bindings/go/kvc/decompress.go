// decompress.go: kvc_inspect, kvc_verify and kvc_decompress (positions and mask: selection.go).
package kvc

/*
#include <kvc/kvc.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// BlobInfo mirrors kvc_blob_info: what a blob holds, from its header and footer.
type BlobInfo struct {
	StructSize                uint32   `kvc:"struct_size"`
	FormatMajor               uint32   `kvc:"format_major"`
	FormatMinor               uint32   `kvc:"format_minor"`
	NumLayers                 uint32   `kvc:"num_layers"`
	NumKVHeads                uint32   `kvc:"num_kv_heads"`
	NumTokens                 uint32   `kvc:"num_tokens"`
	HeadDim                   uint32   `kvc:"head_dim"`
	DType                     DType    `kvc:"dtype"`
	KeyBits                   int32    `kvc:"key_bits"`
	ValueBits                 int32    `kvc:"value_bits"`
	GroupSize                 int32    `kvc:"group_size"`
	RecentFullPrecisionTokens int32    `kvc:"recent_full_precision_tokens"`
	ZstdLevel                 int32    `kvc:"zstd_level"`
	ByteShuffle               int32    `kvc:"byte_shuffle"`
	NumChunks                 uint32   `kvc:"num_chunks"`
	Reserved                  uint32   `kvc:"reserved"`
	OriginalBytes             uint64   `kvc:"original_bytes"`
	BlobBytes                 uint64   `kvc:"blob_bytes"`
	ProducerBytes             [64]byte `kvc:"producer"`
	ModelNameBytes            [64]byte `kvc:"model_name"`
	Selection                 int32    `kvc:"selection"`
	PerHead                   int32    `kvc:"per_head"`
	TokensKept                uint64   `kvc:"tokens_kept"`
	MaxLayerTokens            uint32   `kvc:"max_layer_tokens"`
	Reserved2                 uint32   `kvc:"reserved2"`
}

// Producer is the writer's name and version.
func (b *BlobInfo) Producer() string { return cString(b.ProducerBytes[:]) }

// ModelName is the model identifier given at compression ("" = none).
func (b *BlobInfo) ModelName() string { return cString(b.ModelNameBytes[:]) }

// DecompressParams mirrors kvc_decompress_params; start from DefaultDecompressParams.
type DecompressParams struct {
	StructSize uint32 `kvc:"struct_size"`
	DType      DType  `kvc:"dtype"`
	FirstLayer uint32 `kvc:"first_layer"`
	NumLayers  uint32 `kvc:"num_layers"`
	Scatter    int32  `kvc:"scatter"`
}

// DefaultDecompressParams is kvc_decompress_params_default: every layer, dtype as stored.
func DefaultDecompressParams() DecompressParams {
	var p DecompressParams
	C.kvc_decompress_params_default(p.c(), C.uint32_t(unsafe.Sizeof(p)))
	return p
}

func (p *DecompressParams) c() *C.kvc_decompress_params {
	if p == nil {
		return nil
	}
	return (*C.kvc_decompress_params)(unsafe.Pointer(p))
}

// Inspect reads a blob's header and footer (both verified).
func (c *Context) Inspect(blob []byte) (info BlobInfo, err error) {
	err = c.call(func(ptr *C.kvc_context) error {
		info, err = inspect(ptr, blob)
		return err
	})
	return info, err
}

// inspect is kvc_inspect on ptr, inside a call.
func inspect(ptr *C.kvc_context, blob []byte) (BlobInfo, error) {
	info := BlobInfo{StructSize: uint32(unsafe.Sizeof(BlobInfo{}))}
	st := C.kvc_inspect(ptr, bytesPtr(blob), C.size_t(len(blob)), (*C.kvc_blob_info)(unsafe.Pointer(&info)))
	if err := check(ptr, st); err != nil {
		return BlobInfo{}, err
	}
	return info, nil
}

// Verify checks every message and checksum of a blob without decoding it.
func (c *Context) Verify(blob []byte) error {
	return c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_verify(ptr, bytesPtr(blob), C.size_t(len(blob))))
	})
}

// Decompress decodes a blob into packed keys and values (p nil: every layer, dtype as stored).
func (c *Context) Decompress(p *DecompressParams, blob []byte) (keys, values []byte, err error) {
	err = c.call(func(ptr *C.kvc_context) error {
		var need C.size_t
		st := C.kvc_decompress(ptr, p.c(), bytesPtr(blob), C.size_t(len(blob)), nil, nil, 0, &need)
		if st != C.KVC_ERR_BUFFER_TOO_SMALL {
			if err := check(ptr, st); err != nil {
				return err
			}
		}
		keys, values = make([]byte, int(need)), make([]byte, int(need))
		var n C.size_t
		st = C.kvc_decompress(ptr, p.c(), bytesPtr(blob), C.size_t(len(blob)), bytesPtr(keys),
			bytesPtr(values), C.size_t(len(keys)), &n)
		if err := check(ptr, st); err != nil {
			return err
		}
		keys, values = keys[:n], values[:n]
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return keys, values, nil
}

// DecompressInto decodes into caller buffers of equal length and returns the bytes written to
// each. With buffers too small it fails with ErrBufferTooSmall and n is the size needed.
func (c *Context) DecompressInto(p *DecompressParams, blob, keys, values []byte) (n int, err error) {
	if len(keys) != len(values) {
		return 0, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf(
			"keys (%d bytes) and values (%d bytes) differ in length: kvc takes one capacity for both",
			len(keys), len(values))}
	}
	err = c.call(func(ptr *C.kvc_context) error {
		var size C.size_t
		st := C.kvc_decompress(ptr, p.c(), bytesPtr(blob), C.size_t(len(blob)), bytesPtr(keys),
			bytesPtr(values), C.size_t(len(keys)), &size)
		n = int(size)
		return check(ptr, st)
	})
	return n, err
}
