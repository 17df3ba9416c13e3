// conformance_test.go: the Go binding replays conformance/manifest.json byte for byte.
package kvc

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

type manifestDecode struct {
	DType        string `json:"dtype"`
	DTypeCode    int32  `json:"dtype_code"`
	FirstLayer   uint32 `json:"first_layer"`
	NumLayers    uint32 `json:"num_layers"`
	Scatter      int32  `json:"scatter"`
	TensorBytes  int    `json:"tensor_bytes"`
	KeysSHA256   string `json:"keys_sha256"`
	ValuesSHA256 string `json:"values_sha256"`
	// Token selection vectors only: kvc_decompress_positions and kvc_decompress_mask.
	LayerCounts []uint32 `json:"layer_counts"`
	Positions   []uint32 `json:"positions"`
	MaskSHA256  string   `json:"mask_sha256"`
}

type manifestVector struct {
	Name       string           `json:"name"`
	File       string           `json:"file"`
	SHA256     string           `json:"sha256"`
	Info       map[string]int64 `json:"info"`
	Decodes    []manifestDecode `json:"decodes"`
	Status     string           `json:"status"`
	StatusCode int32            `json:"status_code"`
}

type manifest struct {
	Valid   []manifestVector `json:"valid"`
	Invalid []manifestVector `json:"invalid"`
}

func conformanceDir() string {
	if dir := os.Getenv("KVC_CONFORMANCE_DIR"); dir != "" {
		return dir
	}
	return repoPath("conformance")
}

func loadManifest(t *testing.T) manifest {
	data, err := os.ReadFile(filepath.Join(conformanceDir(), "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Valid) == 0 || len(m.Invalid) == 0 {
		t.Fatal("the manifest lists no vectors")
	}
	return m
}

func readVector(t *testing.T, v manifestVector) []byte {
	blob, err := os.ReadFile(filepath.Join(conformanceDir(), v.File))
	if err != nil {
		t.Fatal(err)
	}
	if v.SHA256 != "" && hexSHA256(blob) != v.SHA256 {
		t.Fatalf("%s: the file's SHA-256 differs from the manifest's", v.File)
	}
	return blob
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// blobInfoFields maps the manifest's info keys to BlobInfo fields.
func blobInfoFields(i BlobInfo) map[string]int64 {
	return map[string]int64{
		"format_major": int64(i.FormatMajor), "format_minor": int64(i.FormatMinor),
		"num_layers": int64(i.NumLayers), "num_kv_heads": int64(i.NumKVHeads),
		"num_tokens": int64(i.NumTokens), "head_dim": int64(i.HeadDim), "dtype": int64(i.DType),
		"key_bits": int64(i.KeyBits), "value_bits": int64(i.ValueBits),
		"group_size": int64(i.GroupSize), "recent_tokens": int64(i.RecentFullPrecisionTokens),
		"num_chunks": int64(i.NumChunks),
	}
}

func TestConformanceValidVectorsDecodeByteForByte(t *testing.T) {
	c := newContext(t)
	for _, v := range loadManifest(t).Valid {
		blob := readVector(t, v)
		if err := c.Verify(blob); err != nil {
			t.Errorf("%s: verify: %v", v.Name, err)
			continue
		}
		info, err := c.Inspect(blob)
		if err != nil {
			t.Errorf("%s: inspect: %v", v.Name, err)
			continue
		}
		got := blobInfoFields(info)
		for field, want := range v.Info {
			if g, ok := got[field]; !ok || g != want {
				t.Errorf("%s: info %s = %d, manifest %d", v.Name, field, g, want)
			}
		}
		for _, d := range v.Decodes {
			p := DefaultDecompressParams()
			p.DType, p.FirstLayer, p.NumLayers, p.Scatter = DType(d.DTypeCode), d.FirstLayer, d.NumLayers, d.Scatter
			keys, values, err := c.Decompress(&p, blob)
			switch {
			case err != nil:
				t.Errorf("%s %+v: %v", v.Name, d, err)
			case len(keys) != d.TensorBytes || hexSHA256(keys) != d.KeysSHA256 ||
				hexSHA256(values) != d.ValuesSHA256:
				t.Errorf("%s %+v: decoded tensors differ (%d bytes)", v.Name, d, len(keys))
			}
			if d.MaskSHA256 != "" {
				checkPositionsAndMask(t, c, &p, blob, v.Name, d)
			}
		}
	}
}

func TestConformanceInvalidVectorsFailWithTheirStatus(t *testing.T) {
	c := newContext(t)
	for _, v := range loadManifest(t).Invalid {
		blob := readVector(t, v)
		want := Status(v.StatusCode)
		if want.String() != v.Status {
			t.Fatalf("%s: status %d is %s, manifest %s", v.Name, v.StatusCode, want, v.Status)
		}
		if err := c.Verify(blob); !errors.Is(err, want) {
			t.Errorf("%s: verify gave %v, want %s", v.Name, err, v.Status)
		}
		// Into 1 MiB buffers: the status itself, never a request for a larger buffer first.
		keys, values := make([]byte, 1<<20), make([]byte, 1<<20)
		if _, err := c.DecompressInto(nil, blob, keys, values); !errors.Is(err, want) {
			t.Errorf("%s: decompress gave %v, want %s", v.Name, err, v.Status)
		}
	}
}

func checkPositionsAndMask(t *testing.T, c *Context, p *DecompressParams, blob []byte, name string, d manifestDecode) {
	counts, positions, err := c.DecompressPositions(p, blob)
	if err != nil || !equalUint32(counts, d.LayerCounts) || !equalUint32(positions, d.Positions) {
		t.Errorf("%s %+v: positions %v %v (%v)", name, d, counts, positions, err)
	}
	mask, err := c.DecompressMask(p, blob)
	if err != nil || hexSHA256(mask) != d.MaskSHA256 {
		t.Errorf("%s %+v: mask differs (%v)", name, d, err)
	}
}

func equalUint32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
