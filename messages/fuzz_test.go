package messages_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// warmup is decoded before each fuzz input, so that the input meets a
// Decoder whose buffers already hold another document's state.
var warmup = []byte(benchPresences[1].xml)

// checkErrType fails unless err is one of the documented error forms.
func checkErrType(t *testing.T, err error) {
	t.Helper()
	var se *messages.SyntaxError
	switch {
	case err == nil, errors.As(err, &se),
		errors.Is(err, messages.ErrTooLarge), errors.Is(err, messages.ErrTooDeep),
		errors.Is(err, messages.ErrTooMany), errors.Is(err, messages.ErrNotPresence),
		errors.Is(err, messages.ErrNotDiscoInfo), errors.Is(err, messages.ErrIQError),
		errors.Is(err, messages.ErrNoQuery):
	default:
		t.Errorf("undocumented error %T: %v", err, err)
	}
}

func FuzzDecodePresence(f *testing.F) {
	for _, p := range benchPresences {
		f.Add([]byte(p.xml))
	}
	for _, s := range presenceSeeds {
		f.Add([]byte(s))
	}
	for _, s := range discoSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := refPresence(b)

		var d messages.Decoder
		var v messages.PresenceView
		if err := d.DecodePresence(warmup, &v); err != nil {
			t.Fatal(err)
		}
		err := d.DecodePresence(b, &v)
		checkErrType(t, err)
		var got *messages.Presence
		if err == nil {
			got = v.Presence()
			_, _ = v.AppendKeys(nil)
		}
		if gc, wc := errClass(err), errClass(wantErr); gc != wc {
			t.Fatalf("input %q:\nfast:      %s %v\nreference: %s %v", b, gc, err, wc, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("input %q:\nfast:      %+v\nreference: %+v", b, show(got), show(want))
		}

		// Decoding again with the same Decoder gives the same answer.
		err2 := d.DecodePresence(b, &v)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("second decode: %v, first %v", err2, err)
		}
		if err == nil && !reflect.DeepEqual(v.Presence(), got) {
			t.Fatalf("second decode differs")
		}
		p, err3 := messages.ParsePresence(b)
		if (err == nil) != (err3 == nil) || err == nil && !reflect.DeepEqual(p, got) {
			t.Fatalf("ParsePresence: %+v, %v; DecodePresence: %+v, %v", p, err3, got, err)
		}
	})
}

func FuzzParseDiscoInfo(f *testing.F) {
	for _, s := range discoSeeds {
		f.Add([]byte(s))
	}
	vectors, _ := filepath.Glob("../testdata/vectors/*.xml")
	for _, name := range vectors {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// A sample of the real answers in the capsdb corpus; TestCapsDB reads
	// them all.
	corpus, _ := filepath.Glob("../testdata/capsdb/hashes/*.xml")
	for i := 0; i < len(corpus); i += 50 {
		b, err := os.ReadFile(corpus[i])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range presenceSeeds[:8] {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := refDiscoInfo(b)
		var d messages.Decoder
		if _, err := d.DecodeDiscoInfo([]byte(discoSeeds[4])); err != nil {
			t.Fatal(err)
		}
		got, err := d.DecodeDiscoInfo(b)
		checkErrType(t, err)
		if gc, wc := errClass(err), errClass(wantErr); gc != wc {
			t.Fatalf("input %q:\nfast:      %s %v\nreference: %s %v", b, gc, err, wc, wantErr)
		}
		if err == nil {
			if !reflect.DeepEqual(normInfo(got), normInfo(want)) {
				t.Fatalf("input %q:\nfast:      %+v\nreference: %+v", b, got, want)
			}
			// The Info is the caller's: hashing it must not panic.
			_, _ = hashing.Ver(hashing.SHA1, got)
			_, _ = hashing.Caps2(hashing.SHA256, got)
		}
	})
}

// FuzzPresenceRoundTrip checks decode(encode(p)) == p for every Presence
// XML can carry. Strings with characters XML 1.0 cannot carry (invalid
// UTF-8, C0 controls but tab, LF and CR, U+FFFE, U+FFFF) are encoded as
// U+FFFD, so for those the test expects the replaced string back.
func FuzzPresenceRoundTrip(f *testing.F) {
	f.Add("juliet@capulet.lit/balcony", "romeo@montague.lit", "id1", "", true,
		"sha-1", "http://psi-im.org", "q07IKJEyjvHSyhy//CH0CxmKi8w=", "",
		"sha-256", "kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=", "sha3-256", "", false)
	f.Add("a&b<c>'\"", " \t\r\n ", "]]>", "unavailable", true, "", "", "", "ext1 ext2",
		"", "\r\n\t &#9;", "x", "\x00\xff\uFFFE", true)
	f.Fuzz(func(t *testing.T, from, to, id, typ string, hasCaps bool, hash, node, ver, ext,
		algo1, value1, algo2, value2 string, muc bool) {
		p := &messages.Presence{From: from, To: to, ID: id, Type: typ, MUC: muc}
		if hasCaps {
			p.Caps = &messages.Caps{Hash: hash, Node: node, Ver: ver, Ext: ext}
		}
		if algo1 != "" || value1 != "" {
			p.Caps2 = append(p.Caps2, messages.Hash{Algo: algo1, Value: value1})
		}
		if algo2 != "" || value2 != "" {
			p.Caps2 = append(p.Caps2, messages.Hash{Algo: algo2, Value: value2})
		}
		b := messages.AppendPresence(nil, p)
		got, err := messages.ParsePresence(b)
		if err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
		want := sanitizePresence(p)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("encoded %q\ngot  %+v\nwant %+v", b, show(got), show(want))
		}
		ref, err := refPresence(b)
		if err != nil || !reflect.DeepEqual(ref, want) {
			t.Fatalf("encoded %q: reference got %+v, %v", b, show(ref), err)
		}
	})
}

