//go:build !unix

package main

import "os"

// openNoWait is a plain open where there are no named pipes to wait on.
func openNoWait(name string) (*os.File, error) { return os.Open(name) }
