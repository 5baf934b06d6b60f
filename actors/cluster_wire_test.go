package actors

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/capsengine/capsengine/actors/internal/wirepb"
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
	k, err := hashing.Compute(hashing.XEP0115, hashing.SHA1, info)
	if err != nil {
		t.Fatal(err)
	}
	in := &wireMsg{Key: toWire(k), JID: "a@b/c", Node: "https://psi", Origin: "127.0.0.1:7000", Seq: 7, Info: info}
	// Through the bytes protoactor sends.
	b, err := proto.Marshal(encode(tagAnswer, in))
	if err != nil {
		t.Fatal(err)
	}
	var pm wirepb.Message
	if err := proto.Unmarshal(b, &pm); err != nil {
		t.Fatal(err)
	}
	tag, out, err := decodeWire(&pm)
	if err != nil || tag != tagAnswer {
		t.Fatalf("decode: got tag %d, %v", tag, err)
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
	if _, _, err := decodeWire("not a wire message"); err != errNotWire {
		t.Errorf("a foreign message: %v, want errNotWire", err)
	}
}

// A member of another wire version is refused with an error that says so,
// counted and logged once; its messages are never half understood.
func TestWireVersionRefused(t *testing.T) {
	_, k, _ := client(t, "wirev", nil)
	v1 := &wrapperspb.BytesValue{Value: append([]byte{tagResolve, 2}, "{}"...)} // version 1's shape
	next := encode(tagResolve, &wireMsg{Key: toWire(k)})
	next.Version = wireVersion + 1
	for name, msg := range map[string]any{"version 1": v1, "a later version": next} {
		_, _, err := decodeWire(msg)
		var ve *WireVersionError
		if !errors.As(err, &ve) || ve.Version == wireVersion {
			t.Errorf("%s: %v, want a *WireVersionError", name, err)
		}
	}
	var logs bytes.Buffer
	c := &Counters{}
	d := &core{counters: c, log: slog.New(slog.NewTextHandler(&logs, nil))}
	for range 3 {
		if _, _, ok := d.decode(v1); ok {
			t.Fatal("a version 1 message was accepted")
		}
	}
	if _, _, ok := d.decode(&actor.Started{}); ok {
		t.Fatal("a system message decoded")
	}
	if n := c.WireRefused.Load(); n != 3 {
		t.Errorf("WireRefused = %d, want 3 (system messages are not refusals)", n)
	}
	if n := strings.Count(logs.String(), "refused a cluster message"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
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
	k, _ := hashing.Compute(hashing.XEP0115, hashing.SHA1, info)
	for _, m := range []*wireMsg{
		{Key: toWire(k), JID: "a@b/c", Node: "https://psi", Origin: "127.0.0.1:7000", Seq: 3},
		{Key: toWire(k), Info: info},
		{Key: toWire(k), Err: "timeout", Code: codeTimeout},
	} {
		b, err := proto.Marshal(encode(tagAnswer, m))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{8, 2, 16, 6})
	f.Fuzz(func(t *testing.T, b []byte) {
		var pm wirepb.Message
		if proto.Unmarshal(b, &pm) != nil {
			return
		}
		tag, m, err := decodeWire(&pm)
		if err != nil {
			return
		}
		again := encode(tag, m)
		tag2, m2, err := decodeWire(again)
		if err != nil || tag2 != tag {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if third := encode(tag2, m2); !proto.Equal(third, again) {
			t.Fatalf("encoding is not stable:\n%v\n%v", again, third)
		}
	})
}
