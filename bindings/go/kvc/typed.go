// typed.go: typed slices in and out: views of []float32 and []uint16 (fp16/bf16 bits) as bytes.
package kvc

import "unsafe"

// Float32Bytes views s as little-endian bytes without copying (kvc runs on little-endian hosts).
func Float32Bytes(s []float32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s))
}

// Uint16Bytes views fp16 or bf16 bits as bytes without copying.
func Uint16Bytes(s []uint16) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 2*len(s))
}

// BytesFloat32 views b (length a multiple of 4, 4-byte aligned as Go allocates it) as float32s.
func BytesFloat32(b []byte) []float32 {
	if len(b) < 4 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// BytesUint16 views b as fp16 or bf16 bits.
func BytesUint16(b []byte) []uint16 {
	if len(b) < 2 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2)
}
