package storage

import (
	"errors"
	"io"
	"io/fs"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// readOnlyFS is the filesystem of a store opened read-only. pebble takes
// its directory lock even in ReadOnly mode, and taking it creates a LOCK
// file that pebble never removes: opening a trusted store to read it would
// leave a file behind in a directory we promise not to write, and on
// shared or packaged stores that litter shows up as a change.
//
// So a LOCK file that did not exist before is removed again when the lock
// is released. The lock itself is unchanged: pebble's exclusive lock,
// which keeps a TrustedWriter (and a second reader) out while we read.
// Removing the file before releasing the lock is safe: a process that
// opens the old file meanwhile finds it locked and gives up, and one that
// comes after creates a new file nobody else holds.
type readOnlyFS struct{ vfs.FS }

func (f readOnlyFS) Lock(name string) (io.Closer, error) {
	_, err := f.FS.Stat(name)
	existed := !errors.Is(err, fs.ErrNotExist)
	l, err := f.FS.Lock(name)
	if err != nil || existed {
		return l, err
	}
	return &removingLock{fs: f.FS, name: name, lock: l}, nil
}

// Unwrap lets pebble see the filesystem underneath (vfs.Root).
func (f readOnlyFS) Unwrap() vfs.FS { return f.FS }

// removingLock deletes its lock file, then releases the lock.
type removingLock struct {
	fs   vfs.FS
	name string
	lock io.Closer
}

func (l *removingLock) Close() error {
	err := l.fs.Remove(l.name)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil // someone removed it already; nothing is left behind
	}
	return errors.Join(err, l.lock.Close())
}
