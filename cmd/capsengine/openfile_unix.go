//go:build unix

package main

import (
	"os"
	"syscall"
)

// openNoWait opens name for reading with O_NONBLOCK, which makes opening a
// named pipe return at once instead of waiting for a writer, and O_NOCTTY,
// so that opening a terminal device cannot make it ours. Neither changes
// how a regular file reads.
func openNoWait(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}
