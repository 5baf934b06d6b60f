package hashing_test

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

const capsdbDir = "../testdata/capsdb/hashes"

type corpusEntry struct {
	file string
	key  hashing.Key
	info *hashing.Info
}

// loadCorpus reads capsdb: files named <algo>_<urlquote(node#ver)>.xml, each
// the disco#info answer a real client gave for that ver.
func loadCorpus(t *testing.T) []corpusEntry {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(capsdbDir, "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("capsdb corpus not found in %s: %v", capsdbDir, err)
	}
	var out []corpusEntry
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".xml")
		algName, quoted, ok := strings.Cut(base, "_")
		if !ok {
			t.Fatalf("%s: no algorithm in the name", base)
		}
		nodeVer, err := url.PathUnescape(quoted)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		i := strings.LastIndexByte(nodeVer, '#')
		if i < 0 {
			t.Fatalf("%s: no '#' in %q", base, nodeVer)
		}
		alg, err := hashing.ParseAlgorithm(algName)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		key, err := hashing.ParseKey(hashing.XEP0115, alg, nodeVer[i+1:])
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		info, err := messages.ParseDiscoInfo(data)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		out = append(out, corpusEntry{filepath.Base(f), key, info})
	}
	return out
}

// TestCapsdbCorpus checks every real answer in capsdb against the ver in
// its file name. Each entry verifies, or fails for a reason named here.
func TestCapsdbCorpus(t *testing.T) {
	entries := loadCorpus(t)
	counts := map[string]int{}
	for _, e := range entries {
		_, err := hashing.Verify(e.key, e.info, hashing.Options{})
		var mm *hashing.MismatchError
		switch {
		case err == nil:
			counts["verified"]++
		case errors.Is(err, hashing.ErrDuplicateFeature):
			counts["duplicate-feature"]++
			// Leniently, they verify as sent.
			if m, err := hashing.Verify(e.key, e.info, hashing.Options{DuplicateFeatures: true}); err != nil || m != hashing.AsSentDuplicates {
				t.Errorf("%s: lenient verify = %v, %v", e.file, m, err)
			}
		case errors.As(err, &mm):
			counts["mismatch"]++
			// Only ejabberd's answers stored as a query nested in a
			// query are expected here: the outer query is empty.
			if !strings.Contains(e.file, "ejabberd") || len(e.info.Features) != 0 {
				t.Errorf("%s: unexpected mismatch: %v", e.file, err)
			}
		default:
			t.Errorf("%s: unexpected error: %v", e.file, err)
		}
	}
	want := map[string]int{"verified": 1569, "duplicate-feature": 33, "mismatch": 9}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("%s: %d entries, want %d", k, counts[k], v)
		}
	}
	if len(entries) != 1611 {
		t.Errorf("corpus has %d entries, want 1611", len(entries))
	}
}
