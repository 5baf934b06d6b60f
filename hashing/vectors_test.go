package hashing_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

// vectorsDir holds the XEP examples shared by every implementation.
const vectorsDir = "../testdata/vectors"

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, name))
	if err != nil {
		t.Fatalf("read vector: %v", err)
	}
	return b
}

// The XEP-0115 §5.2 and §5.3 examples, built by hand so that this package's
// tests do not depend on the XML decoder.
var (
	simpleInfo = hashing.Info{
		Node:       "http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0=",
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}},
		Features: []string{
			"http://jabber.org/protocol/caps",
			"http://jabber.org/protocol/disco#info",
			"http://jabber.org/protocol/disco#items",
			"http://jabber.org/protocol/muc",
		},
	}
	complexInfo = hashing.Info{
		Node: "http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w=",
		Identities: []hashing.Identity{
			{Category: "client", Type: "pc", Lang: "en", Name: "Psi 0.11"},
			{Category: "client", Type: "pc", Lang: "el", Name: "Ψ 0.11"},
		},
		Features: []string{
			"http://jabber.org/protocol/caps",
			"http://jabber.org/protocol/disco#info",
			"http://jabber.org/protocol/disco#items",
			"http://jabber.org/protocol/muc",
		},
		Forms: []hashing.Form{{Type: "result", Fields: []hashing.Field{
			{Var: "FORM_TYPE", Type: "hidden", Values: []string{"urn:xmpp:dataforms:softwareinfo"}},
			{Var: "ip_version", Type: "text-multi", Values: []string{"ipv4", "ipv6"}},
			{Var: "os", Values: []string{"Mac"}},
			{Var: "os_version", Values: []string{"10.5.1"}},
			{Var: "software", Values: []string{"Psi"}},
			{Var: "software_version", Values: []string{"0.11"}},
		}}},
	}
)

func TestXEP0115Examples(t *testing.T) {
	for _, tc := range []struct {
		name  string
		info  *hashing.Info
		sFile string
		want  string
	}{
		{"simple", &simpleInfo, "xep0115-simple.S.txt", "QgayPKawpkPSDYmwT/WM94uAlu0="},
		{"complex", &complexInfo, "xep0115-complex.S.txt", "q07IKJEyjvHSyhy//CH0CxmKi8w="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := hashing.AppendS(nil, tc.info)
			if err != nil {
				t.Fatal(err)
			}
			if want := string(readVector(t, tc.sFile)); string(s) != want {
				t.Errorf("S = %q, want %q", s, want)
			}
			got, err := hashing.Ver(hashing.SHA1, tc.info)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ver = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestXEP0115VectorFiles(t *testing.T) {
	for file, want := range map[string]string{
		"xep0115-simple.xml":  "QgayPKawpkPSDYmwT/WM94uAlu0=",
		"xep0115-complex.xml": "q07IKJEyjvHSyhy//CH0CxmKi8w=",
	} {
		in := decodeInfo(t, readVector(t, file))
		got, err := hashing.Ver(hashing.SHA1, in)
		if err != nil || got != want {
			t.Errorf("%s: ver = %q, %v; want %q", file, got, err, want)
		}
	}
}

func TestXEP0390Examples(t *testing.T) {
	for _, tc := range []struct {
		file, input string
		want        map[hashing.Algorithm]string
	}{
		{"xep0390-simple.xml", "xep0390-simple.input.bin", map[hashing.Algorithm]string{
			hashing.SHA256:   "kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=",
			hashing.SHA3_256: "79mdYAfU9rEdTOcWDO7UEAt6E56SUzk/g6TnqUeuD9Q=",
		}},
		{"xep0390-complex.xml", "xep0390-complex.input.bin", map[hashing.Algorithm]string{
			hashing.SHA256:   "u79ZroNJbdSWhdSp311mddz44oHHPsEBntQ5b1jqBSY=",
			hashing.SHA3_256: "XpUJzLAc93258sMECZ3FJpebkzuyNXDzRNwQog8eycg=",
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in := decodeInfo(t, readVector(t, tc.file))
			input, err := hashing.AppendCaps2Input(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			if want := readVector(t, tc.input); string(input) != string(want) {
				t.Errorf("input = %q\nwant    %q", input, want)
			}
			for alg, want := range tc.want {
				got, err := hashing.Caps2(alg, in)
				if err != nil || got != want {
					t.Errorf("%s = %q, %v; want %q", alg, got, err, want)
				}
				k, err := hashing.ParseKey(hashing.XEP0390, alg, want)
				if err != nil {
					t.Fatal(err)
				}
				if m, err := hashing.Verify(k, in, hashing.Options{}); err != nil || m != hashing.Strict {
					t.Errorf("Verify %s = %v, %v", alg, m, err)
				}
			}
		})
	}
}

func TestEdgeVectors(t *testing.T) {
	// A name with "&amp;" is hashed as the raw "&": S holds character data.
	amp := decodeInfo(t, readVector(t, "xep0115-edge-amp-name.xml"))
	s, err := hashing.AppendS(nil, amp)
	if err != nil {
		t.Fatal(err)
	}
	if want := "client/pc//Tom & Jerry<http://jabber.org/protocol/caps<"; string(s) != want {
		t.Errorf("S = %q, want %q", s, want)
	}

	// No identity at all is legal: S is just the features.
	none := decodeInfo(t, readVector(t, "xep0115-edge-no-identity.xml"))
	k := mustKey(t, hashing.XEP0115, hashing.SHA1, "kR9jljQwQFoklIvoOmy/GAli0gA=")
	if _, err := hashing.Verify(k, none, hashing.Options{}); err != nil {
		t.Errorf("no-identity: %v", err)
	}

	// A repeated feature is rejected by default and verifies as sent when
	// the caller asks for that leniency.
	dup := decodeInfo(t, readVector(t, "xep0115-edge-duplicate-feature.xml"))
	k = mustKey(t, hashing.XEP0115, hashing.SHA1, "VGifDTtD2+BfRlyvJ6I+zF0/c80=")
	if _, err := hashing.Verify(k, dup, hashing.Options{}); !errors.Is(err, hashing.ErrDuplicateFeature) {
		t.Errorf("strict: err = %v, want ErrDuplicateFeature", err)
	}
	m, err := hashing.Verify(k, dup, hashing.Options{DuplicateFeatures: true})
	if err != nil || m != hashing.AsSentDuplicates {
		t.Errorf("lenient: %v, %v; want %v", m, err, hashing.AsSentDuplicates)
	}
}

func mustKey(t testing.TB, s hashing.Scheme, a hashing.Algorithm, ver string) hashing.Key {
	t.Helper()
	k, err := hashing.ParseKey(s, a, ver)
	if err != nil {
		t.Fatalf("ParseKey(%s, %s, %q): %v", s, a, ver, err)
	}
	return k
}
