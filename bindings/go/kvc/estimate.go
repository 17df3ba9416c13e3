// estimate.go: kvc_estimate: the blob size, ratio, savings and tokens kept, without compressing.
package kvc

/*
#include <kvc/kvc_tools.h>
*/
import "C"

import "unsafe"

// EstimateResult mirrors kvc_estimate_result.
type EstimateResult struct {
	StructSize              uint32  `kvc:"struct_size"`
	ExactTokens             int32   `kvc:"exact_tokens"`
	OriginalBytes           uint64  `kvc:"original_bytes"`
	CompressedBytes         uint64  `kvc:"compressed_bytes"`
	CompressionRatio        float64 `kvc:"compression_ratio"`
	BandwidthSavingsPercent float64 `kvc:"bandwidth_savings_percent"`
	BitsPerElement          float64 `kvc:"bits_per_element"`
	TokensTotal             uint64  `kvc:"tokens_total"`
	TokensKept              uint64  `kvc:"tokens_kept"`
}

// Estimate predicts what Compress would give for shape and p (nil: defaults).
func (c *Context) Estimate(p *CompressParams, shape Shape) (EstimateResult, error) {
	e := EstimateResult{StructSize: uint32(unsafe.Sizeof(EstimateResult{}))}
	err := c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_estimate(ptr, p.c(), shape.c(), (*C.kvc_estimate_result)(unsafe.Pointer(&e))))
	})
	if err != nil {
		return EstimateResult{}, err
	}
	return e, nil
}
