// bench_test.go: Go benchmarks of compress and decompress on the real stories260K cache.
package kvc

import "testing"

func BenchmarkCompress4Bit(b *testing.B) {
	c := newContext(b)
	shape, keys, values := realCache(b, c)
	p := DefaultCompressParams()
	b.SetBytes(int64(len(keys) + len(values)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := c.Compress(&p, shape, keys, values); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecompress4Bit(b *testing.B) {
	c := newContext(b)
	shape, keys, values := realCache(b, c)
	p := DefaultCompressParams()
	blob, _, err := c.Compress(&p, shape, keys, values)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(keys) + len(values)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := c.Decompress(nil, blob); err != nil {
			b.Fatal(err)
		}
	}
}
