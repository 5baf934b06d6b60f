package transport

import (
	"net"
	"testing"
	"time"
)

// TestGuardedConnWrite: a write the peer never reads ends with an error
// once writeTimeout has passed, and the connection is closed, so nothing
// queued behind the write waits for good.
func TestGuardedConnWrite(t *testing.T) {
	ours, theirs := net.Pipe() // a pipe's Write waits for the reader: a peer that stopped reading
	defer theirs.Close()
	g := &guardedConn{Conn: ours, writeTimeout: 50 * time.Millisecond}
	done := make(chan error, 1)
	go func() {
		_, err := g.Write([]byte("<presence/>"))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a write nobody read succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the write was still blocked 30s after a 50ms write timeout")
	}
	if _, err := g.Write([]byte("x")); err == nil {
		t.Error("the connection is still open after a write timed out")
	}

	// A write the peer reads in time leaves the connection open.
	ours, theirs = net.Pipe()
	defer theirs.Close()
	g = &guardedConn{Conn: ours, writeTimeout: time.Minute}
	go func() {
		b := make([]byte, 16)
		for {
			if _, err := theirs.Read(b); err != nil {
				return
			}
		}
	}()
	for range 2 {
		if _, err := g.Write([]byte("<presence/>")); err != nil {
			t.Fatalf("a write the peer read: %v", err)
		}
	}
	g.Close()
}
