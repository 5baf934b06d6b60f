package actors

import (
	"errors"
	"testing"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

func localInfo(features ...string) *hashing.Info {
	return &hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "bot", Name: "capsengine"}},
		Features:   append([]string{"http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info"}, features...),
	}
}

func expectVerChanged(t *testing.T, sub *Subscription) *messages.VerChanged {
	t.Helper()
	select {
	case ev := <-sub.Events():
		return ev.(*messages.VerChanged)
	case <-waitCtx(t).Done():
		t.Fatal("no VerChanged")
		return nil
	}
}

func expectNone(t *testing.T, sub *Subscription) {
	t.Helper()
	select {
	case ev := <-sub.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

func TestVerChangedOncePerRealChange(t *testing.T) {
	r := start(t, Config{Debounce: -1, LocalNode: "https://capsengine.example"}, newMemStore(), newPeers())
	sub := r.Subscribe(messages.KindVerChanged, 16)
	ctx := waitCtx(t)

	if _, ok := r.Announcement(); ok {
		t.Fatal("announcement before SetLocal")
	}
	a := localInfo("urn:xmpp:ping")
	if err := r.SetLocal(a); err != nil {
		t.Fatal(err)
	}
	_ = r.FlushLocal(ctx)
	ev := expectVerChanged(t, sub)
	wantVer, _ := hashing.Ver(hashing.SHA1, a)
	if ev.Old.Caps.Ver != "" || ev.New.Caps.Ver != wantVer || ev.New.Caps.Node != "https://capsengine.example" || len(ev.New.Caps2) != 2 {
		t.Fatalf("first VerChanged = %+v", ev)
	}

	// The same features in another order, and another Node: same hashes,
	// no event.
	same := localInfo("urn:xmpp:ping")
	same.Features[0], same.Features[1] = same.Features[1], same.Features[0]
	same.Node = "other"
	_ = r.SetLocal(same)
	_ = r.FlushLocal(ctx)
	expectNone(t, sub)

	b := localInfo("urn:xmpp:ping", "urn:xmpp:receipts")
	_ = r.SetLocal(b)
	_ = r.FlushLocal(ctx)
	ev = expectVerChanged(t, sub)
	if ev.Old.Caps.Ver != wantVer {
		t.Errorf("Old = %+v, want ver %s", ev.Old, wantVer)
	}
	expectNone(t, sub)

	// Our previous ver is still answered (peers may query it late).
	if got, ok := r.LocalInfo("https://capsengine.example#" + wantVer); !ok || got.Features[2] != "urn:xmpp:ping" {
		t.Errorf("LocalInfo(old node) = %v, %v", got, ok)
	}
	ann, _ := r.Announcement()
	if got, ok := r.LocalInfo(messages.NSCaps2 + "#sha-256." + ann.Caps2[0].Value); !ok || got != b {
		t.Errorf("LocalInfo(caps2 node) = %v, %v", got, ok)
	}

	if err := r.SetLocal(&hashing.Info{Features: []string{"a", "a"}}); !errors.Is(err, hashing.ErrDuplicateFeature) {
		t.Errorf("SetLocal(invalid) = %v", err)
	}
}

func TestVerChangedDebounced(t *testing.T) {
	r := start(t, Config{Debounce: 20_000_000 /* 20ms */}, newMemStore(), newPeers())
	sub := r.Subscribe(messages.KindVerChanged, 16)
	var last *hashing.Info
	for i := range 5 {
		last = localInfo("urn:x:" + string(rune('a'+i)))
		if err := r.SetLocal(last); err != nil {
			t.Fatal(err)
		}
	}
	ev := expectVerChanged(t, sub)
	want, _ := hashing.Ver(hashing.SHA1, last)
	if ev.New.Caps.Ver != want {
		t.Errorf("coalesced VerChanged announces %s, want the last change %s", ev.New.Caps.Ver, want)
	}
	_ = r.FlushLocal(waitCtx(t))
	expectNone(t, sub)
}

func TestLocalHistoryBounded(t *testing.T) {
	r := start(t, Config{Debounce: -1}, newMemStore(), newPeers())
	var nodes []string
	for i := range localHistory + 2 {
		info := localInfo("urn:v:" + string(rune('a'+i)))
		_ = r.SetLocal(info)
		_ = r.FlushLocal(waitCtx(t))
		ann, _ := r.Announcement()
		nodes = append(nodes, ann.Caps.Node+"#"+ann.Caps.Ver)
	}
	for i, n := range nodes {
		_, ok := r.LocalInfo(n)
		if want := i >= len(nodes)-localHistory; ok != want {
			t.Errorf("LocalInfo(version %d) = %v, want %v", i, ok, want)
		}
	}
}
