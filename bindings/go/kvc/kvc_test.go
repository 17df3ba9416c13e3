// kvc_test.go: the Go binding over a real cache: round trips, errors, progress, adapters, files.
package kvc

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

func dataPath(t testing.TB, name string) string {
	dir := os.Getenv("KVC_TEST_DATA_DIR")
	if dir == "" {
		dir = repoPath("build", "data")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s missing (scripts/build.sh writes it; set KVC_TEST_DATA_DIR): %v", path, err)
	}
	return path
}

func newContext(t testing.TB) *Context {
	c, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// realCache loads stories260K: real keys and values of a real model.
func realCache(t testing.TB, c *Context) (Shape, []byte, []byte) {
	cache, err := c.LoadCache(dataPath(t, "stories260K.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	return cache.Shape(), cache.Keys(), cache.Values()
}

func TestVersionOfTheLoadedLibraryIsTheHeaders(t *testing.T) {
	if LibraryVersionNumber() != VersionNumber {
		t.Fatalf("library %d, header %d", LibraryVersionNumber(), VersionNumber)
	}
	if !strings.HasPrefix(LibraryVersion(), "0.") {
		t.Fatalf("version string %q", LibraryVersion())
	}
	if DeviceCount(DeviceCPU) != 1 {
		t.Fatalf("CPU devices: %d", DeviceCount(DeviceCPU))
	}
}

func TestStatusNamesComeFromTheLibrary(t *testing.T) {
	if StatusCorruptData.String() != "KVC_ERR_CORRUPT_DATA" || Status(42).String() != "KVC_ERR_UNKNOWN" {
		t.Fatalf("%s %s", StatusCorruptData, Status(42))
	}
}

func TestRealCacheRoundTripsWithinTheQualityThresholds(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	p := DefaultCompressParams()
	p.KeyBits, p.ValueBits = 8, 8
	p.SetModelName("stories260K")
	blob, m, err := c.Compress(&p, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	if m.CompressedBytes != uint64(len(blob)) || m.OriginalBytes != uint64(2*shape.TensorBytes()) || m.CompressionRatio <= 1 {
		t.Fatalf("metrics %+v for a %d-byte blob", m, len(blob))
	}
	info, err := c.Inspect(blob)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumLayers != shape.NumLayers || info.KeyBits != 8 || info.ModelName() != "stories260K" ||
		!strings.HasPrefix(info.Producer(), "kvc ") {
		t.Fatalf("info %+v", info)
	}
	if err := c.Verify(blob); err != nil {
		t.Fatal(err)
	}
	k2, v2, err := c.Decompress(nil, blob)
	if err != nil {
		t.Fatal(err)
	}
	if len(k2) != len(keys) || len(v2) != len(values) {
		t.Fatalf("decoded %d/%d bytes, want %d", len(k2), len(v2), len(keys))
	}
	q, err := c.QualityCompare(nil, shape, keys, values, shape, k2, v2)
	if err != nil {
		t.Fatal(err)
	}
	if q.Passed != 1 || q.KeyCosine < 0.99 || q.ValueCosine < 0.99 {
		t.Fatalf("8-bit quality %+v", q)
	}
	if QualityLevelName(q.Level) == "UNKNOWN" {
		t.Fatalf("level %d", q.Level)
	}
}

func TestLosslessModeGivesTheSameBytesAndOneLayerDecodes(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	p := DefaultCompressParams()
	p.KeyBits, p.ValueBits = 16, 16
	blob, _, err := c.Compress(&p, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	k2, v2, err := c.Decompress(nil, blob)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k2, keys) || !bytes.Equal(v2, values) {
		t.Fatal("lossless round trip changed bytes")
	}
	d := DefaultDecompressParams()
	d.FirstLayer, d.NumLayers = 1, 1
	k1, _, err := c.Decompress(&d, blob)
	if err != nil {
		t.Fatal(err)
	}
	layer := shape.TensorBytes() / int(shape.NumLayers)
	if !bytes.Equal(k1, keys[layer:2*layer]) {
		t.Fatal("layer 1 alone differs from layer 1 of the whole")
	}
}

func TestCompressLayersEqualsCompressOfThePackedCache(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	p := DefaultCompressParams()
	whole, _, err := c.Compress(&p, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	layer := shape.TensorBytes() / int(shape.NumLayers)
	var kl, vl [][]byte
	for l := 0; l < int(shape.NumLayers); l++ {
		kl = append(kl, keys[l*layer:(l+1)*layer])
		vl = append(vl, values[l*layer:(l+1)*layer])
	}
	layered, _, err := c.CompressLayers(&p, shape, kl, vl)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(whole, layered) {
		t.Fatal("kvc_compress_layers and kvc_compress differ")
	}
}

func TestErrorsCarryStatusAndMessageAndMatchSentinels(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	p := DefaultCompressParams()
	p.GroupSize = 48
	_, _, err := c.Compress(&p, shape, keys, values)
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusInvalidArgument || !strings.Contains(e.Message, "48") {
		t.Fatalf("group_size 48: %v", err)
	}
	if !errors.Is(err, ErrInvalidArgument) || errors.Is(err, ErrCorruptData) {
		t.Fatalf("errors.Is on %v", err)
	}
	p = DefaultCompressParams()
	blob, _, err := c.Compress(&p, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	blob[len(blob)/2] ^= 0x40
	if err := c.Verify(blob); !errors.Is(err, ErrCorruptData) || c.LastError() == "" {
		t.Fatalf("flipped bit: %v", err)
	}
	if _, _, err := c.Decompress(nil, blob[:7]); !errors.Is(err, ErrCorruptData) {
		t.Fatalf("7 bytes: %v", err)
	}
	if _, err := c.LoadCache(filepath.Join(t.TempDir(), "missing.safetensors")); !errors.Is(err, ErrIO) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestProgressReportsEveryChunk(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	var calls, last, total uint64
	if err := c.SetProgress(func(done, all uint64) { calls, last, total = calls+1, done, all }); err != nil {
		t.Fatal(err)
	}
	blob, _, err := c.Compress(nil, shape, keys, values)
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || last != total || total != 2*uint64(shape.NumLayers) {
		t.Fatalf("progress: %d calls, last %d of %d", calls, last, total)
	}
	if err := c.SetProgress(nil); err != nil {
		t.Fatal(err)
	}
	calls = 0
	if _, _, err := c.Decompress(nil, blob); err != nil || calls != 0 {
		t.Fatalf("cleared callback still called %d times (%v)", calls, err)
	}
}

func TestCacheFilesSaveAndLoadTheSameTensors(t *testing.T) {
	c := newContext(t)
	shape, keys, values := realCache(t, c)
	path := filepath.Join(t.TempDir(), "copy.safetensors")
	if err := c.SaveCache(path, shape, keys, values, "copy-model"); err != nil {
		t.Fatal(err)
	}
	cache, err := c.LoadCache(path)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	if cache.Shape() != shape || cache.ModelName() != "copy-model" ||
		!bytes.Equal(cache.Keys(), keys) || !bytes.Equal(cache.Values(), values) {
		t.Fatalf("reloaded %+v %q", cache.Shape(), cache.ModelName())
	}
}

func TestAdaptersComeFromTheRegistryAndFromConfigs(t *testing.T) {
	if AdapterCount() < 10 {
		t.Fatalf("%d adapters", AdapterCount())
	}
	a, err := FindAdapter("Llama-3-8B")
	if err != nil {
		t.Fatal(err)
	}
	info, err := a.Info()
	if err != nil || info.Name() != "llama-3-8b" || info.IsBuiltin != 1 || info.NumKVHeads != 8 {
		t.Fatalf("%+v %v", info, err)
	}
	if AttentionTypeName(info.AttentionType) != "causal" {
		t.Fatalf("attention %d", info.AttentionType)
	}
	first, err := AdapterAt(0)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	if _, err := AdapterAt(AdapterCount()); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("index past the end: %v", err)
	}
	if _, err := FindAdapter("no-such-model"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unknown name: %v", err)
	}
	c := newContext(t)
	cfg := []byte(`{"model_type":"llama","num_hidden_layers":2,"num_attention_heads":4,` +
		`"num_key_value_heads":2,"hidden_size":64,"rope_theta":10000,"max_position_embeddings":512}`)
	built, err := c.AdapterFromHFConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer built.Close()
	bi, err := built.Info()
	if err != nil || bi.NumLayers != 2 || bi.HeadDim != 16 || bi.IsBuiltin != 0 {
		t.Fatalf("%+v %v", bi, err)
	}
	if _, err := c.AdapterFromHFConfig([]byte("[1]")); !errors.Is(err, ErrCorruptData) {
		t.Fatalf("not an object: %v", err)
	}
}

func TestTypedSlicesViewTheSameMemory(t *testing.T) {
	f := []float32{1, -2.5, float32(math.Inf(1))}
	b := Float32Bytes(f)
	if len(b) != 12 || BytesFloat32(b)[1] != -2.5 || &BytesFloat32(b)[0] != &f[0] {
		t.Fatal("float32 view")
	}
	u := []uint16{0x3c00, 0xbc00}
	if len(Uint16Bytes(u)) != 4 || BytesUint16(Uint16Bytes(u))[1] != 0xbc00 {
		t.Fatal("uint16 view")
	}
}

func TestSmallF32CacheCompressesFromTypedSlices(t *testing.T) {
	c := newContext(t)
	shape := NewShape(1, 2, 64, 32, DTypeF32)
	n := shape.TensorBytes() / 4
	keys, values := make([]float32, n), make([]float32, n)
	for i := range keys {
		keys[i] = float32(math.Sin(float64(i) * 0.1))
		values[i] = float32(math.Cos(float64(i) * 0.07))
	}
	p := DefaultCompressParams()
	p.KeyBits, p.ValueBits = 16, 16
	blob, _, err := c.Compress(&p, shape, Float32Bytes(keys), Float32Bytes(values))
	if err != nil {
		t.Fatal(err)
	}
	k2, _, err := c.Decompress(nil, blob)
	if err != nil {
		t.Fatal(err)
	}
	if got := BytesFloat32(k2); len(got) != n || got[17] != keys[17] {
		t.Fatal("typed round trip")
	}
}

func TestSetStreamOnACPUContextTakesOnlyNil(t *testing.T) {
	c := newContext(t)
	if err := c.SetStream(nil); err != nil {
		t.Fatal(err)
	}
	var notAStream int64
	if err := c.SetStream(unsafe.Pointer(&notAStream)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a stream on a CPU context: %v", err)
	}
}
