//go:build !linux

package bench

import "errors"

func pinProcess(int) error { return errors.New("bench: --pin needs Linux") }
