// validate_test.go: kvc_validate through the Go binding, with and without queries.
package kvc

import (
	"errors"
	"testing"
)

func TestValidateJudgesAnEightBitBlobAndRejectsACorruptOne(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	p := DefaultCompressParams()
	p.KeyBits, p.ValueBits = 8, 8
	blob, _, err := c.Compress(&p, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	vp := DefaultValidateParams()
	v, err := c.Validate(&vp, nil, shape, keys, values, nil, nil, blob)
	if err != nil {
		t.Fatal(err)
	}
	if v.Passed != 1 || v.KeyCosine < 0.99 || v.Warnings&WarningNoQueries == 0 ||
		v.AttentionCoverage != -1 || v.TokensKept != uint64(shape.NumLayers*shape.NumTokens) {
		t.Fatalf("validation %+v: %s", v, v.Report())
	}
	blob[len(blob)/2] ^= 1
	if _, err := c.Validate(nil, nil, shape, keys, values, nil, nil, blob); !errors.Is(err, ErrCorruptData) {
		t.Fatalf("corrupt blob: %v", err)
	}
}

func TestValidateMeasuresAttentionWithQueriesAndAnAdapter(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	q := DefaultQueryShape()
	q.NumQueryHeads, q.NumQueries, q.HeadDim, q.DType = shape.NumKVHeads, 1, shape.HeadDim, shape.DType
	row := int(shape.HeadDim) * shape.DType.ElementSize()
	var queries []byte
	for h := 0; h < int(shape.NumKVHeads); h++ {
		last := (h*int(shape.NumTokens) + int(shape.NumTokens) - 1) * row
		queries = append(queries, keys[last:last+row]...)
	}
	p := DefaultCompressParams()
	p.Selection, p.KeepRatio = SelectRecency, 0.25
	blob, _, err := c.CompressWithQueries(&p, shape, keys, values, &q, queries)
	if err != nil {
		t.Fatal(err)
	}
	// stories260K's shape: 5 layers, 8 query and 4 KV heads of 8 dims.
	a, err := c.AdapterFromHFConfig([]byte(`{"model_type":"llama","num_hidden_layers":5,` +
		`"num_attention_heads":8,"num_key_value_heads":4,"hidden_size":64}`))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	v, err := c.Validate(nil, a, shape, keys, values, &q, queries, blob)
	if err != nil {
		t.Fatal(err)
	}
	if v.AttentionCoverage <= 0 || v.AttentionCoverage > 1 || v.TopKOverlap < 0 ||
		v.Warnings&WarningNoQueries != 0 || v.Warnings&WarningManyEvicted == 0 || v.InformationLoss <= 0 {
		t.Fatalf("validation %+v: %s", v, v.Report())
	}
}
