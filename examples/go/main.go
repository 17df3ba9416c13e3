// main.go: compresses a real KV cache (safetensors) with the Go binding (kvc API 0.2) and prints
// the metrics.
//
//	go run . build/data/stories260K.safetensors
package main

import (
	"fmt"
	"os"

	"kvc.dev/kvc"
)

func run(path string) error {
	ctx, err := kvc.NewContext()
	if err != nil {
		return err
	}
	defer ctx.Close()
	cache, err := ctx.LoadCache(path)
	if err != nil {
		return err
	}
	defer cache.Close()
	shape, keys, values := cache.Shape(), cache.Keys(), cache.Values()
	// Every slice goes to kvc with its length; each must span the shape's extent.
	tensorBytes, layerBytes, err := shape.Extent()
	if err != nil {
		return err
	}

	params := kvc.DefaultCompressParams()
	params.SetModelName(cache.ModelName())
	blob, m, err := ctx.Compress(&params, shape, keys, values)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d layers x %d kv heads x %d tokens x %d dims: keys and values of %d bytes each (%d a layer)\n",
		cache.ModelName(), shape.NumLayers, shape.NumKVHeads, shape.NumTokens, shape.HeadDim,
		tensorBytes, layerBytes)
	fmt.Printf("original %d bytes, compressed %d bytes: ratio %.2f, savings %.1f%%, %.2f bits/element, %.2f ms\n",
		m.OriginalBytes, m.CompressedBytes, m.CompressionRatio, m.BandwidthSavingsPercent,
		m.BitsPerElement, m.CompressMs)

	k2, v2, err := ctx.Decompress(nil, blob)
	if err != nil {
		return err
	}
	q, err := ctx.QualityCompare(nil, shape, keys, values, shape, k2, v2)
	if err != nil {
		return err
	}
	fmt.Printf("quality %s: key cosine %.4f, value cosine %.4f, SNR %.1f dB\n",
		kvc.QualityLevelName(q.Level), q.KeyCosine, q.ValueCosine, q.SNRDb)
	return nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: compresscache CACHE.safetensors")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
