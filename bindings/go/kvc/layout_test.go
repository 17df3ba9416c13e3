// layout_test.go: the Go mirrors of kvc.h's and kvc_tools.h's structs and constants against
// build/layout.json.
package kvc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

type layoutField struct {
	Name   string  `json:"name"`
	Offset uintptr `json:"offset"`
	Size   uintptr `json:"size"`
}

type layoutStruct struct {
	Size   uintptr       `json:"size"`
	Align  uintptr       `json:"align"`
	Fields []layoutField `json:"fields"`
}

type layoutFile struct {
	Headers   []string                `json:"headers"` // the headers dumped, e.g. "kvc/kvc.h"
	Structs   map[string]layoutStruct `json:"structs"`
	Constants map[string]int64        `json:"constants"`
}

// mirrors maps each C struct to its Go mirror.
var mirrors = map[string]reflect.Type{
	"kvc_context_params":     reflect.TypeOf(ContextParams{}),
	"kvc_cache_shape":        reflect.TypeOf(Shape{}),
	"kvc_compress_params":    reflect.TypeOf(CompressParams{}),
	"kvc_metrics":            reflect.TypeOf(Metrics{}),
	"kvc_blob_info":          reflect.TypeOf(BlobInfo{}),
	"kvc_decompress_params":  reflect.TypeOf(DecompressParams{}),
	"kvc_quality_thresholds": reflect.TypeOf(QualityThresholds{}),
	"kvc_quality":            reflect.TypeOf(Quality{}),
	"kvc_adapter_info":       reflect.TypeOf(AdapterInfo{}),
	"kvc_query_shape":        reflect.TypeOf(QueryShape{}),
	"kvc_validate_params":    reflect.TypeOf(ValidateParams{}),
	"kvc_validation":         reflect.TypeOf(Validation{}),
	"kvc_estimate_result":    reflect.TypeOf(EstimateResult{}),
	"kvc_benchmark_result":   reflect.TypeOf(BenchmarkResult{}),
	"kvc_model_stats":        reflect.TypeOf(ModelStats{}),
}

// constants maps each C constant to its Go mirror.
var constants = map[string]int64{
	"KVC_VERSION_MAJOR": VersionMajor, "KVC_VERSION_MINOR": VersionMinor,
	"KVC_VERSION_PATCH": VersionPatch, "KVC_VERSION_NUMBER": VersionNumber,
	"KVC_FORMAT_MAJOR": FormatMajor, "KVC_FORMAT_MINOR": FormatMinor,
	"KVC_OK": int64(StatusOK), "KVC_ERR_INVALID_ARGUMENT": int64(StatusInvalidArgument),
	"KVC_ERR_BUFFER_TOO_SMALL": int64(StatusBufferTooSmall), "KVC_ERR_CORRUPT_DATA": int64(StatusCorruptData),
	"KVC_ERR_UNSUPPORTED_VERSION": int64(StatusUnsupportedVersion),
	"KVC_ERR_OUT_OF_MEMORY":       int64(StatusOutOfMemory), "KVC_ERR_DEVICE": int64(StatusDevice),
	"KVC_ERR_IO": int64(StatusIO), "KVC_ERR_BUSY": int64(StatusBusy), "KVC_ERR_INTERNAL": int64(StatusInternal),
	"KVC_DTYPE_F32": int64(DTypeF32), "KVC_DTYPE_F16": int64(DTypeF16), "KVC_DTYPE_BF16": int64(DTypeBF16),
	"KVC_DTYPE_AS_STORED": int64(DTypeAsStored),
	"KVC_DEVICE_CPU":      int64(DeviceCPU), "KVC_DEVICE_CUDA": int64(DeviceCUDA),
	"KVC_SELECT_NONE": SelectNone, "KVC_SELECT_ATTENTION": SelectAttention,
	"KVC_SELECT_KEY_NORM": SelectKeyNorm, "KVC_SELECT_RECENCY": SelectRecency,
	"KVC_SHUFFLE_AUTO": ShuffleAuto, "KVC_SHUFFLE_OFF": ShuffleOff, "KVC_SHUFFLE_ON": ShuffleOn,
	"KVC_QUALITY_POOR": QualityPoor, "KVC_QUALITY_ACCEPTABLE": QualityAcceptable,
	"KVC_QUALITY_GOOD": QualityGood, "KVC_QUALITY_EXCELLENT": QualityExcellent,
	"KVC_VIOLATION_KEY_COSINE": ViolationKeyCosine, "KVC_VIOLATION_VALUE_COSINE": ViolationValueCosine,
	"KVC_VIOLATION_KEY_SNR": ViolationKeySNR, "KVC_VIOLATION_VALUE_SNR": ViolationValueSNR,
	"KVC_VIOLATION_NON_FINITE":         ViolationNonFinite,
	"KVC_VIOLATION_ATTENTION_COVERAGE": ViolationAttentionCoverage,
	"KVC_VIOLATION_ATTENTION_ERROR":    ViolationAttentionError,
	"KVC_ATTENTION_CAUSAL":             AttentionCausal, "KVC_ATTENTION_BIDIRECTIONAL": AttentionBidirectional,
	"KVC_ATTENTION_SLIDING_WINDOW": AttentionSlidingWindow, "KVC_ATTENTION_SPARSE": AttentionSparse,
	"KVC_ATTENTION_LATENT":   AttentionLatent,
	"KVC_WARNING_NO_QUERIES": WarningNoQueries, "KVC_WARNING_MANY_EVICTED": WarningManyEvicted,
	"KVC_WARNING_SHAPE_FROM_INPUT":     WarningShapeFromInput,
	"KVC_WARNING_QUALITY_TO_SPARE":     WarningQualityToSpare,
	"KVC_RECOMMEND_MORE_KEY_BITS":      RecommendMoreKeyBits,
	"KVC_RECOMMEND_MORE_VALUE_BITS":    RecommendMoreValueBits,
	"KVC_RECOMMEND_SMALLER_GROUPS":     RecommendSmallerGroups,
	"KVC_RECOMMEND_MORE_RECENT_TOKENS": RecommendMoreRecentTokens,
	"KVC_RECOMMEND_HIGHER_THRESHOLD":   RecommendHigherThreshold,
	"KVC_RECOMMEND_MORE_SINK_TOKENS":   RecommendMoreSinkTokens,
	"KVC_RECOMMEND_FEWER_BITS":         RecommendFewerBits,
	"KVC_RECOMMEND_LOWER_THRESHOLD":    RecommendLowerThreshold,
}

