package messages_test

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

const vectorDir = "../testdata/vectors"

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseBoth runs ParseDiscoInfo and the reference and requires agreement.
func parseBoth(t *testing.T, b []byte) (*hashing.Info, error) {
	t.Helper()
	got, err := messages.ParseDiscoInfo(b)
	ref, refErr := refDiscoInfo(b)
	if errClass(err) != errClass(refErr) {
		t.Fatalf("fast: %v; reference: %v", err, refErr)
	}
	if err == nil && !reflect.DeepEqual(normInfo(got), normInfo(ref)) {
		t.Fatalf("fast: %+v\nreference: %+v", got, ref)
	}
	return got, err
}

func TestParseDiscoInfoVectors(t *testing.T) {
	t.Run("xep0115-simple", func(t *testing.T) {
		in, err := parseBoth(t, readFile(t, filepath.Join(vectorDir, "xep0115-simple.xml")))
		if err != nil {
			t.Fatal(err)
		}
		want := &hashing.Info{
			Node:       "http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0=",
			Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}},
			Features: []string{"http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
				"http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc"},
		}
		if !reflect.DeepEqual(in, want) {
			t.Errorf("got %+v, want %+v", in, want)
		}
		checkS(t, in, "xep0115-simple.S.txt")
		if ver, err := hashing.Ver(hashing.SHA1, in); err != nil || ver != ver1 {
			t.Errorf("got ver %q, %v, want %q", ver, err, ver1)
		}
	})
	t.Run("xep0115-complex", func(t *testing.T) {
		in, err := parseBoth(t, readFile(t, filepath.Join(vectorDir, "xep0115-complex.xml")))
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Identities) != 2 || in.Identities[0].Lang != "en" || in.Identities[1].Lang != "el" ||
			in.Identities[1].Name != "Ψ 0.11" {
			t.Errorf("identities %+v", in.Identities)
		}
		if len(in.Features) != 4 {
			t.Errorf("got %d features, want 4", len(in.Features))
		}
		if len(in.Forms) != 1 || in.Forms[0].Type != "result" || len(in.Forms[0].Fields) != 6 {
			t.Fatalf("forms %+v", in.Forms)
		}
		ipv := in.Forms[0].Fields[1]
		if ipv.Var != "ip_version" || ipv.Type != "text-multi" || !reflect.DeepEqual(ipv.Values, []string{"ipv4", "ipv6"}) {
			t.Errorf("field %+v", ipv)
		}
		checkS(t, in, "xep0115-complex.S.txt")
		if ver, err := hashing.Ver(hashing.SHA1, in); err != nil || ver != ver2 {
			t.Errorf("got ver %q, %v, want %q", ver, err, ver2)
		}
	})
	t.Run("xep0115-edge-amp-name", func(t *testing.T) {
		in, err := parseBoth(t, readFile(t, filepath.Join(vectorDir, "xep0115-edge-amp-name.xml")))
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Identities) != 1 || in.Identities[0].Name != "Tom & Jerry" {
			t.Errorf("identities %+v", in.Identities)
		}
	})
	t.Run("xep0115-edge-duplicate-feature", func(t *testing.T) {
		// The decoder keeps what was sent; rejecting it is hashing's job.
		in, err := parseBoth(t, readFile(t, filepath.Join(vectorDir, "xep0115-edge-duplicate-feature.xml")))
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Features) != 23 {
			t.Errorf("got %d features, want 23", len(in.Features))
		}
		if _, err := hashing.Ver(hashing.SHA1, in); !errors.Is(err, hashing.ErrDuplicateFeature) {
			t.Errorf("hashing: got %v, want ErrDuplicateFeature", err)
		}
	})
	t.Run("xep0115-edge-no-identity", func(t *testing.T) {
		in, err := parseBoth(t, readFile(t, filepath.Join(vectorDir, "xep0115-edge-no-identity.xml")))
		if err != nil {
			t.Fatal(err)
		}
		if in.Identities != nil || len(in.Features) != 1 || !strings.HasPrefix(in.Node, "http://strophe.im/") {
			t.Errorf("got %+v", in)
		}
	})
	for _, name := range []string{"xep0390-simple", "xep0390-complex"} {
		t.Run(name, func(t *testing.T) {
			in, err := parseBoth(t, readFile(t, filepath.Join(vectorDir, name+".xml")))
			if err != nil {
				t.Fatal(err)
			}
			got, err := hashing.AppendCaps2Input(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			if want := readFile(t, filepath.Join(vectorDir, name+".input.bin")); !bytes.Equal(got, want) {
				t.Errorf("caps2 input differs:\ngot  %q\nwant %q", got, want)
			}
		})
	}
}

