// bounds_test.go: every slice goes to kvc with its length: a slice shorter than its shape fails
// with ErrInvalidArgument naming both sizes, and kvc never reads (or saves) past it.
package kvc

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// wantSizeError checks that err is an *Error of StatusInvalidArgument whose message names
// every number in sizes.
func wantSizeError(t *testing.T, what string, err error, sizes ...int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusInvalidArgument {
		t.Fatalf("%s: got %v, want an *Error with KVC_ERR_INVALID_ARGUMENT", what, err)
	}
	for _, n := range sizes {
		if !strings.Contains(e.Message, strconv.Itoa(n)) {
			t.Fatalf("%s: message %q does not name %d", what, e.Message, n)
		}
	}
}

func TestShapeExtentCountsStridesAndLayers(t *testing.T) {
	packed := NewShape(3, 2, 16, 8, DTypeF16)
	tensor, layer, err := packed.Extent()
	if err != nil || tensor != packed.TensorBytes() || layer != tensor/3 {
		t.Fatalf("packed: %d, %d (%v); TensorBytes %d", tensor, layer, err, packed.TensorBytes())
	}
	strided := packed
	strided.LayerStride = 2 * 2 * 16 * 8 // a gap of one layer between layers
	tensor, layer, err = strided.Extent()
	if err != nil || layer != 2*16*8*2 || tensor != (2*int(strided.LayerStride))*2+layer {
		t.Fatalf("strided: %d, %d (%v)", tensor, layer, err)
	}
	bad := packed
	bad.NumTokens = 0
	if _, _, err := bad.Extent(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("0 tokens: %v", err)
	}
	q := DefaultQueryShape()
	q.NumQueryHeads, q.NumQueries, q.HeadDim, q.DType = 4, 2, 8, DTypeF32
	if n, err := q.Extent(3); err != nil || n != 4*2*8*4 {
		t.Fatalf("queries for all layers: %d (%v)", n, err)
	}
	q.PerLayer = 1
	if n, err := q.Extent(3); err != nil || n != 3*4*2*8*4 {
		t.Fatalf("queries per layer: %d (%v)", n, err)
	}
	q.HeadDim = 0
	if _, err := q.Extent(3); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("head_dim 0: %v", err)
	}
}

func TestCompressReadsExactlyTheStridedExtent(t *testing.T) {
	c := newContext(t)
	shape := NewShape(3, 2, 16, 8, DTypeF32)
	shape.LayerStride = 2 * 2 * 16 * 8
	extent, _, err := shape.Extent()
	if err != nil {
		t.Fatal(err)
	}
	keys, values := make([]byte, extent), make([]byte, extent)
	for i := range keys {
		keys[i], values[i] = byte(i%7), byte(i%5) // small finite floats
	}
	if _, _, err := c.Compress(nil, shape, keys, values); err != nil {
		t.Fatalf("slices of exactly the extent: %v", err)
	}
	_, _, err = c.Compress(nil, shape, keys, values[:extent-4])
	wantSizeError(t, "values one element short", err, extent-4, extent)
}

func TestCompressOfSixteenByteSlicesAndALargeShapeFails(t *testing.T) {
	c := newContext(t)
	shape := NewShape(32, 8, 4096, 128, DTypeF16) // 256 MiB of keys
	extent, _, err := shape.Extent()
	if err != nil {
		t.Fatal(err)
	}
	small := make([]byte, 16)
	_, _, err = c.Compress(nil, shape, small, small)
	wantSizeError(t, "Compress", err, 16, extent)
	_, _, err = c.CompressWithQueries(nil, shape, small, small, nil, nil)
	wantSizeError(t, "CompressWithQueries", err, 16, extent)
	_, err = c.Benchmark(nil, shape, small, small, nil, nil, 1)
	wantSizeError(t, "Benchmark", err, 16, extent)
	_, err = c.Validate(nil, nil, shape, small, small, nil, nil, []byte("not a blob"))
	wantSizeError(t, "Validate", err, 16, extent)
	_, err = c.QualityCompare(nil, shape, small, small, shape, small, small)
	wantSizeError(t, "QualityCompare", err, 16, extent)
}

func TestSaveCacheOfShortSlicesFailsAndWritesNoFile(t *testing.T) {
	c := newContext(t)
	shape, keys, _ := realCache(t, c)
	dir := t.TempDir()
	path := filepath.Join(dir, "short.safetensors")
	short := make([]byte, 64)
	err := c.SaveCache(path, shape, short, short, "short")
	wantSizeError(t, "SaveCache", err, 64, len(keys))
	err = c.SaveCache(path, shape, keys, short, "short")
	wantSizeError(t, "SaveCache with short values", err, 64, len(keys))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("a failed SaveCache left %s", e.Name())
	}
}