// notYetBound lists what kvc.h declares and this package does not mirror yet.
var notYetBound = map[string]bool{}

// repoPath is a path from the repository root (this file is bindings/go/kvc/layout_test.go).
func repoPath(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", ".."}, parts...)...)
}

func loadLayout(t *testing.T) layoutFile {
	path := os.Getenv("KVC_LAYOUT_JSON")
	if path == "" {
		path = repoPath("build", "layout.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("layout.json (set KVC_LAYOUT_JSON; the build writes it): %v", err)
	}
	var l layoutFile
	if err := json.Unmarshal(data, &l); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return l
}

// includedHeaders are the headers this package's cgo preambles include.
var includedHeaders = []string{"kvc/kvc.h", "kvc/kvc_tools.h"}

func TestLayoutCoversTheHeadersThisPackageIncludes(t *testing.T) {
	l := loadLayout(t)
	listed := map[string]bool{}
	for _, h := range l.Headers {
		listed[h] = true
	}
	for _, h := range includedHeaders {
		if !listed[h] {
			t.Errorf("layout.json's headers %q lack %s (a layout.json older than API 0.2?)", l.Headers, h)
		}
		delete(listed, h)
	}
	for h := range listed {
		t.Errorf("layout.json dumps %s, which this package does not include", h)
	}
}

func TestEveryStructMirrorHasTheCLayout(t *testing.T) {
	l := loadLayout(t)
	if len(l.Structs) < 10 {
		t.Fatalf("layout.json lists only %d structs", len(l.Structs))
	}
	for name, cs := range l.Structs {
		goType, ok := mirrors[name]
		if !ok {
			if !notYetBound[name] {
				t.Errorf("%s has no Go mirror", name)
			}
			continue
		}
		if goType.Size() != cs.Size {
			t.Errorf("%s: Go size %d, C size %d", name, goType.Size(), cs.Size)
		}
		if goType.NumField() != len(cs.Fields) {
			t.Errorf("%s: Go has %d fields, C has %d", name, goType.NumField(), len(cs.Fields))
			continue
		}
		for i, cf := range cs.Fields {
			f := goType.Field(i)
			if tag := f.Tag.Get("kvc"); tag != cf.Name {
				t.Errorf("%s field %d: Go %s (tag %q), C %s", name, i, f.Name, tag, cf.Name)
			}
			if f.Offset != cf.Offset || f.Type.Size() != cf.Size {
				t.Errorf("%s.%s: Go offset %d size %d, C offset %d size %d", name, cf.Name,
					f.Offset, f.Type.Size(), cf.Offset, cf.Size)
			}
		}
	}
	for name := range mirrors {
		if _, ok := l.Structs[name]; !ok {
			t.Errorf("Go mirrors %s, which kvc.h does not declare", name)
		}
	}
}

func TestEveryConstantHasTheCValue(t *testing.T) {
	l := loadLayout(t)
	if len(l.Constants) < 40 {
		t.Fatalf("layout.json lists only %d constants", len(l.Constants))
	}
	for name, value := range l.Constants {
		goValue, ok := constants[name]
		switch {
		case !ok && !notYetBound[name]:
			t.Errorf("%s has no Go mirror", name)
		case ok && goValue != value:
			t.Errorf("%s: Go %d, C %d", name, goValue, value)
		}
	}
	for name := range constants {
		if _, ok := l.Constants[name]; !ok {
			t.Errorf("Go mirrors %s, which kvc.h does not declare", name)
		}
	}
}
