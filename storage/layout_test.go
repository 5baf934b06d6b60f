package storage

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	l := Layout{Dir: dir}
	if l.User() != filepath.Join(dir, "user") || l.Trusted() != filepath.Join(dir, "trusted") {
		t.Fatalf("user %q, trusted %q", l.User(), l.Trusted())
	}
	if got := l.TrustedIfPresent(); got != "" {
		t.Fatalf("TrustedIfPresent = %q without a trusted store", got)
	}
	if err := os.Mkdir(l.Trusted(), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := l.TrustedIfPresent(); got != l.Trusted() {
		t.Fatalf("TrustedIfPresent = %q with one", got)
	}
}
