package hashing_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

func form(fields ...hashing.Field) hashing.Form {
	return hashing.Form{Type: "result", Fields: fields}
}

func hidden(v ...string) hashing.Field {
	return hashing.Field{Var: "FORM_TYPE", Type: "hidden", Values: v}
}

func TestValidationRules(t *testing.T) {
	pc := hashing.Identity{Category: "client", Type: "pc", Name: "X"}
	for _, tc := range []struct {
		name string
		info hashing.Info
		want error  // nil: valid
		rule string // Rule(err)
	}{
		{"valid", hashing.Info{Identities: []hashing.Identity{pc}, Features: []string{"a", "b"}}, nil, ""},
		{"duplicate identity", hashing.Info{Identities: []hashing.Identity{pc, {Category: "bot", Type: "x"}, pc}}, hashing.ErrDuplicateIdentity, "duplicate-identity"},
		{"same identity other lang", hashing.Info{Identities: []hashing.Identity{pc, {Category: "client", Type: "pc", Lang: "de", Name: "X"}}}, nil, ""},
		{"same identity other name", hashing.Info{Identities: []hashing.Identity{pc, {Category: "client", Type: "pc", Name: "Y"}}}, nil, ""},
		{"duplicate feature", hashing.Info{Features: []string{"b", "a", "b"}}, hashing.ErrDuplicateFeature, "duplicate-feature"},
		{"duplicate FORM_TYPE", hashing.Info{Forms: []hashing.Form{form(hidden("urn:a")), form(hidden("urn:b")), form(hidden("urn:a"))}}, hashing.ErrDuplicateFormType, "duplicate-form-type"},
		{"FORM_TYPE values differ", hashing.Info{Forms: []hashing.Form{form(hidden("urn:a", "urn:b"))}}, hashing.ErrFormTypeMultipleValues, "form-type-multiple-values"},
		{"FORM_TYPE values differ across fields", hashing.Info{Forms: []hashing.Form{form(hidden("urn:a"), hidden("urn:b"))}}, hashing.ErrFormTypeMultipleValues, "form-type-multiple-values"},
		{"FORM_TYPE value repeated identically", hashing.Info{Forms: []hashing.Form{form(hidden("urn:a", "urn:a"))}}, nil, ""},
		{"non-hidden FORM_TYPE duplicates ignored", hashing.Info{Forms: []hashing.Form{
			form(hidden("urn:a")),
			form(hashing.Field{Var: "FORM_TYPE", Values: []string{"urn:a"}}),
		}}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hashing.Ver(hashing.SHA1, &tc.info)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got := hashing.Rule(err); got != tc.rule {
				t.Errorf("Rule = %q, want %q", got, tc.rule)
			}
			if tc.want != nil {
				var re *hashing.RuleError
				if !errors.As(err, &re) || re.Value == "" {
					t.Errorf("err = %#v, want a *RuleError naming the value", err)
				}
			}
			// XEP-0390 keeps the same rules, and verification rejects
			// before it hashes.
			if _, err2 := hashing.Caps2(hashing.SHA256, &tc.info); !errors.Is(err2, tc.want) || (tc.want == nil) != (err2 == nil) {
				t.Errorf("caps2 err = %v, want %v", err2, tc.want)
			}
		})
	}
}

func TestFormsLeftOut(t *testing.T) {
	base := hashing.Info{Features: []string{"f"}}
	plain, err := hashing.AppendS(nil, &base)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]hashing.Form{
		"no FORM_TYPE":         form(hashing.Field{Var: "x", Values: []string{"1"}}),
		"FORM_TYPE not hidden": form(hashing.Field{Var: "FORM_TYPE", Type: "text-single", Values: []string{"urn:a"}}),
		"FORM_TYPE no value":   form(hashing.Field{Var: "FORM_TYPE", Type: "hidden"}),
	} {
		in := base
		in.Forms = []hashing.Form{f}
		s, err := hashing.AppendS(nil, &in)
		if err != nil || string(s) != string(plain) {
			t.Errorf("%s: S = %q, %v; want %q", name, s, err, plain)
		}
	}
}

