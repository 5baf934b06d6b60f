package hashing_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps hashing a leaf: the standard library and x/crypto only,
// so that every other package (and other programs) can use it cheaply.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == "github.com/capsengine/capsengine/hashing",
			strings.HasPrefix(p, "golang.org/x/crypto/"),
			strings.HasPrefix(p, "golang.org/x/sys/"):
		default:
			t.Errorf("hashing imports %s", p)
		}
	}
}
