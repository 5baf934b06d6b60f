package seed

import (
	"bytes"
	"os"
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

// TestSeed: the embedded seed is capsdb's db.json of testdata, and its
// entries verify as capsdb's do (most strictly, the rest under the
// leniencies real clients need).
func TestSeed(t *testing.T) {
	data, err := DBJSON()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../testdata/capsdb/db.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Error("seed/capsdb.json.gz is not testdata/capsdb/db.json: regenerate it (gzip -9 -n)")
	}
	es, err := Entries()
	if err != nil {
		t.Fatal(err)
	}
	strict, lenient := 0, 0
	for _, e := range es {
		if e.Err != nil {
			continue
		}
		if _, err := hashing.Verify(e.Key, e.Info, hashing.Options{}); err == nil {
			strict++
		} else if _, err := hashing.Verify(e.Key, e.Info, hashing.Options{DuplicateFeatures: true, EscapedS: true}); err == nil {
			lenient++
		}
	}
	t.Logf("%d entries: %d verify strictly, %d more leniently", len(es), strict, lenient)
	if strict < 1500 || strict+lenient < 1550 {
		t.Errorf("%d strict, %d lenient of %d: the seed does not verify", strict, lenient, len(es))
	}
}