func TestSortOrder(t *testing.T) {
	in := hashing.Info{
		Identities: []hashing.Identity{
			{Category: "client", Type: "pc", Lang: "en", Name: "b"},
			{Category: "client", Type: "pc", Lang: "en", Name: "a"},
			{Category: "client", Type: "pc", Lang: "", Name: "z"},
			{Category: "bot", Type: "pc"},
			{Category: "client", Type: "bot"},
		},
		// Octet order: upper case before lower case, "é" (0xC3) after "z".
		Features: []string{"é", "z", "Z", "a", "ab"},
		Forms: []hashing.Form{
			form(hidden("urn:b"), hashing.Field{Var: "y", Values: []string{"2", "10", "1"}}, hashing.Field{Var: "x"}),
			form(hashing.Field{Var: "k", Values: []string{"v"}}, hidden("urn:a")),
		},
	}
	orig := deepCopy(&in)
	s, err := hashing.AppendS(nil, &in)
	if err != nil {
		t.Fatal(err)
	}
	want := "bot/pc//<client/bot//<client/pc//z<client/pc/en/a<client/pc/en/b<" +
		"Z<a<ab<z<é<" +
		"urn:a<k<v<" +
		"urn:b<x<y<1<10<2<"
	if string(s) != want {
		t.Errorf("S =\n%q, want\n%q", s, want)
	}
	if !reflect.DeepEqual(&in, orig) {
		t.Errorf("AppendS modified its input:\n%+v\nwas\n%+v", in, orig)
	}
	for _, alg := range []hashing.Algorithm{hashing.SHA256, hashing.BLAKE2b512} {
		if _, err := hashing.Caps2(alg, &in); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&in, orig) {
			t.Fatalf("Caps2 modified its input")
		}
	}
}

func deepCopy(in *hashing.Info) *hashing.Info {
	out := &hashing.Info{Node: in.Node, Identities: slices.Clone(in.Identities), Features: slices.Clone(in.Features)}
	for _, f := range in.Forms {
		nf := hashing.Form{Type: f.Type}
		for _, fld := range f.Fields {
			fld.Values = slices.Clone(fld.Values)
			nf.Fields = append(nf.Fields, fld)
		}
		out.Forms = append(out.Forms, nf)
	}
	return out
}

func TestCaps2SortsEncodedStrings(t *testing.T) {
	// XEP-0390 sorts the encoded octet strings: a tab (0x09) sorts before
	// the 0x1f that ends a shorter string, so "a\t" precedes "a" there,
	// while XEP-0115 puts the prefix first.
	in := hashing.Info{Features: []string{"a", "a\t"}}
	got, err := hashing.AppendCaps2Input(nil, &in)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\t\x1fa\x1f\x1c\x1c\x1c"; string(got) != want {
		t.Errorf("input = %q, want %q", got, want)
	}
	s, _ := hashing.AppendS(nil, &in)
	if want := "a<a\t<"; string(s) != want {
		t.Errorf("S = %q, want %q", s, want)
	}
}

func TestEscapedLeniency(t *testing.T) {
	in := hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "Tom & Jerry <3"}},
		Features:   []string{"urn:x"},
	}
	// What aioxmpp announces: the hash over the escaped string.
	esc := []byte("client/pc//Tom &amp; Jerry &lt;3<urn:x<")
	var digest [20]byte
	copy(digest[:], sha1Sum(esc))
	k, err := hashing.NewKey(hashing.XEP0115, hashing.SHA1, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	_, err = hashing.Verify(k, &in, hashing.Options{})
	var mm *hashing.MismatchError
	if !errors.As(err, &mm) || hashing.Rule(err) != "mismatch" {
		t.Fatalf("strict: err = %v, want a mismatch", err)
	}
	m, err := hashing.Verify(k, &in, hashing.Options{EscapedS: true})
	if err != nil || m != hashing.Escaped {
		t.Fatalf("lenient: %v, %v; want %v", m, err, hashing.Escaped)
	}
	// The raw hash still verifies as Strict with the option on.
	raw, _ := hashing.Compute(hashing.XEP0115, hashing.SHA1, &in)
	if m, err := hashing.Verify(raw, &in, hashing.Options{EscapedS: true}); err != nil || m != hashing.Strict {
		t.Fatalf("raw: %v, %v", m, err)
	}
}

