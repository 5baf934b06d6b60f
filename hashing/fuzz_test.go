package hashing_test

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

// infoFromBytes turns fuzz bytes into an Info: a deterministic way to reach
// odd shapes (empty strings, separators, duplicates, unsorted input).
func infoFromBytes(b []byte) *hashing.Info {
	parts := strings.Split(string(b), "|")
	in := &hashing.Info{}
	var f *hashing.Form
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, "i:"):
			v := strings.SplitN(p[2:], "/", 4)
			for len(v) < 4 {
				v = append(v, "")
			}
			in.Identities = append(in.Identities, hashing.Identity{Category: v[0], Type: v[1], Lang: v[2], Name: v[3]})
		case strings.HasPrefix(p, "x:"):
			in.Forms = append(in.Forms, hashing.Form{Type: p[2:]})
			f = &in.Forms[len(in.Forms)-1]
		case strings.HasPrefix(p, "v:") && f != nil:
			v := strings.Split(p[2:], ",")
			typ := ""
			if i%2 == 0 {
				typ = "hidden"
			}
			f.Fields = append(f.Fields, hashing.Field{Var: v[0], Type: typ, Values: v[1:]})
		default:
			in.Features = append(in.Features, p)
		}
	}
	return in
}

func FuzzHash(f *testing.F) {
	f.Add([]byte("i:client/pc/en/Psi|i:client/pc/el/Ψ|a|b|x:result|v:FORM_TYPE,urn:x|v:os,Mac|v:ip,ipv6,ipv4"))
	f.Add([]byte("b|a|b"))
	f.Add([]byte("i:a/b|i:a/b"))
	f.Add([]byte("x:|v:FORM_TYPE,u,v"))
	f.Add([]byte("x:|v:FORM_TYPE,u|x:|v:FORM_TYPE,u"))
	f.Add([]byte("a\t|a|\x1f|<|&amp;|"))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := infoFromBytes(b)
		orig := deepCopy(in)
		for _, s := range []hashing.Scheme{hashing.XEP0115, hashing.XEP0390} {
			k, err := hashing.Compute(s, hashing.SHA256, in)
			if !reflect.DeepEqual(in, orig) {
				t.Fatal("Compute modified its input")
			}
			if err != nil {
				var re *hashing.RuleError
				if !errors.As(err, &re) {
					t.Fatalf("Compute: %v is not a *RuleError", err)
				}
				continue
			}
			back, err := hashing.ParseKey(s, hashing.SHA256, k.Ver())
			if err != nil || back != k {
				t.Fatalf("ParseKey(%q) = %v, %v; want %v", k.Ver(), back, err, k)
			}
			if _, err := hashing.Verify(k, in, hashing.Options{}); err != nil {
				t.Fatalf("Verify own hash: %v", err)
			}
			// The hash is a function of the set, not of the order sent.
			shuffled := deepCopy(in)
			r := rand.New(rand.NewPCG(uint64(len(b)), 1))
			r.Shuffle(len(shuffled.Identities), func(i, j int) {
				shuffled.Identities[i], shuffled.Identities[j] = shuffled.Identities[j], shuffled.Identities[i]
			})
			r.Shuffle(len(shuffled.Features), func(i, j int) {
				shuffled.Features[i], shuffled.Features[j] = shuffled.Features[j], shuffled.Features[i]
			})
			r.Shuffle(len(shuffled.Forms), func(i, j int) {
				shuffled.Forms[i], shuffled.Forms[j] = shuffled.Forms[j], shuffled.Forms[i]
			})
			if k2, err := hashing.Compute(s, hashing.SHA256, shuffled); err != nil || k2 != k {
				t.Fatalf("%s: shuffled input hashes to %v, %v; want %v", s, k2, err, k)
			}
		}
		// Verification against an arbitrary key never panics.
		k, _ := hashing.NewKey(hashing.XEP0115, hashing.SHA1, make([]byte, 20))
		_, _ = hashing.Verify(k, in, hashing.Options{DuplicateFeatures: true, EscapedS: true})
	})
}

func FuzzParseKey(f *testing.F) {
	f.Add(uint8(2), "QgayPKawpkPSDYmwT/WM94uAlu0=")
	f.Add(uint8(1), "yZFAamn0mtSxMIt640v2Gw==")
	f.Add(uint8(4), "kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=")
	f.Add(uint8(2), "====")
	f.Fuzz(func(t *testing.T, alg uint8, ver string) {
		for _, s := range []hashing.Scheme{hashing.XEP0115, hashing.XEP0390} {
			k, err := hashing.ParseKey(s, hashing.Algorithm(alg), ver)
			if err != nil {
				continue
			}
			if k.Ver() != ver {
				t.Fatalf("ParseKey(%q).Ver() = %q", ver, k.Ver())
			}
			k2, err := hashing.ParseKeyBytes(s, hashing.Algorithm(alg), []byte(ver))
			if err != nil || k2 != k {
				t.Fatalf("ParseKeyBytes = %v, %v; want %v", k2, err, k)
			}
		}
	})
}

// FuzzParseQueryNode: any node either fails or gives a key whose query
// node, with the node returned, is the input again.
func FuzzParseQueryNode(f *testing.F) {
	f.Add("http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0=")
	f.Add("urn:xmpp:caps#sha-256.kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=")
	f.Add("urn:xmpp:caps#sha-256")
	f.Fuzz(func(t *testing.T, n string) {
		k, node, err := hashing.ParseQueryNode(n)
		if err != nil {
			return
		}
		if got := k.QueryNode(node); got != n {
			t.Errorf("ParseQueryNode(%q) = %v, %q; its query node is %q", n, k, node, got)
		}
	})
}
