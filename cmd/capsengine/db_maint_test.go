package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDBVerifyDamagedStore damages the user store's write-ahead log, by
// flipping 40 bytes in its middle (the reproduction) or cutting it
// short: verify says what is damaged and lost and exits 1, where it used
// to open the store without the entries after the damage and report "0
// failed"; verify --repair keeps what verifies, moves the damaged store
// aside and exits 1; the next verify passes.
func TestDBVerifyDamagedStore(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, wal string, size int64)
	}{
		{"flip-middle", func(t *testing.T, wal string, size int64) {
			b, err := os.ReadFile(wal)
			if err != nil {
				t.Fatal(err)
			}
			for i := size / 2; i < size/2+40; i++ {
				b[i] ^= 0x5a
			}
			if err := os.WriteFile(wal, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated", func(t *testing.T, wal string, size int64) {
			if err := os.Truncate(wal, size/2); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
			tc.damage(t, wal, size)

			code, out, errOut := runCmd(t, "", "db", "--data", data, "verify")
			if code != 1 || !strings.Contains(out, "damaged: ") || !strings.Contains(out, "lost: ") {
				t.Errorf("verify of a damaged store: exit %d, want 1\n%s%s", code, out, errOut)
			}
			t.Logf("%s", out)
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
		})
	}
}

// TestDBPrune imports entries of which half were last seen two years ago
// (file modification times): prune --dry-run counts them and deletes
// nothing, prune deletes them, --max-bytes prunes down under a cap, and
// bad flags are usage errors.
func TestDBPrune(t *testing.T) {
	data := t.TempDir()
	src := t.TempDir()
	writeCaps2Fixture(t, src, 40)
	old := time.Now().AddDate(-2, 0, 0)
	i := 0
	filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if i%2 == 0 {
				os.Chtimes(path, old, old)
			}
			i++
		}
		return nil
	})
	if code, out, errOut := runCmd(t, "", "db", "--data", data, "import", src); code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := runCmd(t, "", "db", "--data", data, "prune", "--dry-run")
	if code != 0 || !strings.Contains(out, "scanned 40 user entries") || !strings.Contains(out, "would prune 20 not seen") {
		t.Errorf("prune --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCmd(t, "", "db", "--data", data, "prune", "--retain", "180d")
	if code != 0 || !strings.Contains(out, "pruned 20 not seen") {
		t.Errorf("prune: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCmd(t, "", "db", "--data", data, "prune", "--max-bytes", "2KiB")
	if code != 0 || !strings.Contains(out, "scanned 20 user entries") || strings.Contains(out, "and 0 over the size cap") {
		t.Errorf("prune --max-bytes: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("%s", out)
	for _, args := range [][]string{{"--retain", "-3d"}, {"--retain", "soon"}, {"--max-bytes", "lots"}} {
		if code, _, errOut := runCmd(t, "", append([]string{"db", "--data", data, "prune"}, args...)...); code != 2 {
			t.Errorf("prune %v: exit %d, want 2\n%s", args, code, errOut)
		}
	}
}

// TestDBImportDBJSON seeds a trusted store from capsdb's db.json, the file
// or its directory alone: every entry verifies (leniently: the corpus has
// clients that hash a duplicated feature), and the stats count them.
func TestDBImportDBJSON(t *testing.T) {
	file := filepath.Join(capsdbDir(t), "db.json")
	data := t.TempDir()
	code, out, errOut := runCmd(t, "", "db", "--data", data, "import", "--into", "trusted", "--lenient", file)
	if code != 0 || !strings.Contains(out, "1567 files: 1567 imported into the trusted store") {
		t.Fatalf("import db.json: exit %d\n%s%s", code, out, errOut)
	}
	// The seed makes the hashes/ import of the same corpus redundant.
	_, out, _ = runCmd(t, "", "db", "--data", data, "import", capsdbDir(t))
	if !strings.Contains(out, "already trusted: 15") {
		t.Errorf("importing capsdb's hashes/ over the seed:\n%s", out)
	}
	t.Logf("%s", out)
	code, out, _ = runCmd(t, "", "db", "--data", data, "stats")
	if code != 0 || !strings.Contains(out, "trusted  1567 entries") {
		t.Errorf("stats after seeding: exit %d\n%s", code, out)
	}
	// A directory holding db.json alone imports it too; strictly, the
	// duplicated features are refused by rule.
	dir := t.TempDir()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "db.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCmd(t, "", "db", "--data", t.TempDir(), "import", dir)
	if code != 1 || !strings.Contains(out, "1567 files: ") || !strings.Contains(out, "duplicate-feature") {
		t.Errorf("strict import of a db.json directory: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("%s", out)
	// Not JSON: an error about the file, exit 2.
	bad := filepath.Join(t.TempDir(), "db.json")
	os.WriteFile(bad, []byte("<xml/>"), 0o644)
	if code, _, errOut := runCmd(t, "", "db", "--data", t.TempDir(), "import", bad); code != 2 || !strings.Contains(errOut, "db.json") {
		t.Errorf("import of a db.json that is not JSON: exit %d %q", code, errOut)
	}
}
