package capsengine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
)

// TestRetentionKeepsLiveAnnouncements: with a retention shorter than the
// test, a prune pass deletes the entry of a JID that went offline, and
// keeps the one an online JID announces (the engine's InUse hook).
func TestRetentionKeepsLiveAnnouncements(t *testing.T) {
	ctx := testCtx(t)
	net := &network{infos: map[string]*hashing.Info{}}
	online, gone := net.client(t, "psi", "urn:xmpp:jingle:1"), net.client(t, "gajim", "urn:xmpp:receipts")
	eng, err := capsengine.Open(ctx, capsengine.Config{DataDir: t.TempDir(), Querier: net, Retain: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	for jid, c := range map[string]*messages.Caps{"a@example.org/x": online, "b@example.org/y": gone} {
		if err := eng.Ingest(ctx, &messages.Presence{From: jid, Caps: c}); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Wait(ctx, jid); err != nil {
			t.Fatal(err)
		}
	}
	if err := eng.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	kOnline, _ := eng.Key("a@example.org/x")
	kGone, _ := eng.Key("b@example.org/y")
	if err := eng.Ingest(ctx, &messages.Presence{From: "b@example.org/y", Type: "unavailable"}); err != nil {
		t.Fatal(err)
	}
	if err := eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // past the retention of a nanosecond
	res, err := eng.Storage().Prune(ctx, storage.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.ByAge != 1 || res.InUse != 1 {
		t.Errorf("prune: %+v, want 1 by age, 1 kept in use", res)
	}
	if _, err := eng.Storage().Get(kOnline); err != nil {
		t.Errorf("entry of the online JID: %v", err)
	}
	if _, err := eng.Storage().Get(kGone); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("entry of the JID gone offline: %v, want ErrNotFound", err)
	}
}
