package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

// A query whose write or read fails because the connection went is sent
// again after the reconnect; any other failure is the query's.
func TestConnLost(t *testing.T) {
	pipe := &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}
	for _, err := range []error{
		pipe, fmt.Errorf("mellium: %w", pipe), syscall.ECONNRESET, net.ErrClosed, io.EOF,
		fmt.Errorf("XML syntax error: %w", io.ErrUnexpectedEOF),
	} {
		if !connLost(err) {
			t.Errorf("connLost(%v) = false", err)
		}
	}
	for _, err := range []error{errors.New("item-not-found"), ErrSpoofed, ErrTooLarge} {
		if connLost(err) {
			t.Errorf("connLost(%v) = true", err)
		}
	}
}
