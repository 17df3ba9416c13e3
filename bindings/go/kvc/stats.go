// stats.go: kvc_stats as *Stats: running figures per model, shared across goroutines and contexts.
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

// ModelStats mirrors kvc_model_stats.
type ModelStats struct {
	StructSize            uint32   `kvc:"struct_size"`
	Reserved              uint32   `kvc:"reserved"`
	ModelNameBytes        [64]byte `kvc:"model_name"`
	CompressCalls         uint64   `kvc:"compress_calls"`
	DecompressCalls       uint64   `kvc:"decompress_calls"`
	OriginalBytes         uint64   `kvc:"original_bytes"`
	CompressedBytes       uint64   `kvc:"compressed_bytes"`
	TokensTotal           uint64   `kvc:"tokens_total"`
	TokensKept            uint64   `kvc:"tokens_kept"`
	CoverageSamples       uint64   `kvc:"coverage_samples"`
	TotalCompressMs       float64  `kvc:"total_compress_ms"`
	MeanCompressMs        float64  `kvc:"mean_compress_ms"`
	TotalDecompressMs     float64  `kvc:"total_decompress_ms"`
	MeanDecompressMs      float64  `kvc:"mean_decompress_ms"`
	CompressionRatio      float64  `kvc:"compression_ratio"`
	MeanSavingsPercent    float64  `kvc:"mean_savings_percent"`
	MeanAttentionCoverage float64  `kvc:"mean_attention_coverage"`
}

// ModelName is the model these figures belong to ("" = calls without a model name).
func (m *ModelStats) ModelName() string { return cString(m.ModelNameBytes[:]) }

// Stats is a kvc_stats: thread-safe; share it across goroutines and contexts until Close. Detach
// it from every context (SetStats(nil)) before Close.
type Stats struct {
	ptr *C.kvc_stats
}

// NewStats creates an empty set of statistics.
func NewStats() (*Stats, error) {
	var ptr *C.kvc_stats
	if st := C.kvc_stats_create(&ptr); st != C.KVC_OK {
		return nil, statusError(st, "kvc_stats_create failed")
	}
	s := &Stats{ptr: ptr}
	runtime.SetFinalizer(s, (*Stats).Close)
	return s, nil
}

// Close frees the statistics; calling it again does nothing.
func (s *Stats) Close() error {
	if s.ptr != nil {
		C.kvc_stats_free(s.ptr)
		s.ptr = nil
	}
	runtime.SetFinalizer(s, nil)
	return nil
}

func (s *Stats) handle() *C.kvc_stats {
	if s == nil || s.ptr == nil {
		panic("kvc: use of a closed or nil Stats")
	}
	return s.ptr
}

// SetStats attaches s to c (nil detaches): c's compress and decompress calls record into it.
// s must stay open while attached.
func (c *Context) SetStats(s *Stats) error {
	var sptr *C.kvc_stats
	if s != nil {
		sptr = s.handle()
	}
	return c.call(func(ptr *C.kvc_context) error {
		if err := check(ptr, C.kvc_context_set_stats(ptr, sptr)); err != nil {
			return err
		}
		c.mu.Lock()
		c.stats = s
		c.mu.Unlock()
		return nil
	})
}

// Record adds one compress call's metrics under modelName ("" = no model).
func (s *Stats) Record(modelName string, m Metrics) error {
	cname := C.CString(modelName)
	defer C.free(unsafe.Pointer(cname))
	st := C.kvc_stats_record(s.handle(), cname, m.c())
	runtime.KeepAlive(s)
	return statusError(st, "kvc_stats_record failed")
}

// ModelCount is the number of models with at least one record.
func (s *Stats) ModelCount() int {
	n := int(C.kvc_stats_model_count(s.handle()))
	runtime.KeepAlive(s)
	return n
}

// Get gives the figures of modelName (ErrInvalidArgument when it has no record).
func (s *Stats) Get(modelName string) (ModelStats, error) {
	cname := C.CString(modelName)
	defer C.free(unsafe.Pointer(cname))
	m := ModelStats{StructSize: uint32(unsafe.Sizeof(ModelStats{}))}
	st := C.kvc_stats_get(s.handle(), cname, (*C.kvc_model_stats)(unsafe.Pointer(&m)))
	runtime.KeepAlive(s)
	return m, statusError(st, "no statistics for model "+modelName)
}

// At gives the figures of the model at index (0 .. ModelCount()-1), in first-seen order.
func (s *Stats) At(index int) (ModelStats, error) {
	m := ModelStats{StructSize: uint32(unsafe.Sizeof(ModelStats{}))}
	st := C.kvc_stats_get_index(s.handle(), C.uint32_t(index), (*C.kvc_model_stats)(unsafe.Pointer(&m)))
	runtime.KeepAlive(s)
	return m, statusError(st, "statistics index out of range")
}

// Reset forgets modelName (it comes back, last, with its next record).
func (s *Stats) Reset(modelName string) error {
	cname := C.CString(modelName)
	defer C.free(unsafe.Pointer(cname))
	st := C.kvc_stats_reset(s.handle(), cname)
	runtime.KeepAlive(s)
	return statusError(st, "kvc_stats_reset failed")
}

// ResetAll forgets every model.
func (s *Stats) ResetAll() error {
	st := C.kvc_stats_reset(s.handle(), nil)
	runtime.KeepAlive(s)
	return statusError(st, "kvc_stats_reset failed")
}
