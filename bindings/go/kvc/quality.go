// quality.go: kvc_quality_compare, its thresholds and result, and the level names.
package kvc

/*
#include <kvc/kvc_tools.h>
*/
import "C"

import "unsafe"

// Quality levels (KVC_QUALITY_*).
const (
	QualityPoor       = 0
	QualityAcceptable = 1
	QualityGood       = 2
	QualityExcellent  = 3
)

// Violation flags (KVC_VIOLATION_*).
const (
	ViolationKeyCosine         = 1
	ViolationValueCosine       = 2
	ViolationKeySNR            = 4
	ViolationValueSNR          = 8
	ViolationNonFinite         = 16
	ViolationAttentionCoverage = 32
	ViolationAttentionError    = 64
)

// QualityLevelName is "POOR", "ACCEPTABLE", "GOOD", "EXCELLENT" or "UNKNOWN".
func QualityLevelName(level int32) string {
	return C.GoString(C.kvc_quality_level_name(C.int32_t(level)))
}

// QualityThresholds mirrors kvc_quality_thresholds.
type QualityThresholds struct {
	StructSize uint32  `kvc:"struct_size"`
	MinCosine  float32 `kvc:"min_cosine"`
	MinSNRDb   float32 `kvc:"min_snr_db"`
}

// DefaultQualityThresholds is kvc_quality_thresholds_default.
func DefaultQualityThresholds() QualityThresholds {
	var t QualityThresholds
	C.kvc_quality_thresholds_default((*C.kvc_quality_thresholds)(unsafe.Pointer(&t)), C.uint32_t(unsafe.Sizeof(t)))
	return t
}

// Quality mirrors kvc_quality: reconstruction error of K, V and both.
type Quality struct {
	StructSize    uint32  `kvc:"struct_size"`
	Level         int32   `kvc:"level"`
	Passed        int32   `kvc:"passed"`
	Violations    uint32  `kvc:"violations"`
	KeyRMSE       float64 `kvc:"key_rmse"`
	KeySNRDb      float64 `kvc:"key_snr_db"`
	KeyCosine     float64 `kvc:"key_cosine"`
	KeyMaxError   float64 `kvc:"key_max_error"`
	ValueRMSE     float64 `kvc:"value_rmse"`
	ValueSNRDb    float64 `kvc:"value_snr_db"`
	ValueCosine   float64 `kvc:"value_cosine"`
	ValueMaxError float64 `kvc:"value_max_error"`
	RMSE          float64 `kvc:"rmse"`
	SNRDb         float64 `kvc:"snr_db"`
	Cosine        float64 `kvc:"cosine"`
	MaxError      float64 `kvc:"max_error"`
}

// QualityCompare compares a reconstruction (b) against its original (a); t nil takes defaults.
// Each slice must hold its shape's extent (Shape.Extent).
func (c *Context) QualityCompare(t *QualityThresholds, shapeA Shape, keysA, valuesA []byte,
	shapeB Shape, keysB, valuesB []byte) (Quality, error) {
	q := Quality{StructSize: uint32(unsafe.Sizeof(Quality{}))}
	err := c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_quality_compare(ptr, (*C.kvc_quality_thresholds)(unsafe.Pointer(t)),
			shapeA.c(), bytesPtr(keysA), C.size_t(len(keysA)), bytesPtr(valuesA), C.size_t(len(valuesA)),
			shapeB.c(), bytesPtr(keysB), C.size_t(len(keysB)), bytesPtr(valuesB), C.size_t(len(valuesB)),
			(*C.kvc_quality)(unsafe.Pointer(&q))))
	})
	if err != nil {
		return Quality{}, err
	}
	return q, nil
}
