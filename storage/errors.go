package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
)

// Errors returned by this package. Match them with errors.Is: they usually
// come wrapped with the key or directory concerned.
var (
	// ErrNotFound: neither store holds the key.
	ErrNotFound = errors.New("storage: not found")
	// ErrClosed: the DB was closed, or its writer stopped.
	ErrClosed = errors.New("storage: closed")
	// ErrTrusted: the key is in the trusted store, which is read-only while
	// serving. A Put that gets it has nothing to do: the entry is already
	// durable, and lookups return the trusted copy.
	ErrTrusted = errors.New("storage: key is in the trusted store")
	// ErrCorrupt: stored bytes (an entry, a key, or pebble's own files)
	// failed their checks.
	ErrCorrupt = errors.New("storage: corrupt data")
	// ErrFormat: the store was written in a format this version does not
	// read, or is not a capsengine store at all.
	ErrFormat = errors.New("storage: unsupported store format")
	// ErrLocked: another process (or another DB in this process) has the
	// store open.
	ErrLocked = errors.New("storage: store is locked by another process")
	// ErrFailed: a write to the disk failed (disk full, I/O error) and the
	// user store refuses further writes until it is closed and opened
	// again; pebble cannot resume its commit pipeline after a failed WAL
	// write. Lookups keep working. Nothing that was acknowledged is lost.
	ErrFailed = errors.New("storage: store failed after a write error; reopen it")
	// ErrTooLarge: an entry whose encoding exceeds MaxEntrySize.
	ErrTooLarge = errors.New("storage: entry too large")
)

// OpenError reports a store that Open or OpenTrustedWriter could not open:
// which store, its directory, and why. Err wraps fs.ErrNotExist (a
// read-only store whose directory is missing), fs.ErrPermission, ErrLocked,
// ErrFormat or ErrCorrupt, among others; match those with errors.Is through
// the OpenError, and use errors.As to get the store and directory.
type OpenError struct {
	Source Source
	Dir    string
	Err    error
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("storage: open %s store %s: %v", e.Source, e.Dir, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// translate maps a pebble error to this package's sentinels, keeping the
// original in the chain for errors.Is / errors.As.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pebble.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, pebble.ErrClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	case pebble.IsCorruptionError(err):
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	case isLockError(err):
		return fmt.Errorf("%w: %w", ErrLocked, err)
	}
	return err
}

// isLockError recognises the two ways pebble reports a held directory lock:
// fcntl's EAGAIN/EACCES from another process, and a plain error from its
// in-process lock table, which has no sentinel to match.
func isLockError(err error) bool {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		// Creating the LOCK file failed (permissions, missing directory):
		// not a lock held by someone else.
		return false
	}
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "lock held by current process")
}

// fatalError is what the pebble logger adapter panics with when pebble calls
// Fatalf; the writer recovers it around a commit and fails the store.
type fatalError struct {
	msg  string
	errs []error
}

func (f *fatalError) Error() string   { return f.msg }
func (f *fatalError) Unwrap() []error { return f.errs }
