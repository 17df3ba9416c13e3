// query_file_test.go: the real queries of stories260K steer attention selection from Go.
package kvc

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestRealQueriesSteerAttentionSelection(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	f, err := c.LoadQueryFile(dataPath(t, "stories260K.queries.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	q, layers, err := f.Shape()
	if err != nil || layers != int(shape.NumLayers) || q.PerLayer != 1 || q.HeadDim != shape.HeadDim {
		t.Fatalf("query shape %+v, %d layers (%v)", q, layers, err)
	}
	queries, err := f.Data()
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultCompressParams()
	p.Selection, p.AttentionThreshold = SelectAttention, 0.9
	blob, m, err := c.CompressWithQueries(&p, shape, keys, values, &q, queries)
	if err != nil {
		t.Fatal(err)
	}
	if m.AttentionCoverage < 0.9 || m.TokensKept == 0 {
		t.Fatalf("metrics %+v", m)
	}
	v, err := c.Validate(nil, nil, shape, keys, values, &q, queries, blob)
	if err != nil || v.AttentionCoverage < 0.9 {
		t.Fatalf("validation %+v (%v)", v, err)
	}
	if _, err := c.LoadQueryFile(filepath.Join(t.TempDir(), "none.safetensors")); !errors.Is(err, ErrIO) {
		t.Fatalf("missing file: %v", err)
	}
}