func TestCompressLayersChecksTheLayerCountAndEachLayerSize(t *testing.T) {
	c := newContext(t)
	shape := NewShape(2, 2, 16, 8, DTypeF16)
	_, layerBytes, err := shape.Extent()
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.CompressLayers(nil, shape, [][]byte{nil}, [][]byte{nil})
	wantSizeError(t, "one layer for two", err, 1, 2)
	full := make([]byte, layerBytes)
	_, _, err = c.CompressLayers(nil, shape, [][]byte{full, make([]byte, 16)}, [][]byte{full, full})
	wantSizeError(t, "a 16-byte key layer", err, 16, layerBytes)
	_, _, err = c.CompressLayers(nil, shape, [][]byte{full, full}, [][]byte{full, nil})
	wantSizeError(t, "an empty value layer", err, 0, layerBytes)
	_, _, err = c.CompressLayers(nil, shape, [][]byte{full, full}, [][]byte{full})
	wantSizeError(t, "two key layers and one value layer", err, 2, 1)
	if _, _, err := c.CompressLayers(nil, shape, [][]byte{full, full}, [][]byte{full, full}); err != nil {
		t.Fatalf("full layers: %v", err)
	}
}

// perLayerQueries is one query per KV head of the given layers of a cache of shape: per-layer
// queries of fewer layers than the cache when layers < shape.NumLayers.
func perLayerQueries(shape Shape, keys []byte, layers int) (QueryShape, []byte) {
	q := DefaultQueryShape()
	q.NumQueryHeads, q.NumQueries, q.HeadDim, q.DType, q.PerLayer = shape.NumKVHeads, 1, shape.HeadDim, shape.DType, 1
	row := int(shape.HeadDim) * shape.DType.ElementSize()
	layerBytes := shape.TensorBytes() / int(shape.NumLayers)
	var queries []byte
	for l := 0; l < layers; l++ {
		for h := 0; h < int(shape.NumKVHeads); h++ {
			last := l*layerBytes + (h*int(shape.NumTokens)+int(shape.NumTokens)-1)*row
			queries = append(queries, keys[last:last+row]...)
		}
	}
	return q, queries
}

func TestQueriesOfFewerLayersThanTheCacheAreRejected(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	q, queries := perLayerQueries(shape, keys, 1)
	need, err := q.Extent(int(shape.NumLayers))
	if err != nil || need != len(queries)*int(shape.NumLayers) {
		t.Fatalf("extent %d (%v) for %d bytes a layer", need, err, len(queries))
	}
	p := DefaultCompressParams()
	p.Selection, p.AttentionThreshold = SelectAttention, 0.9
	_, _, err = c.CompressWithQueries(&p, shape, keys, values, &q, queries)
	wantSizeError(t, "CompressWithQueries", err, len(queries), need)

	q, all := perLayerQueries(shape, keys, int(shape.NumLayers))
	blob, _, err := c.CompressWithQueries(&p, shape, keys, values, &q, all)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Validate(nil, nil, shape, keys, values, &q, queries, blob)
	wantSizeError(t, "Validate", err, len(queries), need)
	if _, err := c.Validate(nil, nil, shape, keys, values, &q, all, blob); err != nil {
		t.Fatalf("queries of every layer: %v", err)
	}
}

func TestDecompressPositionsOfAMultiLayerBlob(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	if shape.NumLayers < 2 {
		t.Fatalf("%d layers: the test needs several", shape.NumLayers)
	}
	p := DefaultCompressParams()
	p.Selection, p.KeepRatio, p.SinkTokens, p.RecentAlwaysKeptTokens = SelectRecency, 0.5, 4, 8
	blob, m, err := c.Compress(&p, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	counts, positions, err := c.DecompressPositions(nil, blob)
	if err != nil || len(counts) != int(shape.NumLayers) {
		t.Fatalf("%d counts (%v)", len(counts), err)
	}
	total := 0
	for _, n := range counts {
		total += int(n)
	}
	if uint64(total) != m.TokensKept || len(positions) != total*int(shape.NumKVHeads) {
		t.Fatalf("counts %v for %d kept, %d positions", counts, m.TokensKept, len(positions))
	}
	_, err = c.DecompressPositionsInto(nil, blob, make([]uint32, 1), nil)
	wantSizeError(t, "one layer count for every layer", err, 1, int(shape.NumLayers))
	n, err := c.DecompressPositionsInto(nil, blob, nil, make([]uint32, 3))
	if !errors.Is(err, ErrBufferTooSmall) || n != len(positions) {
		t.Fatalf("3 positions: %v, %d needed", err, n)
	}
	d := DefaultDecompressParams()
	d.FirstLayer, d.NumLayers = 1, 1
	one := make([]uint32, 1)
	if n, err := c.DecompressPositionsInto(&d, blob, one, nil); err != nil || one[0] != counts[1] ||
		n != int(counts[1]*shape.NumKVHeads) {
		t.Fatalf("layer 1 alone: %v, %d (%v)", one, n, err)
	}
}

func TestNewContextReportsWhyItFailed(t *testing.T) {
	p := DefaultContextParams()
	p.DeviceIndex = 1
	_, err := NewContextWith(&p)
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusInvalidArgument || !strings.Contains(e.Message, "device_index 1") {
		t.Fatalf("CPU device 1: %v", err)
	}
}
