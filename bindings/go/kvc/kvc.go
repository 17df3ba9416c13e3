// kvc.go: package kvc, the cgo binding of libkvc's C API 0.2 (include/kvc/kvc.h, the core, and
// include/kvc/kvc_tools.h, the tools); version and helpers.

// Package kvc compresses LLM key/value caches through libkvc's C API (version 0.2).
//
// Every C object is a Go handle with Close (a finalizer is only a safety net); every failure is
// an *Error carrying the kvc status and the context's message, matched with errors.Is against
// the sentinels ErrInvalidArgument, ErrCorruptData, ErrBusy, ... Buffers go in and out as byte
// slices (Float32Bytes, Uint16Bytes and their inverses convert typed slices without copying).
// The library is found with pkg-config (kvc.pc); the structs here mirror the C structs byte for
// byte.
//
// Every slice goes to kvc with its length, so kvc never reads past one: a keys, values or
// queries slice shorter than its shape's extent (Shape.Extent, QueryShape.Extent) fails with
// ErrInvalidArgument, and the message names both sizes.
//
// A Context serves one call at a time: a call made while another runs on it (from another
// goroutine, or from its own progress callback) fails with ErrBusy and does nothing. Close may
// come at any time; during a call it takes effect when the call returns.
package kvc

/*
#cgo pkg-config: kvc
#include <kvc/kvc.h>
*/
import "C"

import "unsafe"

// Versions of the header this package mirrors.
const (
	VersionMajor = 0
	VersionMinor = 2
	VersionPatch = 0
	// VersionNumber is VersionMajor*10000 + VersionMinor*100 + VersionPatch.
	VersionNumber = VersionMajor*10000 + VersionMinor*100 + VersionPatch
	// FormatMajor and FormatMinor are the .kvc format version the header announces.
	FormatMajor = 1
	FormatMinor = 1
)

// LibraryVersionNumber of the library loaded at run time is: MAJOR*10000 + MINOR*100 + PATCH.
func LibraryVersionNumber() uint32 { return uint32(C.kvc_version_number()) }

// LibraryVersion is "MAJOR.MINOR.PATCH" of the library loaded at run time.
func LibraryVersion() string { return C.GoString(C.kvc_version_string()) }

// bytesPtr is the address of b's first byte, or nil for an empty slice.
func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// cString copies a fixed-size NUL-terminated C char array into a Go string.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// setCString copies s into b, cut to len(b)-1 bytes, NUL-terminated.
func setCString(b []byte, s string) {
	n := copy(b[:len(b)-1], s)
	for i := n; i < len(b); i++ {
		b[i] = 0
	}
}
