// status.go: kvc_status as Go errors: Status values, sentinels for errors.Is, and *Error.
package kvc

/*
#include <kvc/kvc.h>
*/
import "C"

// Status is a kvc_status code. A non-OK Status is itself an error, so the sentinels below work
// with errors.Is on any *Error.
type Status int32

// Status codes of kvc.h.
const (
	StatusOK                 Status = 0
	StatusInvalidArgument    Status = 1
	StatusBufferTooSmall     Status = 2
	StatusCorruptData        Status = 3
	StatusUnsupportedVersion Status = 4
	StatusOutOfMemory        Status = 5
	StatusDevice             Status = 6
	StatusIO                 Status = 7
	StatusBusy               Status = 8 // the Context is inside another call; nothing was done
	StatusInternal           Status = 100
)

// Sentinels: errors.Is(err, kvc.ErrCorruptData) is true for every *Error of that status.
var (
	ErrInvalidArgument    error = StatusInvalidArgument
	ErrBufferTooSmall     error = StatusBufferTooSmall
	ErrCorruptData        error = StatusCorruptData
	ErrUnsupportedVersion error = StatusUnsupportedVersion
	ErrOutOfMemory        error = StatusOutOfMemory
	ErrDevice             error = StatusDevice
	ErrIO                 error = StatusIO
	ErrBusy               error = StatusBusy
	ErrInternal           error = StatusInternal
)

// String is the constant's name, e.g. "KVC_ERR_CORRUPT_DATA" (kvc_status_name).
func (s Status) String() string { return C.GoString(C.kvc_status_name(C.kvc_status(s))) }

// Error makes a Status usable as a sentinel error.
func (s Status) Error() string { return s.String() }

// Error is a failed kvc call: its status and the library's message about it.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Status.String()
	}
	return e.Status.String() + ": " + e.Message
}

// Unwrap gives the Status, so errors.Is(err, kvc.ErrCorruptData) matches on the status.
func (e *Error) Unwrap() error { return e.Status }

// statusError is the error of a call that has no context to hold a message.
func statusError(st C.kvc_status, message string) error {
	if st == C.KVC_OK {
		return nil
	}
	return &Error{Status: Status(st), Message: message}
}
