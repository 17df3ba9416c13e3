// operations_test.go: estimate, validate, benchmark and statistics through the Go binding.
package kvc

import (
	"errors"
	"sync"
	"testing"
)

func TestEstimatePredictsTheShapeAndTheKeptTokens(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	p := DefaultCompressParams()
	p.Selection, p.KeepRatio, p.SinkTokens, p.RecentAlwaysKeptTokens = SelectRecency, 0.5, 4, 16
	e, err := c.Estimate(&p, shape)
	if err != nil {
		t.Fatal(err)
	}
	_, m, err := c.Compress(&p, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	if e.OriginalBytes != m.OriginalBytes || e.ExactTokens != 1 || e.TokensKept != m.TokensKept ||
		e.CompressedBytes == 0 || e.CompressionRatio <= 1 {
		t.Fatalf("estimate %+v, compress %+v", e, m)
	}
	p.GroupSize = 48
	if _, err := c.Estimate(&p, shape); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("group 48: %v", err)
	}
}

func TestBenchmarkTimesRepeatedCallsAndJudgesQuality(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	p := DefaultCompressParams()
	p.KeyBits, p.ValueBits = 8, 8
	r, err := c.Benchmark(&p, shape, keys, values, nil, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.Iterations != 3 || r.CompressMsMedian <= 0 || r.DecompressMsMedian <= 0 ||
		r.CompressMsP99 < r.CompressMsMedian || r.QualityPassed != 1 {
		t.Fatalf("benchmark %+v", r)
	}
}

func TestStatsCountCallsPerModelAcrossGoroutines(t *testing.T) {
	s, err := NewStats()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	if err := c.SetStats(s); err != nil {
		t.Fatal(err)
	}
	p := DefaultCompressParams()
	p.SetModelName("stories")
	blob, m, err := c.Compress(&p, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Decompress(nil, blob); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Record("other", m) }()
	}
	wg.Wait()
	got, err := s.Get("stories")
	if err != nil || got.CompressCalls != 1 || got.DecompressCalls != 1 || got.OriginalBytes != m.OriginalBytes {
		t.Fatalf("stories %+v (%v)", got, err)
	}
	other, err := s.At(1)
	if err != nil || other.ModelName() != "other" || other.CompressCalls != 4 || s.ModelCount() != 2 {
		t.Fatalf("other %+v (%v), %d models", other, err, s.ModelCount())
	}
	if _, err := s.Get("nobody"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unknown model: %v", err)
	}
	if err := c.SetStats(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetAll(); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.Get("stories"); g.CompressCalls != 0 {
		t.Fatalf("after reset %+v", g)
	}
}

func TestAdapterPolicyFillsParamsAndShape(t *testing.T) {
	a, err := FindAdapter("llama-3-8b")
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.CacheShape(1024, DTypeBF16)
	if err != nil || s.NumLayers != 32 || s.NumKVHeads != 8 || s.NumTokens != 1024 || s.HeadDim != 128 {
		t.Fatalf("shape %+v (%v)", s, err)
	}
	p := DefaultCompressParams()
	if err := a.ApplyTo(&p); err != nil || p.ModelName() == "" {
		t.Fatalf("params %+v (%v)", p, err)
	}
}
