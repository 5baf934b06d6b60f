package actors

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// FuzzIngestRaw feeds arbitrary bytes, as a peer's presence, through the
// whole ingest path — caller-side decoding, first contact, shard, router,
// lookup, query — of one engine that lives across inputs, so that state
// left by one input meets the next. Whatever comes in, ingest returns,
// nothing panics (the actors recover panics and count them: the count must
// stay 0), and Caps for the stanza's sender answers with its info or one
// of the documented errors.
func FuzzIngestRaw(f *testing.F) {
	p := newPeers()
	info, k, node := client(f, "psi", p)
	r := start(f, Config{QueryTimeout: 50 * time.Millisecond, LookupTimeout: 200 * time.Millisecond}, newMemStore(), p)
	ver := k.Ver()
	for _, s := range []string{
		`<presence from='a@example.org/r'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='` + node + `' ver='` + ver + `'/></presence>`,
		`<presence from='b@example.org/r' type='unavailable'/>`,
		`<presence from='c@example.org/r'><c xmlns='urn:xmpp:caps'><hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>` + ver + `</hash></c></presence>`,
		`<presence from='room@muc.example.org/nick'><x xmlns='http://jabber.org/protocol/muc#user'/><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='` + ver + `'/></presence>`,
		`<presence from='d@example.org/r'><c xmlns='http://jabber.org/protocol/caps' hash='md5' node='n' ver='!!'/></presence>`,
		`<presence from='e@example.org/r'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='` + strings.Repeat("A", 4096) + `'/></presence>`,
		`<presence type='error' from='f@example.org/r'/>`,
		`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='x'/></presence>`,
		`<presence from='g@example.org/r'`,
		"\x00\xff<presence/>",
	} {
		f.Add([]byte(s))
	}
	var dec messages.Decoder
	var v messages.PresenceView
	f.Fuzz(func(t *testing.T, stanza []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Errors are the stanza's (malformed) and counted: only a hang or
		// a panic fails.
		_ = r.IngestRaw(ctx, stanza)
		_ = r.IngestRawBatch(ctx, [][]byte{stanza, stanza})
		if err := r.Sync(ctx); err != nil {
			t.Fatalf("Sync after ingest: %v", err)
		}
		if n := r.Counters().Panics.Load(); n != 0 {
			t.Fatalf("%d panics recovered inside the engine", n)
		}
		if dec.DecodePresence(stanza, &v) != nil || len(v.From) == 0 {
			return
		}
		from := string(v.From)
		_, got, err := r.Caps(from)
		switch {
		case err == nil:
			if got == nil {
				t.Fatalf("Caps(%q): no info and no error", from)
			}
			if got != info {
				// Only one client answers here: anything else resolved
				// would have to be a lie believed.
				if _, verr := hashing.Verify(k, got, hashing.Options{}); verr != nil {
					t.Fatalf("Caps(%q) = %+v, which is not the one answer the peers give", from, got)
				}
			}
		case errors.Is(err, ErrPending), errors.Is(err, ErrUnknownJID), errors.Is(err, ErrNoCaps),
			errors.Is(err, ErrAnnouncersFailed), errors.Is(err, ErrLookupTimeout), errors.Is(err, ErrOverloaded),
			errors.Is(err, ErrRateLimited):
		default:
			t.Fatalf("Caps(%q): %v, not one of the documented errors", from, err)
		}
	})
}