// FuzzDiscoInfoRoundTrip is FuzzPresenceRoundTrip for Info. The lists are
// cut out of strings at control characters XML cannot carry anyway:
// identities at \x1e, their fields at \x1f; features at \x1e; forms at
// \x1d, fields at \x1e, and "var\x1ftype\x1fvalue\x1fvalue..." within a field.
func FuzzDiscoInfoRoundTrip(f *testing.F) {
	f.Add("http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w=",
		"client\x1fpc\x1fen\x1fPsi 0.11\x1eclient\x1fpc\x1fel\x1fΨ 0.11",
		"http://jabber.org/protocol/caps\x1ehttp://jabber.org/protocol/disco#info",
		"result\x1eFORM_TYPE\x1fhidden\x1furn:xmpp:dataforms:softwareinfo\x1eip_version\x1ftext-multi\x1fipv4\x1fipv6")
	f.Add("", "a\x1f\x1f\x1f", "\x1e", "\x1d\x1d")
	f.Add("&<>'\"", " \t\r\n\x1f]]>\x1f\r\x1f&#9;", "  ", "t\x1e\r\n\x1f\x1f \t ")
	f.Fuzz(func(t *testing.T, node, ids, feats, forms string) {
		in := &hashing.Info{Node: node}
		if ids != "" {
			for _, rec := range strings.Split(ids, "\x1e") {
				p := append(strings.SplitN(rec, "\x1f", 4), "", "", "", "")
				in.Identities = append(in.Identities, hashing.Identity{Category: p[0], Type: p[1], Lang: p[2], Name: p[3]})
			}
		}
		if feats != "" {
			in.Features = strings.Split(feats, "\x1e")
		}
		if forms != "" {
			for _, frec := range strings.Split(forms, "\x1d") {
				parts := strings.Split(frec, "\x1e")
				form := hashing.Form{Type: parts[0]}
				for _, fld := range parts[1:] {
					p := strings.Split(fld, "\x1f")
					p = append(p, "")
					field := hashing.Field{Var: p[0], Type: p[1]}
					if len(p) > 2 {
						field.Values = p[2 : len(p)-1]
					}
					form.Fields = append(form.Fields, field)
				}
				in.Forms = append(in.Forms, form)
			}
		}
		b := messages.AppendDiscoInfo(nil, in)
		got, err := messages.ParseDiscoInfo(b)
		if err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
		want := normInfo(sanitizeInfo(in))
		if !reflect.DeepEqual(normInfo(got), want) {
			t.Fatalf("encoded %q\ngot  %+v\nwant %+v", b, got, want)
		}
		ref, err := refDiscoInfo(b)
		if err != nil || !reflect.DeepEqual(normInfo(ref), want) {
			t.Fatalf("encoded %q: reference got %+v, %v", b, ref, err)
		}
	})
}

// sanitize is what the encoders do to a string XML cannot carry.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if !refIsChar(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func sanitizePresence(p *messages.Presence) *messages.Presence {
	q := &messages.Presence{
		From: sanitize(p.From), To: sanitize(p.To), ID: sanitize(p.ID), Type: sanitize(p.Type), MUC: p.MUC,
	}
	if p.Caps != nil {
		q.Caps = &messages.Caps{Hash: sanitize(p.Caps.Hash), Node: sanitize(p.Caps.Node),
			Ver: sanitize(p.Caps.Ver), Ext: sanitize(p.Caps.Ext)}
	}
	for _, h := range p.Caps2 {
		q.Caps2 = append(q.Caps2, messages.Hash{Algo: sanitize(h.Algo), Value: sanitize(h.Value)})
	}
	return q
}

func sanitizeInfo(in *hashing.Info) *hashing.Info {
	out := &hashing.Info{Node: sanitize(in.Node)}
	for _, id := range in.Identities {
		out.Identities = append(out.Identities, hashing.Identity{Category: sanitize(id.Category),
			Type: sanitize(id.Type), Lang: sanitize(id.Lang), Name: sanitize(id.Name)})
	}
	for _, f := range in.Features {
		out.Features = append(out.Features, sanitize(f))
	}
	for _, f := range in.Forms {
		form := hashing.Form{Type: sanitize(f.Type)}
		for _, fld := range f.Fields {
			field := hashing.Field{Var: sanitize(fld.Var), Type: sanitize(fld.Type)}
			for _, v := range fld.Values {
				field.Values = append(field.Values, sanitize(v))
			}
			form.Fields = append(form.Fields, field)
		}
		out.Forms = append(out.Forms, form)
	}
	return out
}

// normInfo makes empty slices nil, so that DeepEqual compares content.
func normInfo(in *hashing.Info) *hashing.Info {
	if in == nil {
		return nil
	}
	out := &hashing.Info{Node: in.Node}
	if len(in.Identities) > 0 {
		out.Identities = in.Identities
	}
	if len(in.Features) > 0 {
		out.Features = in.Features
	}
	for _, f := range in.Forms {
		form := hashing.Form{Type: f.Type}
		for _, fld := range f.Fields {
			field := hashing.Field{Var: fld.Var, Type: fld.Type}
			if len(fld.Values) > 0 {
				field.Values = fld.Values
			}
			form.Fields = append(form.Fields, field)
		}
		out.Forms = append(out.Forms, form)
	}
	return out
}

// show makes a Presence print its caps by value.
func show(p *messages.Presence) any {
	if p == nil {
		return nil
	}
	type flat struct {
		messages.Presence
		Caps messages.Caps
	}
	f := flat{Presence: *p}
	if p.Caps != nil {
		f.Caps = *p.Caps
	}
	return f
}