func TestAlgorithms(t *testing.T) {
	in := complexInfo
	for _, a := range hashing.Algorithms() {
		got, err := hashing.ParseAlgorithm(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAlgorithm(%q) = %v, %v", a, got, err)
		}
		for _, s := range []hashing.Scheme{hashing.XEP0115, hashing.XEP0390} {
			k, err := hashing.Compute(s, a, &in)
			if !s.Emittable(a) {
				if !errors.Is(err, hashing.ErrAlgorithmNotAllowed) {
					t.Errorf("Compute(%s, %s) err = %v, want ErrAlgorithmNotAllowed", s, a, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("Compute(%s, %s): %v", s, a, err)
			}
			if len(k.Digest()) != a.Size() {
				t.Errorf("%s %s digest is %d bytes, want %d", s, a, len(k.Digest()), a.Size())
			}
			back := mustKey(t, s, a, k.Ver())
			if back != k {
				t.Errorf("ParseKey(Ver()) = %v, want %v", back, k)
			}
			if _, err := hashing.Verify(k, &in, hashing.Options{}); err != nil {
				t.Errorf("Verify(%v): %v", k, err)
			}
		}
	}
	if _, err := hashing.ParseAlgorithm("SHA-1"); !errors.Is(err, hashing.ErrUnknownAlgorithm) {
		t.Errorf("ParseAlgorithm(SHA-1) err = %v", err)
	}
	if _, err := hashing.Ver(hashing.MD5, &in); !errors.Is(err, hashing.ErrAlgorithmNotAllowed) {
		t.Errorf("md5 is emitted: %v", err)
	}
	if _, err := hashing.Caps2(hashing.SHA1, &in); !errors.Is(err, hashing.ErrAlgorithmNotAllowed) {
		t.Errorf("caps2 sha-1 is emitted: %v", err)
	}
}

func TestParseKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scheme hashing.Scheme
		alg    hashing.Algorithm
		ver    string
		want   error
	}{
		{"ok", hashing.XEP0115, hashing.SHA1, "QgayPKawpkPSDYmwT/WM94uAlu0=", nil},
		{"md5 verifiable", hashing.XEP0115, hashing.MD5, "yZFAamn0mtSxMIt640v2Gw==", nil},
		{"unknown alg", hashing.XEP0115, 0, "QgayPKawpkPSDYmwT/WM94uAlu0=", hashing.ErrUnknownAlgorithm},
		{"md5 not caps2", hashing.XEP0390, hashing.MD5, "yZFAamn0mtSxMIt640v2Gw==", hashing.ErrAlgorithmNotAllowed},
		{"bad base64", hashing.XEP0115, hashing.SHA1, "QgayPKawpkPSDYmwT/WM94uAl!0=", hashing.ErrBadVer},
		{"non-canonical padding bits", hashing.XEP0115, hashing.SHA1, "QgayPKawpkPSDYmwT/WM94uAlu1=", hashing.ErrBadVer},
		{"too short", hashing.XEP0115, hashing.SHA1, "QgayPKawpkPSDYmw", hashing.ErrVerLength},
		{"sha-256 length for sha-1", hashing.XEP0115, hashing.SHA1, "kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=", hashing.ErrVerLength},
		{"empty", hashing.XEP0115, hashing.SHA1, "", hashing.ErrVerLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hashing.ParseKey(tc.scheme, tc.alg, tc.ver)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMismatch(t *testing.T) {
	k := mustKey(t, hashing.XEP0115, hashing.SHA1, "QgayPKawpkPSDYmwT/WM94uAlu0=")
	in := deepCopy(&simpleInfo)
	in.Features = append(in.Features, "urn:xmpp:evil")
	_, err := hashing.Verify(k, in, hashing.Options{DuplicateFeatures: true, EscapedS: true})
	var mm *hashing.MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("err = %v, want *MismatchError", err)
	}
	if mm.Key != k || mm.Computed == k.Ver() || mm.Node != in.Node {
		t.Errorf("mismatch = %+v", mm)
	}
}
