package capsfiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w=": "http%3A%2F%2Fpsi-im.org%23q07IKJEyjvHSyhy%2F%2FCH0CxmKi8w%3D",
		"a_b.c-d~e f+g":  "a_b.c-d~e%20f%2Bg",
		"Ткаббер":        "%D0%A2%D0%BA%D0%B0%D0%B1%D0%B1%D0%B5%D1%80",
		"sha-256":        "sha-256",
		"":               "",
		"100%":           "100%25",
		"http://x/#a+b=": "http%3A%2F%2Fx%2F%23a%2Bb%3D",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every file name of the capsdb corpus parses, and Path gives it back.
func TestCapsdbNamesRoundTrip(t *testing.T) {
	ents, err := os.ReadDir(filepath.Join("..", "testdata", "capsdb", HashesDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) < 1000 {
		t.Fatalf("%d files in the corpus: not the corpus", len(ents))
	}
	for _, e := range ents {
		rel := HashesDir + "/" + e.Name()
		k, node, err := Parse(rel)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if again := Path(k, node); again != rel {
			t.Errorf("%s comes back as %s", rel, again)
		}
	}
}

func TestCaps2RoundTrip(t *testing.T) {
	for _, alg := range []hashing.Algorithm{hashing.SHA256, hashing.SHA512, hashing.SHA3_256, hashing.BLAKE2b256} {
		digest := make([]byte, alg.Size())
		for i := range digest {
			digest[i] = byte(i*37 + 11)
		}
		k, err := hashing.NewKey(hashing.XEP0390, alg, digest)
		if err != nil {
			t.Fatal(err)
		}
		p := Path(k, "ignored")
		if !strings.HasPrefix(p, Caps2Dir+"/"+alg.String()+"/") {
			t.Errorf("%v: path %s", alg, p)
		}
		got, node, err := Parse(p)
		if err != nil || got != k || node != "" {
			t.Errorf("%s: %v %q %v", p, got, node, err)
		}
		if got, _, err := Parse(filepath.FromSlash(p)); err != nil || got != k {
			t.Errorf("system separators: %v %v", got, err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, rel := range []string{
		"", "x.xml", "hashes/sha-1.xml", "hashes/sha-1_nohash.xml", "hashes/md9_a%23b.xml",
		"hashes/sha-1_a%23AAAA.xml", "hashes/sha-1_a%ZZ.xml", "hashes/sha-1_a%23QgayPKawpkPSDYmwT%2FWM94uAlu0%3D.txt",
		"caps2/sha-256/ab/cd.xml", "caps2/sha-256/abc/de/f.xml", "caps2/nope/ab/cd/ef.xml",
		"caps2/sha-256/ab/cd/e!.xml", "caps2/sha-256/aa/aa/aa.xml", "other/sha-1_x.xml",
	} {
		if k, node, err := Parse(rel); err == nil {
			t.Errorf("Parse(%q) = %v, %q; want an error", rel, k, node)
		}
	}
}

// Whatever Parse accepts, Path names the same way, up to how the input
// quoted characters it did not have to.
func FuzzParse(f *testing.F) {
	f.Add("hashes/sha-1_http%3A%2F%2Fpsi-im.org%23q07IKJEyjvHSyhy%2F%2FCH0CxmKi8w%3D.xml")
	f.Add("caps2/sha-256/ab/cd/efghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstu.xml")
	f.Fuzz(func(t *testing.T, rel string) {
		k, node, err := Parse(rel)
		if err != nil {
			return
		}
		again, node2, err := Parse(Path(k, node))
		if err != nil || again != k || node2 != node {
			t.Fatalf("%q → %v %q → %s → %v %q %v", rel, k, node, Path(k, node), again, node2, err)
		}
	})
}