func checkS(t *testing.T, in *hashing.Info, file string) {
	t.Helper()
	got, err := hashing.AppendS(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := readFile(t, filepath.Join(vectorDir, file)); !bytes.Equal(got, bytes.TrimRight(want, "\n")) {
		t.Errorf("S differs:\ngot  %q\nwant %q", got, want)
	}
}

func TestParseDiscoInfo(t *testing.T) {
	const q = `xmlns='http://jabber.org/protocol/disco#info'`
	tests := []struct {
		name string
		in   string
		want *hashing.Info
	}{
		{"iq jabber:client, langs on iq and query are not inherited",
			`<iq xmlns='jabber:client' type='result' xml:lang='en'><query ` + q + ` node='n#v' xml:lang='de'><identity category='client' type='pc' name='A'/><identity category='client' type='pc' xml:lang='fr' name='B'/></query></iq>`,
			&hashing.Info{Node: "n#v", Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "A"}, {Category: "client", Type: "pc", Lang: "fr", Name: "B"}}}},
		{"iq jabber:server", `<iq xmlns='jabber:server' type='result'><query ` + q + `><feature var='f'/></query></iq>`,
			&hashing.Info{Features: []string{"f"}}},
		{"iq without namespace, XML declaration",
			`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<iq type='result'><query ` + q + `><feature var='f'/></query></iq>`,
			&hashing.Info{Features: []string{"f"}}},
		{"first query of the iq", `<iq><query ` + q + `><feature var='a'/></query><query ` + q + `><feature var='b'/></query></iq>`,
			&hashing.Info{Features: []string{"a"}}},
		{"query in another namespace skipped", `<iq><query xmlns='jabber:iq:version'/><query ` + q + `><feature var='b'/></query></iq>`,
			&hashing.Info{Features: []string{"b"}}},
		{"nested query ignored (ejabberd capsdb entries)",
			`<query ` + q + ` node='n'><query ` + q + `><identity category='server' type='im'/><feature var='inner'/></query></query>`,
			&hashing.Info{Node: "n"}},
		{"unknown and wrong-namespace children ignored",
			`<query ` + q + `><identity xmlns='urn:x' category='x' type='y'/><feature xmlns='urn:x' var='no'/><foo/><feature var='yes'><child/></feature><x xmlns='urn:not-forms'/></query>`,
			&hashing.Info{Features: []string{"yes"}}},
		{"prefixed elements", `<d:query xmlns:d='http://jabber.org/protocol/disco#info' xmlns:f='jabber:x:data'><d:identity category='c' type='t'/><d:feature var='v'/><f:x type='result'><f:field var='FORM_TYPE' type='hidden'><f:value>urn:x</f:value></f:field></f:x></d:query>`,
			&hashing.Info{Identities: []hashing.Identity{{Category: "c", Type: "t"}}, Features: []string{"v"},
				Forms: []hashing.Form{{Type: "result", Fields: []hashing.Field{{Var: "FORM_TYPE", Type: "hidden", Values: []string{"urn:x"}}}}}}},
		{"value text exactly: whitespace, references, CDATA, comments, child elements",
			"<query " + q + "><x xmlns='jabber:x:data'><field var='v'><value>  a &amp; b\r\n<![CDATA[<c>&amp;]]><!-- x -->d<b>no</b> </value><value/><value></value></field></x></query>",
			&hashing.Info{Forms: []hashing.Form{{Fields: []hashing.Field{{Var: "v", Values: []string{"  a & b\n<c>&amp;d ", "", ""}}}}}}},
		{"option values, desc and required are not field values",
			`<query ` + q + `><x xmlns='jabber:x:data'><field var='v' type='list-single'><desc>d</desc><required/><option label='l'><value>o</value></option><value>real</value></field></x></query>`,
			&hashing.Info{Forms: []hashing.Form{{Fields: []hashing.Field{{Var: "v", Type: "list-single", Values: []string{"real"}}}}}}},
		{"form without fields and field without values",
			`<query ` + q + `><x xmlns='jabber:x:data' type='result'/><x xmlns='jabber:x:data'><field var='e'/></x></query>`,
			&hashing.Info{Forms: []hashing.Form{{Type: "result"}, {Fields: []hashing.Field{{Var: "e"}}}}}},
		{"fields of a nested form are not the query's", `<query ` + q + `><foo><x xmlns='jabber:x:data'><field var='v'/></x></foo></query>`,
			&hashing.Info{}},
		{"feature without var", `<query ` + q + `><feature/></query>`, &hashing.Info{Features: []string{""}}},
		{"empty query", `<query ` + q + `/>`, &hashing.Info{}},
		{"attribute normalization in identity name", "<query " + q + "><identity category='c' type='t' name='a\tb&#9;c'/></query>",
			&hashing.Info{Identities: []hashing.Identity{{Category: "c", Type: "t", Name: "a b\tc"}}}},
		{"prefixed attributes are not the identity's", `<query ` + q + ` xmlns:p='urn:p'><identity p:category='x' category='c' p:lang='xx' type='t'/></query>`,
			&hashing.Info{Identities: []hashing.Identity{{Category: "c", Type: "t"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBoth(t, []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normInfo(got), normInfo(tc.want)) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseDiscoInfoErrors(t *testing.T) {
	const q = `xmlns='http://jabber.org/protocol/disco#info'`
	many := func(elem string, n int) string {
		return `<query ` + q + `>` + strings.Repeat(elem, n) + `</query>`
	}
	form := func(inner string) string {
		return `<query ` + q + `><x xmlns='jabber:x:data'>` + inner + `</x></query>`
	}
	tests := []struct {
		name string
		lim  messages.Limits
		in   string
		want error
	}{
		{"iq error", messages.Limits{}, `<iq type='error'><query ` + q + `/><error type='cancel'/></iq>`, messages.ErrIQError},
		{"iq without query", messages.Limits{}, `<iq type='result'/>`, messages.ErrNoQuery},
		{"iq with other query", messages.Limits{}, `<iq type='result'><query xmlns='jabber:iq:roster'/></iq>`, messages.ErrNoQuery},
		{"query nested deeper in iq", messages.Limits{}, `<iq><x><query ` + q + `/></x></iq>`, messages.ErrNoQuery},
		{"iq in another namespace", messages.Limits{}, `<iq xmlns='urn:x'><query ` + q + `/></iq>`, messages.ErrNotDiscoInfo},
		{"other root", messages.Limits{}, `<presence/>`, messages.ErrNotDiscoInfo},
		{"disco#items", messages.Limits{}, `<query xmlns='http://jabber.org/protocol/disco#items'/>`, messages.ErrNotDiscoInfo},
		{"too large", messages.Limits{MaxDiscoInfoBytes: 20}, `<query ` + q + `/>`, messages.ErrTooLarge},
		{"identities", messages.Limits{}, many(`<identity category='c' type='t'/>`, 65), messages.ErrTooMany},
		{"features", messages.Limits{MaxFeatures: 2}, many(`<feature var='f'/>`, 3), messages.ErrTooMany},
		{"forms", messages.Limits{}, many(`<x xmlns='jabber:x:data'/>`, 17), messages.ErrTooMany},
		{"fields", messages.Limits{MaxFields: 3}, form(strings.Repeat(`<field var='f'/>`, 4)), messages.ErrTooMany},
		{"values", messages.Limits{MaxValues: 3}, form(`<field var='a'><value/><value/></field><field var='b'><value/><value/></field>`), messages.ErrTooMany},
		{"depth", messages.Limits{}, `<query ` + q + `>` + strings.Repeat("<a>", 64) + strings.Repeat("</a>", 64) + `</query>`, messages.ErrTooDeep},
		{"malformed iq error is a syntax error", messages.Limits{}, `<iq type='error'><a></iq>`, nil},
		{"text after the query", messages.Limits{}, `<query ` + q + `/>x`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := messages.Decoder{Limits: tc.lim}
			in, err := d.DecodeDiscoInfo([]byte(tc.in))
			if in != nil {
				t.Errorf("got an Info with error %v", err)
			}
			if tc.want == nil {
				var se *messages.SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("got %v, want *SyntaxError", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	for _, tc := range malformed {
		if _, err := messages.ParseDiscoInfo([]byte(tc.in)); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// TestCapsDB parses every answer of the capsdb corpus with both decoders
// and verifies it against the hash in its file name
// (ALG_urlencoded(node#ver).xml). Every answer verifies except those that
// list a feature twice (§5.4) and ejabberd's, which nest the real query in
// an outer one: the inner query does not count, so they hash differently.
func TestCapsDB(t *testing.T) {
	files, err := filepath.Glob("../testdata/capsdb/hashes/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatal("capsdb corpus missing from the repository")
	}
	var d messages.Decoder
	verified := 0
	for _, name := range files {
		base := filepath.Base(name)
		b := readFile(t, name)
		got, err := d.DecodeDiscoInfo(b)
		if err != nil {
			t.Errorf("%s: %v", base, err)
			continue
		}
		ref, err := refDiscoInfo(b)
		if err != nil || !reflect.DeepEqual(normInfo(got), normInfo(ref)) {
			t.Errorf("%s: fast %+v\nreference %+v, %v", base, got, ref, err)
		}

		alg, rest, _ := strings.Cut(strings.TrimSuffix(base, ".xml"), "_")
		nodeVer, err := url.QueryUnescape(rest)
		if err != nil {
			t.Fatal(err)
		}
		if got.Node != nodeVer {
			t.Errorf("%s: node %q", base, got.Node)
		}
		a, err := hashing.ParseAlgorithm(alg)
		if err != nil {
			t.Fatal(err)
		}
		k, err := hashing.ParseKey(hashing.XEP0115, a, nodeVer[strings.LastIndex(nodeVer, "#")+1:])
		if err != nil {
			t.Fatal(err)
		}
		_, err = hashing.Verify(k, got, hashing.Options{})
		nested := bytes.Count(b, []byte("<query")) > 1
		switch rule := hashing.Rule(err); {
		case err == nil && !nested:
			verified++
		case rule == "duplicate-feature", rule == "mismatch" && nested:
		default:
			t.Errorf("%s: %v (nested query: %v)", base, err, nested)
		}
	}
	t.Logf("%d of %d answers verify", verified, len(files))
}

func TestParseDiscoInfoAllocs(t *testing.T) {
	b := readFile(t, filepath.Join(vectorDir, "xep0115-complex.xml"))
	var d messages.Decoder
	if _, err := d.DecodeDiscoInfo(b); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := d.DecodeDiscoInfo(b); err != nil {
			t.Fatal(err)
		}
	})
	// The Info, its string data, identities, features, forms, fields, values.
	if allocs > 7 {
		t.Errorf("%v allocations per decode, want at most 7", allocs)
	}
}
