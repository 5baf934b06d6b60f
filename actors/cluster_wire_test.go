package actors

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/capsengine/capsengine/hashing"
)

// The cluster itself is tested with separate processes (the root
// package's TestCluster*); this covers the wire format.

func TestWireRoundTrip(t *testing.T) {
	info := &hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "psi"}},
		Features:   []string{"http://jabber.org/protocol/caps"},
		Forms:      []hashing.Form{{Type: "result", Fields: []hashing.Field{{Var: "FORM_TYPE", Type: "hidden", Values: []string{"urn:x"}}}}},
	}
	ver, err := hashing.Ver(hashing.SHA1, info)
	if err != nil {
		t.Fatal(err)
	}
	k, err := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, ver)
	if err != nil {
		t.Fatal(err)
	}
	in := &wireMsg{Key: toWire(k), JID: "a@b/c", Node: "https://psi", Origin: "127.0.0.1:7000", Seq: 7, Info: info}
	tag, out, ok := decode(encode(tagAnswer, in))
	if !ok || tag != tagAnswer {
		t.Fatalf("decode: got tag %d ok %v", tag, ok)
	}
	got, err := out.Key.key()
	if err != nil || got != k {
		t.Fatalf("got key %v (%v), want %v", got, err, k)
	}
	if out.JID != in.JID || out.Origin != in.Origin || out.Seq != 7 {
		t.Errorf("got %+v, want %+v", out, in)
	}
	if _, err := hashing.Verify(k, out.Info, hashing.Options{}); err != nil {
		t.Errorf("the decoded answer does not verify: %v", err)
	}
	if _, _, ok := decode("not a wire message"); ok {
		t.Error("decoded a foreign message")
	}
}

func TestWireErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"timeout", context.DeadlineExceeded, context.DeadlineExceeded},
		{"closed", ErrClosed, ErrClosed},
		{"overloaded", ErrOverloaded, ErrOverloaded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := remoteErr(errCode(tc.err), tc.err.Error())
			if !errors.Is(got, tc.want) {
				t.Errorf("got %v, want it to match %v", got, tc.want)
			}
		})
	}
	var re *RemoteError
	if !errors.As(remoteErr(errCode(errors.New("item-not-found")), "item-not-found"), &re) {
		t.Error("an other error is not a *RemoteError")
	}
}

// Members decode whatever reaches their cluster actors: a malformed
// message must be refused, never panic, and whatever decodes must
// re-encode to a message that decodes the same.
func FuzzWireDecode(f *testing.F) {
	info := &hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "psi"}},
		Features:   []string{"http://jabber.org/protocol/caps", "urn:xmpp:ping"},
	}
	ver, _ := hashing.Ver(hashing.SHA1, info)
	k, _ := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, ver)
	for _, m := range []*wireMsg{
		{Key: toWire(k), JID: "a@b/c", Node: "https://psi", Origin: "127.0.0.1:7000", Seq: 3},
		{Key: toWire(k), Info: info},
		{Key: toWire(k), Err: "timeout", Code: codeTimeout},
	} {
		f.Add(encode(tagAnswer, m).Value)
	}
	f.Add([]byte{tagProbe, 0})
	f.Add([]byte{tagEntry, 200, 1, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		tag, m, ok := decode(&wrapperspb.BytesValue{Value: b})
		if !ok {
			return
		}
		again := encode(tag, m)
		tag2, m2, ok := decode(again)
		if !ok || tag2 != tag {
			t.Fatalf("re-encoded message does not decode: %q", again.Value)
		}
		if third := encode(tag2, m2); !bytes.Equal(third.Value, again.Value) {
			t.Fatalf("encoding is not stable:\n%q\n%q", again.Value, third.Value)
		}
	})
}
