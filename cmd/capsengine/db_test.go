package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/capsengine/capsengine/capsfiles"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
)

const capsdb = "../../testdata/capsdb"

func capsdbDir(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(capsdb, "hashes")); err != nil {
		t.Fatalf("capsdb corpus missing from the repository: %v", err)
	}
	return capsdb
}

// dumpStore reads every entry of one store, encoded, by key.
func dumpStore(t *testing.T, data string, src storage.Source) map[hashing.Key][]byte {
	t.Helper()
	ctx := context.Background()
	cfg := storage.Config{Dir: filepath.Join(data, "user")}
	if src == storage.Trusted {
		cfg.TrustedDir = filepath.Join(data, "trusted")
	}
	db, err := storage.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	out := map[hashing.Key][]byte{}
	err = db.Scan(ctx, src, func(r storage.Record) error {
		if r.Err != nil {
			t.Errorf("stored entry: %v", r.Err)
			return nil
		}
		out[r.Key] = storage.AppendEntry(nil, r.Entry)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameStores(t *testing.T, a, b map[hashing.Key][]byte) {
	t.Helper()
	if len(a) != len(b) {
		t.Errorf("%d entries, then %d", len(a), len(b))
	}
	diff := 0
	for k, v := range a {
		if !bytes.Equal(b[k], v) {
			if diff++; diff <= 3 {
				ea, _ := storage.DecodeEntry(v)
				eb, _ := storage.DecodeEntry(b[k])
				t.Errorf("entry %s differs:\n%+v\n%+v", k, ea, eb)
			}
		}
	}
	if diff > 0 {
		t.Errorf("%d entries differ", diff)
	}
}

func TestDBImportCapsdb(t *testing.T) {
	src := capsdbDir(t)
	data := t.TempDir()
	code, out, errOut := runCmd(t, "", "db", "--data", data, "import", src)
	if code != 1 {
		t.Errorf("exit %d, want 1 (some files are rejected); stderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		"1611 files: 1569 imported into the user store",
		"rejected: 33 (duplicate-feature 33)",
		"mismatched: 9",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(errOut, "\n"); n != 42 {
		t.Errorf("%d refused files reported on stderr, want 42", n)
	}
	if !strings.Contains(errOut, "ejabberd") || !strings.Contains(errOut, ": mismatch: ") {
		t.Errorf("the mismatched ejabberd files are not named:\n%s", errOut)
	}

	code, out, _ = runCmd(t, "", "db", "--data", data, "stats")
	if code != 0 || !regexp.MustCompile(`user +1525 entries, .* on disk`).MatchString(out) ||
		!strings.Contains(out, "xep0115/md5") || !strings.Contains(out, "trusted  none") {
		t.Errorf("stats: exit %d\n%s", code, out)
	}
}

// TestDBImportLenient: the duplicate-feature answers whose hash over the
// answer as sent verifies are accepted, and marked so.
func TestDBImportLenient(t *testing.T) {
	src := capsdbDir(t)
	data := t.TempDir()
	_, out, _ := runCmd(t, "", "db", "--data", data, "import", "--lenient", src)
	// All 33 duplicate-feature answers hash as sent; the 9 nested-query
	// ejabberd answers still do not.
	if !strings.Contains(out, "1611 files: 1602 imported") || !strings.Contains(out, "rejected: 0") || !strings.Contains(out, "mismatched: 9") {
		t.Errorf("lenient import:\n%s", out)
	}
	code, out, _ := runCmd(t, "", "db", "--data", data, "lookup", "--meta", "md5", "FDj92eOg4Whkw1ZoU6VHEA==")
	if code != 0 || !strings.Contains(out, "verified: duplicate-features") {
		t.Errorf("a tkabber entry: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, "", "db", "--data", data, "verify")
	if code != 0 || !strings.Contains(out, "0 failed") {
		t.Errorf("verify after a lenient import: exit %d\n%s", code, out)
	}
}

// TestDBRoundTrip: import → export → import gives identical entries, for
// both layouts (hashes/ from capsdb, caps2/ written here).
func TestDBRoundTrip(t *testing.T) {
	src := t.TempDir()
	writeCaps2Fixture(t, src, 20)
	copyDir(t, filepath.Join(capsdbDir(t), "hashes"), filepath.Join(src, "hashes"))

	first, export, second := t.TempDir(), t.TempDir(), t.TempDir()
	if code, out, _ := runCmd(t, "", "db", "--data", first, "import", src); !strings.Contains(out, "1631 files: 1589 imported") {
		t.Fatalf("first import: exit %d\n%s", code, out)
	}
	if code, out, errOut := runCmd(t, "", "db", "--data", first, "export", export); code != 0 {
		t.Fatalf("export: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, "", "db", "--data", second, "import", export); code != 0 {
		t.Fatalf("second import: exit %d\n%s%s", code, out, errOut)
	}
	a, b := dumpStore(t, first, storage.User), dumpStore(t, second, storage.User)
	if len(a) != 1545 {
		t.Errorf("%d entries after the first import, want 1,525 + 20", len(a))
	}
	sameStores(t, a, b)
}

// writeCaps2Fixture writes n XEP-0390 entries in aioxmpp's caps2 layout,
// spelled out independently of db.go: caps2/<quote(algo)>/ab/cd/rest.xml.
func writeCaps2Fixture(t *testing.T, dir string, n int) []hashing.Key {
	t.Helper()
	var keys []hashing.Key
	for i := range n {
		in := &hashing.Info{
			Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "caps2 client"}},
			Features:   []string{"urn:xmpp:caps", fmt.Sprintf("urn:example:%d", i)},
		}
		alg := []hashing.Algorithm{hashing.SHA256, hashing.SHA3_256, hashing.BLAKE2b512}[i%3]
		k, err := hashing.Compute(hashing.XEP0390, alg, in)
		if err != nil {
			t.Fatal(err)
		}
		b32 := strings.ToLower(base32.StdEncoding.EncodeToString(k.Digest()))
		b32 = strings.TrimRight(b32, "=")
		p := filepath.Join(dir, "caps2", k.Alg.String(), b32[:2], b32[2:4], b32[4:]+".xml")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, messages.AppendDiscoInfo(nil, in), 0o644); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(to, 0o755)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(to, e.Name())
		os.WriteFile(p, b, 0o644)
		if st, err := os.Stat(filepath.Join(from, e.Name())); err == nil {
			os.Chtimes(p, st.ModTime(), st.ModTime())
		}
	}
}

func TestDBCaps2Lookup(t *testing.T) {
	src, data := t.TempDir(), t.TempDir()
	keys := writeCaps2Fixture(t, src, 3)
	if code, out, errOut := runCmd(t, "", "db", "--data", data, "import", src); code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	for _, k := range keys {
		code, out, errOut := runCmd(t, "", "db", "--data", data, "lookup", "--caps2", k.Alg.String(), k.Ver())
		if code != 0 {
			t.Fatalf("lookup %s: exit %d %s", k, code, errOut)
		}
		in, err := messages.ParseDiscoInfo([]byte(out))
		if err != nil {
			t.Fatalf("lookup printed %q: %v", out, err)
		}
		if _, err := hashing.Verify(k, in, hashing.Options{}); err != nil {
			t.Errorf("printed disco#info does not verify: %v", err)
		}
	}
	// The same digest as a XEP-0115 key is another key.
	if code, _, _ := runCmd(t, "", "db", "--data", data, "lookup", keys[0].Alg.String(), keys[0].Ver()); code != 1 {
		t.Errorf("lookup without --caps2: exit %d, want 1", code)
	}
}

func TestDBLookup(t *testing.T) {
	data := t.TempDir()
	runCmd(t, "", "db", "--data", data, "import", capsdbDir(t))
	code, out, _ := runCmd(t, "", "db", "--data", data, "lookup", "--meta", "md5", "95MpIY90PtVPG1MGWzTmlA==")
	if code != 0 || !strings.Contains(out, "store: user\n") || !strings.Contains(out, "nodes: http://jabga.ru/ http://jimm.net.ru/caps") ||
		!strings.Contains(out, "<feature var='http://qip.ru/x-status'/>") {
		t.Errorf("lookup --meta: exit %d\n%s", code, out)
	}
	code, _, errOut := runCmd(t, "", "db", "--data", data, "lookup", "sha-1", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("lookup of an unknown ver: exit %d %q", code, errOut)
	}
	for _, args := range [][]string{{"sha-1", "not base64"}, {"sha-9", "AAAA"}, {"sha-1"}} {
		if code, _, _ := runCmd(t, "", append([]string{"db", "--data", data, "lookup"}, args...)...); code != 2 {
			t.Errorf("lookup %q: exit %d, want 2", args, code)
		}
	}
}

func TestDBImportTrusted(t *testing.T) {
	src := capsdbDir(t)
	data := t.TempDir()
	code, out, _ := runCmd(t, "", "db", "--data", data, "import", "--into", "trusted", src)
	if code != 1 || !strings.Contains(out, "1569 imported into the trusted store") {
		t.Fatalf("import --into trusted: exit %d\n%s", code, out)
	}
	// Importing the same into user copies nothing: trusted has it all.
	_, out, _ = runCmd(t, "", "db", "--data", data, "import", src)
	if !strings.Contains(out, "0 imported into the user store") || !strings.Contains(out, "already trusted: 1569") {
		t.Errorf("import into user of trusted entries:\n%s", out)
	}
	code, out, _ = runCmd(t, "", "db", "--data", data, "lookup", "--meta", "md5", "95MpIY90PtVPG1MGWzTmlA==")
	if code != 0 || !strings.Contains(out, "store: trusted") {
		t.Errorf("lookup: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, "", "db", "--data", data, "stats")
	if code != 0 || !regexp.MustCompile(`trusted +1525 entries`).MatchString(out) || !regexp.MustCompile(`user +0 entries`).MatchString(out) {
		t.Errorf("stats: exit %d\n%s", code, out)
	}
	// export takes both stores.
	export := t.TempDir()
	if code, out, _ := runCmd(t, "", "db", "--data", data, "export", export); code != 0 || !strings.Contains(out, "exported 1525 trusted and 0 user") {
		t.Errorf("export: exit %d\n%s", code, out)
	}
}

// TestDBImportBadFiles: files that are not XML, do not hash to the key
// their name gives, or whose name gives no key are counted rejections;
// the good ones are imported.
func TestDBImportBadFiles(t *testing.T) {
	src, data := t.TempDir(), t.TempDir()
	hashes := filepath.Join(src, "hashes")
	os.MkdirAll(hashes, 0o755)
	exodus := `<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='pc' name='Exodus 0.9.1'/><feature var='http://jabber.org/protocol/caps'/><feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/disco#items'/><feature var='http://jabber.org/protocol/muc'/></query>`
	files := map[string]string{
		"sha-1_" + capsfiles.Quote("http://exodus#QgayPKawpkPSDYmwT/WM94uAlu0=") + ".xml": exodus,
		"sha-1_" + capsfiles.Quote("http://bad#QgayPKawpkPSDYmwT/WM94uAlu0=") + ".xml":    "this is not XML",
		"sha-1_" + capsfiles.Quote("http://liar#q07IKJEyjvHSyhy//CH0CxmKi8w=") + ".xml":   exodus,
		"sha-1_" + capsfiles.Quote("http://short#AAAA") + ".xml":                          exodus,
		"nonsense.xml": exodus,
	}
	for name, content := range files {
		os.WriteFile(filepath.Join(hashes, name), []byte(content), 0o644)
	}
	code, out, errOut := runCmd(t, "", "db", "--data", data, "import", src)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"5 files: 1 imported", "rejected: 3 (malformed 3)", "mismatched: 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{"http%3A%2F%2Fbad", "http%3A%2F%2Fliar", "nonsense.xml", "http%3A%2F%2Fshort"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not name %s:\n%s", want, errOut)
		}
	}
	if code, _, _ := runCmd(t, "", "db", "--data", data, "lookup", "sha-1", "QgayPKawpkPSDYmwT/WM94uAlu0="); code != 0 {
		t.Errorf("the good file was not imported")
	}
	// Usage errors.
	for _, args := range [][]string{{"import"}, {"import", "--into", "elsewhere", src}} {
		if code, _, _ := runCmd(t, "", append([]string{"db", "--data", data}, args...)...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code, _, errOut := runCmd(t, "", "db", "--data", data, "import", filepath.Join(src, "missing")); code != 2 || errOut == "" {
		t.Errorf("import of a missing directory: exit %d %q", code, errOut)
	}
}

// TestDBVerifyRemove plants entries that do not verify (written behind the
// store's back: Put would refuse them), and one that does not decode;
// verify reports them, --remove deletes them, and a second verify passes.
func TestDBVerifyRemove(t *testing.T) {
	data := t.TempDir()
	src := t.TempDir()
	writeCaps2Fixture(t, src, 5)
	if code, _, _ := runCmd(t, "", "db", "--data", data, "import", src); code != 0 {
		t.Fatal("import failed")
	}
	// Plant, with pebble directly, using the key layout storage documents.
	p, err := pebble.Open(filepath.Join(data, "user"), &pebble.Options{
		Merger: &pebble.Merger{Name: "capsengine.entry.v1", Merge: pebble.DefaultMerger.Merge},
		Logger: quietPebble{},
	})
	if err != nil {
		t.Fatal(err)
	}
	wrong := &hashing.Info{Features: []string{"not what was announced"}}
	for i, v := range [][]byte{
		storage.AppendEntry(nil, &storage.Entry{Info: *wrong, Method: hashing.Strict}),
		[]byte("garbage"),
	} {
		key := append([]byte{1, byte(hashing.XEP0115), byte(hashing.SHA1)}, bytes.Repeat([]byte{byte(i + 1)}, 20)...)
		if err := p.Set(key, v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()

	code, out, _ := runCmd(t, "", "db", "--data", data, "verify")
	if code != 1 || !strings.Contains(out, "checked 0 trusted and 7 user entries: 2 failed") ||
		!strings.Contains(out, ": mismatch: ") || !strings.Contains(out, ": unreadable: ") {
		t.Errorf("verify: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, "", "db", "--data", data, "verify", "--remove")
	if code != 1 || !strings.Contains(out, "2 failed, 2 removed") {
		t.Errorf("verify --remove: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, "", "db", "--data", data, "verify")
	if code != 0 || !strings.Contains(out, "5 user entries: 0 failed") {
		t.Errorf("verify after --remove: exit %d\n%s", code, out)
	}
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// TestDBLocked: a store an engine has open cannot be opened by db
// commands, and the trusted store cannot be imported into while served.
func TestDBLocked(t *testing.T) {
	data := t.TempDir()
	os.MkdirAll(filepath.Join(data, "trusted"), 0o755)
	if code, _, _ := runCmd(t, "", "db", "--data", data, "import", "--into", "trusted", capsdbDir(t)); code != 1 {
		t.Fatal("trusted import failed")
	}
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Config{Dir: filepath.Join(data, "user"), TrustedDir: filepath.Join(data, "trusted")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	code, _, errOut := runCmd(t, "", "db", "--data", data, "stats")
	if code != 2 || !strings.Contains(errOut, "in use by another process") {
		t.Errorf("stats while served: exit %d %q", code, errOut)
	}
	code, _, errOut = runCmd(t, "", "db", "--data", data, "import", "--into", "trusted", capsdbDir(t))
	if code != 2 || !strings.Contains(errOut, "in use by another process") {
		t.Errorf("import --into trusted while served: exit %d %q", code, errOut)
	}
}

// TestDBReadCommandsNeedAStore: the commands that only read never create
// a store: a --data that does not exist (a typo) is an error naming it,
// exit 2, and nothing is created.
func TestDBReadCommandsNeedAStore(t *testing.T) {
	for _, args := range [][]string{
		{"stats"},
		{"lookup", "sha-1", "QgayPKawpkPSDYmwT/WM94uAlu0="},
		{"verify"},
		{"export", "OUT"},
	} {
		t.Run(args[0], func(t *testing.T) {
			base := t.TempDir()
			if args[0] == "export" {
				args[1] = filepath.Join(base, "out")
			}
			missing := filepath.Join(base, "typo")
			code, out, errOut := runCmd(t, "", append([]string{"db", "--data", missing}, args...)...)
			if want := "capsengine db " + args[0] + ": no store: the --data directory " + missing + " does not exist\n"; code != 2 || errOut != want {
				t.Errorf("missing --data: exit %d, stderr %q; want 2, %q", code, errOut, want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			// A --data directory without a user store is no store either.
			empty := filepath.Join(base, "empty")
			os.Mkdir(empty, 0o755)
			code, _, errOut = runCmd(t, "", append([]string{"db", "--data", empty}, args...)...)
			if code != 2 || !strings.Contains(errOut, "holds no user store") {
				t.Errorf("empty --data: exit %d, stderr %q", code, errOut)
			}
			ents, _ := os.ReadDir(base)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if len(names) != 1 || names[0] != "empty" {
				t.Errorf("%s created files: %q, want only [empty]", args[0], names)
			}
			if ents, _ := os.ReadDir(empty); len(ents) != 0 {
				t.Errorf("%s wrote into the empty --data directory: %v", args[0], ents)
			}
		})
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestDBTrustedLeavesNoLockFile: reading a trusted store with --trusted
// leaves its directory as it was: no LOCK file appears.
func TestDBTrustedLeavesNoLockFile(t *testing.T) {
	src, data, trusted := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "trusted")
	keys := writeCaps2Fixture(t, src, 3)
	if code, out, errOut := runCmd(t, "", "db", "--trusted", trusted, "--data", data, "import", "--into", "trusted", src); code != 0 {
		t.Fatalf("import --into trusted: exit %d\n%s%s", code, out, errOut)
	}
	// The writer's LOCK stays, as pebble leaves it; a store shipped
	// elsewhere comes without one.
	if err := os.Remove(filepath.Join(trusted, "LOCK")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(data, "user"), 0o755) // an empty user store
	before := listDir(t, trusted)
	for _, args := range [][]string{
		{"stats"},
		{"lookup", "--caps2", keys[0].Alg.String(), keys[0].Ver()},
		{"verify"},
		{"export", t.TempDir()},
	} {
		code, out, errOut := runCmd(t, "", append([]string{"db", "--data", data, "--trusted", trusted}, args...)...)
		if code != 0 {
			t.Errorf("%s: exit %d\n%s%s", args[0], code, out, errOut)
		}
		if after := listDir(t, trusted); !slices.Equal(after, before) {
			t.Errorf("%s: trusted directory\n got %q\nwant %q", args[0], after, before)
		}
	}
}

// TestDBErrorsAreSentences: errors name the command as typed and say what
// is wrong in words, not as a chain of package names.
func TestDBErrorsAreSentences(t *testing.T) {
	src, data := t.TempDir(), t.TempDir()
	hashes := filepath.Join(src, "hashes")
	os.MkdirAll(hashes, 0o755)
	exodus, err := os.ReadFile("../../examples/exodus.xml")
	if err != nil {
		t.Fatal(err)
	}
	liar := filepath.Join(hashes, "sha-1_"+capsfiles.Quote("http://liar\x1b[2J#q07IKJEyjvHSyhy//CH0CxmKi8w=")+".xml")
	dup := filepath.Join(hashes, "sha-1_"+capsfiles.Quote("http://dup#QgayPKawpkPSDYmwT/WM94uAlu0=")+".xml")
	ctl := filepath.Join(hashes, "bell\x07.xml")
	os.WriteFile(liar, exodus, 0o644)
	os.WriteFile(dup, []byte(`<query xmlns='http://jabber.org/protocol/disco#info'><feature var='a'/><feature var='a'/></query>`), 0o644)
	os.WriteFile(ctl, exodus, 0o644)
	_, _, errOut := runCmd(t, "", "db", "--data", data, "import", src)
	for _, want := range []string{
		"capsengine db import: " + liar + ": mismatch: the document's XEP-0115 sha-1 hash is QgayPKawpkPSDYmwT/WM94uAlu0=, not q07IKJEyjvHSyhy//CH0CxmKi8w= as announced\n",
		"capsengine db import: " + dup + ": duplicate-feature: the feature \"a\" is listed twice, which XEP-0115 §5.4 forbids\n",
		"capsengine db import: " + strconv.Quote(ctl) + ": malformed: ",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	for _, bad := range []string{"storage:", "hashing:", "\x07"} {
		if strings.Contains(errOut, bad) {
			t.Errorf("stderr contains %q:\n%s", bad, errOut)
		}
	}
	// A store that does not open: which one, and why, in words.
	missing := filepath.Join(data, "elsewhere")
	code, _, errOut := runCmd(t, "", "db", "--data", data, "--trusted", missing, "stats")
	if want := "capsengine db stats: the trusted store " + missing + " does not exist\n"; code != 2 || errOut != want {
		t.Errorf("missing --trusted: exit %d, got %q, want %q", code, errOut, want)
	}
	// Usage errors name the subcommand too.
	_, _, errOut = runCmd(t, "", "db", "stats", "--bogus")
	if !strings.HasPrefix(errOut, "capsengine db stats: unknown flag: --bogus\n") {
		t.Errorf("usage error: got %q", errOut)
	}
}
