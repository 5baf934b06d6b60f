package capsengine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
)

// Entities without a verifiable hash, through the facade: each JID is
// asked on its own and served its own answer; the store never sees one.
func TestQueryUnhashed(t *testing.T) {
	answers := map[string]*hashing.Info{
		"gw@example.org/irc": {
			Identities: []hashing.Identity{{Category: "gateway", Type: "irc"}},
			Features:   []string{"jabber:iq:gateway"},
		},
		"old@example.org/exodus": {
			Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "Exodus"}},
			Features:   []string{"http://www.google.com/xmpp/protocol/voice/v1"},
		},
	}
	var queries atomic.Int64
	q := capsengine.QuerierFunc(func(ctx context.Context, jid, node string) (*hashing.Info, error) {
		queries.Add(1)
		if node != "" {
			t.Errorf("query to %s for node %q, want none", jid, node)
		}
		if info, ok := answers[jid]; ok {
			return info, nil
		}
		return nil, errors.New("item-not-found")
	})
	stanzas := map[string]string{
		// No caps at all.
		"gw@example.org/irc": `<presence from='gw@example.org/irc'/>`,
		// Legacy XEP-0115 v1.0 caps: ext, no hash.
		"old@example.org/exodus": `<presence from='old@example.org/exodus'><c xmlns='http://jabber.org/protocol/caps' node='http://exodus.jabberstudio.org/caps' ver='0.9.1.0' ext='voice'/></presence>`,
	}

	t.Run("off by default", func(t *testing.T) {
		eng, err := capsengine.Open(testCtx(t), capsengine.Config{InMemory: true, Querier: q})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close(testCtx(t))
		for jid, s := range stanzas {
			if err := eng.IngestRaw(testCtx(t), []byte(s)); err != nil {
				t.Fatal(err)
			}
			if _, err := eng.Wait(testCtx(t), jid); !errors.Is(err, capsengine.ErrUnknownJID) {
				t.Errorf("Wait(%s) = %v, want ErrUnknownJID", jid, err)
			}
		}
		if n := queries.Load(); n != 0 {
			t.Errorf("%d queries with QueryUnhashed off, want 0", n)
		}
	})

	t.Run("on", func(t *testing.T) {
		eng, err := capsengine.Open(testCtx(t), capsengine.Config{InMemory: true, Querier: q,
			Tuning: capsengine.Tuning{QueryUnhashed: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close(testCtx(t))
		sub := eng.Subscribe(messages.KindCapsResolved, 8)
		defer sub.Close()
		for jid, s := range stanzas {
			if err := eng.IngestRaw(testCtx(t), []byte(s)); err != nil {
				t.Fatal(err)
			}
			info, err := eng.Wait(testCtx(t), jid)
			if err != nil || info != answers[jid] {
				t.Fatalf("Wait(%s) = %v, %v; want its own answer", jid, info, err)
			}
			if k, err := eng.Key(jid); err != nil || !k.IsZero() {
				t.Errorf("Key(%s) = %v, %v; want the zero key", jid, k, err)
			}
		}
		if ok, err := eng.Supports("gw@example.org/irc", "jabber:iq:gateway"); !ok || err != nil {
			t.Errorf("Supports(gateway) = %v, %v", ok, err)
		}
		// Never shared: the other JID's feature is not the gateway's.
		if ok, err := eng.Supports("gw@example.org/irc", answers["old@example.org/exodus"].Features[0]); ok || err != nil {
			t.Errorf("Supports(gateway, exodus's feature) = %v, %v; want false", ok, err)
		}
		for range stanzas {
			select {
			case ev := <-sub.Events():
				if cr := ev.(*messages.CapsResolved); !cr.Unverified {
					t.Errorf("event %+v not marked unverified", cr)
				}
			case <-testCtx(t).Done():
				t.Fatal("missing CapsResolved")
			}
		}
		if err := eng.Flush(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		n, err := eng.Storage().Count(testCtx(t), storage.User)
		if err != nil {
			t.Fatal(err)
		}
		if len(n) != 0 {
			t.Errorf("user store holds %v, want nothing", n)
		}
		if c := eng.Counters(); c["UnhashedQueries"] != 2 || c["UnhashedAnswers"] != 2 {
			t.Errorf("counters %d queries %d answers, want 2 and 2", c["UnhashedQueries"], c["UnhashedAnswers"])
		}
		// A user's resources include the unhashed one, with its own answer.
		rs := eng.Resources("gw@example.org")
		if len(rs) != 1 || rs[0].JID != "gw@example.org/irc" || !rs[0].Key.IsZero() || rs[0].Info != answers["gw@example.org/irc"] || rs[0].Err != nil {
			t.Errorf("Resources(gw@example.org) = %+v, want the gateway's own answer", rs)
		}
		// Gone when the JID is.
		_ = eng.IngestRaw(testCtx(t), []byte(`<presence from='gw@example.org/irc' type='unavailable'/>`))
		if _, err := eng.Wait(testCtx(t), "gw@example.org/irc"); !errors.Is(err, capsengine.ErrUnknownJID) {
			t.Errorf("Wait after unavailable = %v, want ErrUnknownJID", err)
		}
		if rs := eng.Resources("gw@example.org"); len(rs) != 0 {
			t.Errorf("Resources after unavailable = %+v, want none", rs)
		}
	})
}
