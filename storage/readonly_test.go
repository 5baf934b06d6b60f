package storage

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func list(t *testing.T, fsys vfs.FS, dir string) []string {
	t.Helper()
	names, err := fsys.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// TestReadOnlyLeavesNoLockFile: opening a trusted store to read it leaves
// its directory as it found it, without pebble's LOCK file, and still
// keeps a writer out while it reads.
func TestReadOnlyLeavesNoLockFile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		keepLock bool // the writer's LOCK file is still there
	}{
		{"no lock file before", false},
		{"lock file before", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := vfs.NewMem()
			buildTrusted(t, mem, "trusted", 0, 3)
			if !tc.keepLock {
				// A store copied or packaged without the writer's lock file.
				if err := mem.Remove(mem.PathJoin("trusted", "LOCK")); err != nil {
					t.Fatal(err)
				}
			}
			before := list(t, mem, "trusted")

			db := openTest(t, mem, Config{TrustedDir: "trusted"})
			k, _ := testEntry(t, 1)
			if _, src, err := db.Lookup(k); err != nil || src != Trusted {
				t.Fatalf("Lookup = %v, %v; want the trusted entry", src, err)
			}
			if _, err := OpenTrustedWriter(Config{TrustedDir: "trusted", FS: mem}); !errors.Is(err, ErrLocked) {
				t.Errorf("OpenTrustedWriter while reading: %v, want ErrLocked", err)
			}
			if err := db.Close(ctx); err != nil {
				t.Fatal(err)
			}

			if after := list(t, mem, "trusted"); !slices.Equal(after, before) {
				t.Errorf("trusted directory after a read-only open:\n got %q\nwant %q", after, before)
			}
			// The lock was released: a writer gets in now.
			w, err := OpenTrustedWriter(Config{TrustedDir: "trusted", FS: mem})
			if err != nil {
				t.Fatalf("OpenTrustedWriter after Close: %v", err)
			}
			w.Close()
		})
	}
}

// TestOpenErrorNamesTheStore: a store that does not open is reported with
// which store and where, for a program that explains it to a person,
// without losing the sentinel.
func TestOpenErrorNamesTheStore(t *testing.T) {
	mem := vfs.NewMem()
	_, err := Open(context.Background(), Config{Dir: "user", TrustedDir: "gone", FS: mem, System: newSystem(t)})
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Source != Trusted || oe.Dir != "gone" || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %#v (%v), want an *OpenError for the trusted store gone wrapping fs.ErrNotExist", err, err)
	}
	if got, want := err.Error(), "storage: open trusted store gone: file does not exist"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
