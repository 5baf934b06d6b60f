// Package etcdtest runs a single-node etcd (Debian's etcd-server) on free
// loopback ports for tests of the cluster's etcd membership.
package etcdtest

import (
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/capsengine/capsengine/internal/freeport"
)

// Start runs etcd for the test and returns its client endpoint
// (host:port). Without an etcd binary the test skips, or fails when CI is
// set (scripts/test installs it).
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("etcd not installed (Debian: etcd-server); scripts/test installs it")
		}
		t.Skip("etcd not installed (Debian: etcd-server)")
	}
	client := "127.0.0.1:" + strconv.Itoa(freePort(t))
	peer := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
	cmd := exec.Command(bin, "--name", "capstest", "--data-dir", t.TempDir(),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "capstest="+peer, "--log-level", "error")
	out := &buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("etcd output:\n%s", out.tail(2000))
		}
	})
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := hc.Get("http://" + client + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return client
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd did not come up:\n%s", out.tail(2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	return p[0]
}

// buffer collects a process's output for a failing test's log.
type buffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

func (b *buffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.b) > n {
		return string(b.b[len(b.b)-n:])
	}
	return string(b.b)
}
