package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDBVerifyDamagedStore cuts the user store's write-ahead log short
// (acknowledged entries lost): verify says so and exits 1, where it used
// to report "0 failed"; verify --repair keeps what verifies, moves the
// damaged store aside and exits 1; the next verify passes.
func TestDBVerifyDamagedStore(t *testing.T) {
	data := t.TempDir()
	src := t.TempDir()
	writeCaps2Fixture(t, src, 300)
	if code, out, errOut := runCmd(t, "", "db", "--data", data, "import", src); code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	logs, _ := filepath.Glob(filepath.Join(data, "user", "*.log"))
	var wal string
	var size int64
	for _, l := range logs {
		if st, err := os.Stat(l); err == nil && st.Size() > size {
			wal, size = l, st.Size()
		}
	}
	if wal == "" {
		t.Fatal("no WAL in the user store")
	}
	if err := os.Truncate(wal, size/2); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCmd(t, "", "db", "--data", data, "verify")
	if code != 1 || !strings.Contains(out, "damaged: ") || !strings.Contains(out, "lost: ") {
		t.Errorf("verify of a damaged store: exit %d, want 1\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCmd(t, "", "db", "--data", data, "verify", "--repair")
	if code != 1 || !strings.Contains(out, "repaired: kept ") || !strings.Contains(out, "0 failed") {
		t.Errorf("verify --repair: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if aside, _ := filepath.Glob(filepath.Join(data, "user.damaged-*")); len(aside) != 1 {
		t.Errorf("damaged stores moved aside: %v, want one", aside)
	}
	code, out, errOut = runCmd(t, "", "db", "--data", data, "verify")
	if code != 0 || !strings.Contains(out, "0 failed") {
		t.Errorf("verify after --repair: exit %d, want 0\n%s%s", code, out, errOut)
	}
	t.Logf("%s", out)
}
