// selection_test.go: token selection through the Go binding: queries, kept positions, mask, scatter.
package kvc

import (
	"errors"
	"testing"
)

func TestRecencySelectionKeepsPositionsMaskAndScatters(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	p := DefaultCompressParams()
	p.Selection, p.KeepRatio, p.SinkTokens, p.RecentAlwaysKeptTokens = SelectRecency, 0.25, 4, 16
	blob, m, err := c.Compress(&p, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	if m.TokensKept >= m.TokensTotal*uint64(shape.NumLayers) || m.TokensKept == 0 {
		t.Fatalf("kept %d of %d per layer", m.TokensKept, m.TokensTotal)
	}
	counts, positions, err := c.DecompressPositions(nil, blob)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range counts {
		total += int(n)
	}
	if len(counts) != int(shape.NumLayers) || uint64(total) != m.TokensKept ||
		len(positions) != total*int(shape.NumKVHeads) || positions[0] != 0 ||
		positions[counts[0]-1] != shape.NumTokens-1 {
		t.Fatalf("counts %v, %d positions", counts, len(positions))
	}
	mask, err := c.DecompressMask(nil, blob)
	if err != nil {
		t.Fatal(err)
	}
	ones := 0
	for _, b := range mask {
		ones += int(b)
	}
	if len(mask) != int(shape.NumLayers*shape.NumKVHeads*shape.NumTokens) || ones != len(positions) {
		t.Fatalf("mask of %d bytes with %d ones", len(mask), ones)
	}
	kept, _, err := c.Decompress(nil, blob)
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultDecompressParams()
	d.Scatter = 1
	full, _, err := c.Decompress(&d, blob)
	if err != nil {
		t.Fatal(err)
	}
	if len(full) != len(keys) || len(kept) != total*int(shape.NumKVHeads*shape.HeadDim)*shape.DType.ElementSize() {
		t.Fatalf("scattered %d bytes, kept %d", len(full), len(kept))
	}
}

func TestAttentionSelectionNeedsQueriesAndMeasuresCoverage(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	p := DefaultCompressParams()
	p.Selection, p.AttentionThreshold = SelectAttention, 0.8
	if _, _, err := c.Compress(&p, shape, keys, values); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("attention without queries: %v", err)
	}
	// Queries: the last token's keys of layer 0, one query per KV head.
	q := DefaultQueryShape()
	q.NumQueryHeads, q.NumQueries, q.HeadDim, q.DType = shape.NumKVHeads, 1, shape.HeadDim, shape.DType
	row := int(shape.HeadDim) * shape.DType.ElementSize()
	var queries []byte
	for h := 0; h < int(shape.NumKVHeads); h++ {
		last := (h*int(shape.NumTokens) + int(shape.NumTokens) - 1) * row
		queries = append(queries, keys[last:last+row]...)
	}
	blob, m, err := c.CompressWithQueries(&p, shape, keys, values, &q, queries)
	if err != nil {
		t.Fatal(err)
	}
	if m.AttentionCoverage < 0.8 || m.AttentionCoverage > 1 {
		t.Fatalf("coverage %f", m.AttentionCoverage)
	}
	info, err := c.Inspect(blob)
	if err != nil || info.Selection != SelectAttention || info.TokensKept != m.TokensKept {
		t.Fatalf("info %+v (%v)", info, err)
	}
}
