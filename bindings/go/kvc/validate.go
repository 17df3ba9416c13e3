// validate.go: kvc_validate: a blob against the cache it came from, with its flags and report.
package kvc

/*
#include <kvc/kvc_tools.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Warning flags of Validation.Warnings (KVC_WARNING_*).
const (
	WarningNoQueries      = 1
	WarningManyEvicted    = 2
	WarningShapeFromInput = 4
	WarningQualityToSpare = 8
)

// Recommendation flags of Validation.Recommendations (KVC_RECOMMEND_*).
const (
	RecommendMoreKeyBits      = 1
	RecommendMoreValueBits    = 2
	RecommendSmallerGroups    = 4
	RecommendMoreRecentTokens = 8
	RecommendHigherThreshold  = 16
	RecommendMoreSinkTokens   = 32
	RecommendFewerBits        = 64
	RecommendLowerThreshold   = 128
)

// ValidateParams mirrors kvc_validate_params; 0 in a field takes the default.
type ValidateParams struct {
	StructSize           uint32  `kvc:"struct_size"`
	MinCosine            float32 `kvc:"min_cosine"`
	MinSNRDb             float32 `kvc:"min_snr_db"`
	MinAttentionCoverage float32 `kvc:"min_attention_coverage"`
	MaxAttentionError    float32 `kvc:"max_attention_error"`
	TopK                 uint32  `kvc:"top_k"`
}

// DefaultValidateParams is kvc_validate_params_default.
func DefaultValidateParams() ValidateParams {
	var p ValidateParams
	C.kvc_validate_params_default((*C.kvc_validate_params)(unsafe.Pointer(&p)), C.uint32_t(unsafe.Sizeof(p)))
	return p
}

// Validation mirrors kvc_validation.
type Validation struct {
	StructSize           uint32     `kvc:"struct_size"`
	Level                int32      `kvc:"level"`
	Passed               int32      `kvc:"passed"`
	Violations           uint32     `kvc:"violations"`
	Warnings             uint32     `kvc:"warnings"`
	Recommendations      uint32     `kvc:"recommendations"`
	KeyRMSE              float64    `kvc:"key_rmse"`
	KeySNRDb             float64    `kvc:"key_snr_db"`
	KeyCosine            float64    `kvc:"key_cosine"`
	KeyMaxError          float64    `kvc:"key_max_error"`
	ValueRMSE            float64    `kvc:"value_rmse"`
	ValueSNRDb           float64    `kvc:"value_snr_db"`
	ValueCosine          float64    `kvc:"value_cosine"`
	ValueMaxError        float64    `kvc:"value_max_error"`
	RMSE                 float64    `kvc:"rmse"`
	SNRDb                float64    `kvc:"snr_db"`
	Cosine               float64    `kvc:"cosine"`
	MaxError             float64    `kvc:"max_error"`
	AttentionCoverage    float64    `kvc:"attention_coverage"`
	AttentionOutputError float64    `kvc:"attention_output_error"`
	AttentionKL          float64    `kvc:"attention_kl"`
	TopKOverlap          float64    `kvc:"topk_overlap"`
	InformationLoss      float64    `kvc:"information_loss"`
	TokensTotal          uint64     `kvc:"tokens_total"`
	TokensKept           uint64     `kvc:"tokens_kept"`
	ReportBytes          [1024]byte `kvc:"report"`
}

// Report is the validation's text: violations, warnings, recommendations, one per line.
func (v *Validation) Report() string { return cString(v.ReportBytes[:]) }

// Validate checks a blob against the cache it was made from. p nil: defaults; adapter nil: none;
// qshape nil and queries empty: no queries. keys, values and queries must hold their shapes'
// extents, as for CompressWithQueries.
func (c *Context) Validate(p *ValidateParams, adapter *Adapter, shape Shape, keys, values []byte,
	qshape *QueryShape, queries, blob []byte) (Validation, error) {
	v := Validation{StructSize: uint32(unsafe.Sizeof(Validation{}))}
	var a *C.kvc_adapter
	if adapter != nil {
		a = adapter.handle()
	}
	err := c.call(func(ptr *C.kvc_context) error {
		return check(ptr, C.kvc_validate(ptr, (*C.kvc_validate_params)(unsafe.Pointer(p)), a,
			shape.c(), bytesPtr(keys), C.size_t(len(keys)), bytesPtr(values), C.size_t(len(values)),
			qshape.c(), bytesPtr(queries), C.size_t(len(queries)), bytesPtr(blob), C.size_t(len(blob)),
			(*C.kvc_validation)(unsafe.Pointer(&v))))
	})
	runtime.KeepAlive(adapter)
	if err != nil {
		return Validation{}, err
	}
	return v, nil
}
