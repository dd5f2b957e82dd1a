package guest

import (
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Error types of the failures a guest returns: the Type of its activities'
// temporal.ApplicationErrors. The agent marks each of them non-retryable, so a caller
// needs no NonRetryableErrorTypes list: no retry can mend any of them. Any other failure
// of a guest is retried by the caller's retry policy.
const (
	// ErrInvalid is a request no retry can mend: a reserved or malformed name, an input
	// the engine refuses, an engine that has data already when a restore comes. The API
	// answers it with 400.
	ErrInvalid = "InvalidRequest"
	// ErrNotFound is a request that names a database or user the engine does not have;
	// the API answers it with 404.
	ErrNotFound = "NotFound"
	// ErrExists is a request that would make a database or user that exists already; the
	// API answers it with 400.
	ErrExists = "AlreadyExists"
	// ErrChecksum is a restore whose backup does not match its checksum: the backup is
	// corrupt, and the restore leaves no data behind.
	ErrChecksum = "BackupChecksum"
)

// TimeoutError is a call a guest did not pick up, finish or keep reporting on in time,
// with what that means in an operator's words (Reason): "the guest agent did not start
// polling guestagent.<id> within 10m0s". It wraps Temporal's error, so that
// errors.As(err, new(*temporal.TimeoutError)) still finds the timeout.
type TimeoutError struct {
	reason string
	err    error
}

func (e *TimeoutError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *TimeoutError) Unwrap() error { return e.err }

// Reason says in an operator's words why the call failed.
func (e *TimeoutError) Reason() string { return e.reason }

// timeoutType is the type of the first timeout in err's chain, before any application
// error or cancellation explains it otherwise; TIMEOUT_TYPE_UNSPECIFIED when there is none.
func timeoutType(err error) enumspb.TimeoutType {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch e := e.(type) {
		case *temporal.TimeoutError:
			return e.TimeoutType()
		case *temporal.ApplicationError, *temporal.CanceledError:
			return enumspb.TIMEOUT_TYPE_UNSPECIFIED
		}
	}
	return enumspb.TIMEOUT_TYPE_UNSPECIFIED
}
