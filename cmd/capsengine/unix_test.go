//go:build unix

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capsengine/capsengine/capsfiles"
)

// TestVerUnreadable: a file that cannot be read is "unreadable" with the
// reason in words, not "malformed"; a named pipe or a directory is refused
// at once instead of waited on.
func TestVerUnreadable(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.xml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file, reason string
	}{
		{"missing", filepath.Join(dir, "missing.xml"), "no such file or directory"},
		{"directory", dir, "a directory, not a regular file"},
		{"named pipe", fifo, "a named pipe, not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Before the fix a named pipe blocked in open forever: give
			// up after a while rather than hang the test binary.
			type result struct {
				code     int
				out, err string
			}
			done := make(chan result, 2)
			go func() {
				code, out, _ := runCmd(t, "", "ver", "--json", tc.file)
				_, _, errOut := runCmd(t, "", "ver", tc.file)
				done <- result{code, out, errOut}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("ver %s has not returned after 20s", tc.file)
			}
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			l := parseLines(t, r.out)[0]
			if l.Error == nil || l.Error.Rule != "unreadable" {
				t.Errorf("error = %+v, want rule unreadable", l.Error)
			}
			if want := "capsengine ver: " + tc.file + ": unreadable: " + tc.reason + "\n"; r.err != want {
				t.Errorf("text: got %q, want %q", r.err, want)
			}
		})
	}
}

// TestDBImportRefusesNonRegular: a named pipe among the documents is one
// refused file, named, and the rest imports; before, the import blocked on
// it forever.
func TestDBImportRefusesNonRegular(t *testing.T) {
	src, data := t.TempDir(), t.TempDir()
	writeCaps2Fixture(t, src, 3)
	hashes := filepath.Join(src, "hashes")
	if err := os.MkdirAll(hashes, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(hashes, "sha-1_"+capsfiles.Quote("http://pipe#QgayPKawpkPSDYmwT/WM94uAlu0=")+".xml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runCmd(t, "", "db", "--data", data, "import", src)
		done <- result{code, out, errOut}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("import has not returned after 30s")
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	for _, want := range []string{"4 files: 3 imported", "rejected: 1 (unreadable 1)"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.out)
		}
	}
	if want := "capsengine db import: " + fifo + ": unreadable: a named pipe, not a regular file\n"; r.errOut != want {
		t.Errorf("stderr: got %q, want %q", r.errOut, want)
	}
}

// TestDBImportUnreadableDir: a directory of the caps2 tree that cannot be
// listed is one refused entry; its siblings still import. Permissions do
// not stop root, so as root the binary runs as nobody.
func TestDBImportUnreadableDir(t *testing.T) {
	base := worldDir(t)
	src, data := filepath.Join(base, "src"), filepath.Join(base, "data")
	writeCaps2Fixture(t, src, 12)
	// Lock one of the ab/ directories (there are several among 12 keys).
	alg := filepath.Join(src, "caps2", "sha-256")
	ents, err := os.ReadDir(alg)
	if err != nil || len(ents) < 2 {
		t.Fatalf("fixture: %v, %d directories", err, len(ents))
	}
	locked := filepath.Join(alg, ents[0].Name())
	inLocked := countFiles(t, locked)
	if err := os.MkdirAll(data, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })

	var code int
	var out, errOut string
	if os.Geteuid() == 0 {
		code, out, errOut = runBinaryAsNobody(t, buildBinary(t), "db", "--data", data, "import", src)
	} else {
		code, out, errOut = runCmd(t, "", "db", "--data", data, "import", src)
	}
	if code != 1 {
		t.Errorf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	// The files of the locked directory are not seen; the directory is
	// listed in their place.
	if want := fmt.Sprintf("%d files: %d imported", 12-inLocked+1, 12-inLocked); !strings.HasPrefix(out, want) {
		t.Errorf("summary: got %q, want it to start with %q", out, want)
	}
	if !strings.Contains(out, "rejected: 1 (unreadable 1)") {
		t.Errorf("summary lacks the unreadable directory:\n%s", out)
	}
	if wantErr := "capsengine db import: " + locked + ": unreadable: permission denied\n"; errOut != wantErr {
		t.Errorf("stderr: got %q, want %q", errOut, wantErr)
	}
}

// worldDir is a temporary directory that another user can reach, for a
// binary run as nobody.
func worldDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	// t.TempDir's directories are private (0700); open them and the
	// directory above to traversal.
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// runBinaryAsNobody runs bin with args as user and group 65534, without
// supplementary groups.
func runBinaryAsNobody(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	// os.MkdirTemp's directory is private (0700).
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "HOME=/nonexistent")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}
