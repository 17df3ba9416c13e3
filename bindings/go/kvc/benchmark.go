// benchmark.go: kvc_benchmark: timings of repeated compress and decompress calls on one cache.
package kvc

/*
#include <kvc/kvc_tools.h>
*/
import "C"

import "unsafe"

// BenchmarkResult mirrors kvc_benchmark_result.
type BenchmarkResult struct {
	StructSize              uint32  `kvc:"struct_size"`
	Iterations              uint32  `kvc:"iterations"`
	CompressMsMedian        float64 `kvc:"compress_ms_median"`
	CompressMsP99           float64 `kvc:"compress_ms_p99"`
	DecompressMsMedian      float64 `kvc:"decompress_ms_median"`
	DecompressMsP99         float64 `kvc:"decompress_ms_p99"`
	CompressGBPerS          float64 `kvc:"compress_gb_per_s"`
	DecompressGBPerS        float64 `kvc:"decompress_gb_per_s"`
	CompressionRatio        float64 `kvc:"compression_ratio"`
	BandwidthSavingsPercent float64 `kvc:"bandwidth_savings_percent"`
	BitsPerElement          float64 `kvc:"bits_per_element"`
	OriginalBytes           uint64  `kvc:"original_bytes"`
	CompressedBytes         uint64  `kvc:"compressed_bytes"`
	TokensTotal             uint64  `kvc:"tokens_total"`
	TokensKept              uint64  `kvc:"tokens_kept"`
	QualityPassed           int32   `kvc:"quality_passed"`
	QualityLevel            int32   `kvc:"quality_level"`
}

// Benchmark compresses and decompresses the cache iterations times after one warm-up of each.
// keys, values and queries as for CompressWithQueries (qshape nil and queries empty: none).
func (c *Context) Benchmark(p *CompressParams, shape Shape, keys, values []byte, qshape *QueryShape,
	queries []byte, iterations uint32) (BenchmarkResult, error) {
	r := BenchmarkResult{StructSize: uint32(unsafe.Sizeof(BenchmarkResult{}))}
	err := c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_benchmark(ptr, p.c(), shape.c(), bytesPtr(keys), C.size_t(len(keys)),
			bytesPtr(values), C.size_t(len(values)), qshape.c(), bytesPtr(queries),
			C.size_t(len(queries)), C.uint32_t(iterations), (*C.kvc_benchmark_result)(unsafe.Pointer(&r))))
	})
	if err != nil {
		return BenchmarkResult{}, err
	}
	return r, nil
}
