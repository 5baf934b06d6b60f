package hashing_test

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"testing"

	"mellium.im/xmpp/disco"

	"github.com/capsengine/capsengine/hashing"
)

// BenchmarkVer compares the XEP-0115 ver of the §5.3 complex example with
// the physical limit (SHA-1 and base64 of the prebuilt S string) and with
// mellium.im/xmpp's disco.Info.Hash on the same data. Read them as ratios:
//
//	go test -run='^$' -bench=Ver -benchmem ./hashing/
func BenchmarkVer(b *testing.B) {
	raw := readVector(b, "xep0115-complex.xml")
	in := decodeInfo(b, raw)
	b.Run("capsengine", func(b *testing.B) {
		dst := make([]byte, 0, 512)
		b.ReportAllocs()
		for b.Loop() {
			var err error
			dst, err = hashing.AppendVer(dst[:0], hashing.SHA1, in)
			if err != nil {
				b.Fatal(err)
			}
		}
		if string(dst) != "q07IKJEyjvHSyhy//CH0CxmKi8w=" {
			b.Fatalf("ver = %q", dst)
		}
	})
	b.Run("raw-sha1-base64", func(b *testing.B) {
		s := readVector(b, "xep0115-complex.S.txt")
		dst := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			sum := sha1.Sum(s)
			dst = base64.StdEncoding.AppendEncode(dst[:0], sum[:])
		}
	})
	b.Run("mellium", func(b *testing.B) {
		var info disco.Info
		if err := xml.Unmarshal(raw, &info); err != nil {
			b.Fatal(err)
		}
		h := sha1.New()
		dst := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			h.Reset()
			dst = info.AppendHash(dst[:0], h)
		}
		if string(dst) != "q07IKJEyjvHSyhy//CH0CxmKi8w=" {
			b.Fatalf("mellium ver = %q", dst)
		}
	})
}

// BenchmarkCaps2 is the XEP-0390 hash of its complex example.
func BenchmarkCaps2(b *testing.B) {
	in := decodeInfo(b, readVector(b, "xep0390-complex.xml"))
	for _, alg := range []hashing.Algorithm{hashing.SHA256, hashing.SHA3_256, hashing.BLAKE2b256} {
		b.Run(alg.String(), func(b *testing.B) {
			dst := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				dst, _ = hashing.AppendCaps2(dst[:0], alg, in)
			}
		})
	}
}

// BenchmarkVerify is the check the engine runs on every disco#info answer.
func BenchmarkVerify(b *testing.B) {
	in := decodeInfo(b, readVector(b, "xep0115-complex.xml"))
	k := mustKey(b, hashing.XEP0115, hashing.SHA1, "q07IKJEyjvHSyhy//CH0CxmKi8w=")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hashing.Verify(k, in, hashing.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
