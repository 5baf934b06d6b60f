package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// jidPeers answers disco#info per full JID, as an entity without caps is
// asked: each JID its own answer, or an error, or a panic.
type jidPeers struct {
	mu    sync.Mutex
	infos map[string]*hashing.Info
	errs  map[string]error
	nodes map[string][]string // jid → nodes asked
	gate  chan struct{}       // when non-nil, every answer waits for it
	total atomic.Int64
}

func newJIDPeers() *jidPeers {
	return &jidPeers{infos: map[string]*hashing.Info{}, errs: map[string]error{}, nodes: map[string][]string{}}
}

var errPanicPeer = errors.New("panic")

func (p *jidPeers) QueryInfo(ctx context.Context, jid, node string) (*hashing.Info, error) {
	p.total.Add(1)
	p.mu.Lock()
	p.nodes[jid] = append(p.nodes[jid], node)
	info, err, gate := p.infos[jid], p.errs[jid], p.gate
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err == errPanicPeer {
		panic("querier broke on a hostile answer")
	}
	return info, err
}

func (p *jidPeers) set(jid string, info *hashing.Info, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.infos[jid], p.errs[jid] = info, err
}

func (p *jidPeers) asked(jid string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.nodes[jid]...)
}

func botInfo(name string, features ...string) *hashing.Info {
	return &hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "bot", Name: name}},
		Features:   append([]string{"http://jabber.org/protocol/disco#info"}, features...),
	}
}

// The three kinds of presence without a verifiable hash.
func unhashedPresences(jids [3]string) []*messages.Presence {
	return []*messages.Presence{
		{From: jids[0]}, // no caps at all
		{From: jids[1], Caps: &messages.Caps{Node: "http://exodus.jabberstudio.org/caps", Ver: "0.9", Ext: "jingle voice"}},
		{From: jids[2], Caps: &messages.Caps{Hash: "md4", Node: "https://gw.example", Ver: "abcd"}},
	}
}

func TestUnhashedOffByDefault(t *testing.T) {
	q := newJIDPeers()
	jids := [3]string{"a@x/1", "b@x/1", "c@x/1"}
	for _, j := range jids {
		q.set(j, botInfo(j), nil)
	}
	r := start(t, Config{}, newMemStore(), q)
	for _, p := range unhashedPresences(jids) {
		if err := r.Ingest(waitCtx(t), p); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Sync(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	for _, j := range jids {
		if _, _, err := r.Caps(j); !errors.Is(err, ErrUnknownJID) {
			t.Errorf("Caps(%s) = %v, want ErrUnknownJID", j, err)
		}
		if _, _, err := r.Wait(waitCtx(t), j); !errors.Is(err, ErrUnknownJID) {
			t.Errorf("Wait(%s) = %v, want ErrUnknownJID", j, err)
		}
	}
	c := r.Counters()
	if n := q.total.Load(); n != 0 || c.UnhashedQueries.Load() != 0 {
		t.Errorf("queries sent: %d (counted %d), want 0", n, c.UnhashedQueries.Load())
	}
	if c.NoCaps.Load() != 3 {
		t.Errorf("NoCaps = %d, want 3", c.NoCaps.Load())
	}
}

func TestUnhashedResolvedPerJID(t *testing.T) {
	q := newJIDPeers()
	jids := [3]string{"a@x/1", "b@x/1", "c@x/1"}
	for i, j := range jids {
		// Different answers, one per JID.
		q.set(j, botInfo(j, fmt.Sprintf("urn:example:%d", i)), nil)
	}
	store := newMemStore()
	r := start(t, Config{QueryUnhashed: true}, store, q)
	sub := r.Subscribe(messages.KindCapsResolved, 16)
	defer sub.Close()
	for _, p := range unhashedPresences(jids) {
		if err := r.Ingest(waitCtx(t), p); err != nil {
			t.Fatal(err)
		}
	}
	for i, j := range jids {
		_, info, err := r.Wait(waitCtx(t), j)
		if err != nil {
			t.Fatalf("Wait(%s): %v", j, err)
		}
		want := fmt.Sprintf("urn:example:%d", i)
		if !info.HasFeature(want) {
			t.Errorf("%s: features %q, want its own %q", j, info.Features, want)
		}
		for o := range jids {
			if o != i && info.HasFeature(fmt.Sprintf("urn:example:%d", o)) {
				t.Errorf("%s was served %s's answer", j, jids[o])
			}
		}
		k, cinfo, err := r.Caps(j)
		if err != nil || cinfo != info || !k.IsZero() {
			t.Errorf("Caps(%s) = %v, %p, %v; want the zero key and the same answer", j, k, cinfo, err)
		}
		// One query, to the full JID, without a node.
		if got := q.asked(j); len(got) != 1 || got[0] != "" {
			t.Errorf("%s asked for nodes %q, want one query without a node", j, got)
		}
	}
	seen := map[string]bool{}
	for len(seen) < len(jids) {
		select {
		case ev := <-sub.Events():
			cr := ev.(*messages.CapsResolved)
			if !cr.Unverified || !cr.Key.IsZero() || cr.Cached {
				t.Errorf("event %+v: want Unverified, zero key, not cached", cr)
			}
			seen[cr.JID] = true
		case <-waitCtx(t).Done():
			t.Fatalf("events for %v only", seen)
		}
	}
	// Never in the store, never in the infos other JIDs are served from.
	if n := store.puts.Load(); n != 0 {
		t.Errorf("store puts = %d, want 0", n)
	}
	store.mu.Lock()
	if len(store.m) != 0 {
		t.Errorf("store holds %d entries, want 0", len(store.m))
	}
	store.mu.Unlock()
	c := r.Counters()
	if c.UnhashedQueries.Load() != 3 || c.UnhashedAnswers.Load() != 3 || c.UnhashedFailures.Load() != 0 {
		t.Errorf("queries %d answers %d failures %d, want 3 3 0",
			c.UnhashedQueries.Load(), c.UnhashedAnswers.Load(), c.UnhashedFailures.Load())
	}
	if g := r.Gauges(); g.UnhashedJIDs != 3 || g.JIDs != 0 {
		t.Errorf("gauges UnhashedJIDs %d JIDs %d, want 3 and 0", g.UnhashedJIDs, g.JIDs)
	}
	// A JID that never sent presence is not answered from anyone's entry.
	if _, _, err := r.Caps("a@x/2"); !errors.Is(err, ErrUnknownJID) {
		t.Errorf("Caps of another resource = %v, want ErrUnknownJID", err)
	}
	// A second presence of a resolved JID asks nothing.
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: jids[0]})
	_ = r.Sync(waitCtx(t))
	if n := q.total.Load(); n != 3 {
		t.Errorf("queries after a repeated presence: %d, want 3", n)
	}
}

func TestUnhashedGoneWhenOffline(t *testing.T) {
	q := newJIDPeers()
	q.set("a@x/1", botInfo("a"), nil)
	q.set("p@x/1", botInfo("p"), nil)
	r := start(t, Config{QueryUnhashed: true}, newMemStore(), q)
	sub := r.Subscribe(messages.KindEntityGone|messages.KindCapsResolved, 16)
	defer sub.Close()
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "a@x/1"})
	if _, _, err := r.Wait(waitCtx(t), "a@x/1"); err != nil {
		t.Fatal(err)
	}
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "a@x/1", Type: "unavailable"})
	_ = r.Sync(waitCtx(t))
	if _, _, err := r.Caps("a@x/1"); !errors.Is(err, ErrUnknownJID) {
		t.Errorf("Caps after unavailable = %v, want ErrUnknownJID", err)
	}
	for gone := false; !gone; {
		select {
		case ev := <-sub.Events():
			gone = ev.Kind() == messages.KindEntityGone && ev.(*messages.EntityGone).JID == "a@x/1"
		case <-waitCtx(t).Done():
			t.Fatal("no EntityGone")
		}
	}

	// Offline while its query is out: a Wait hears ErrUnknownJID, and the
	// late answer is served to nobody.
	gate := make(chan struct{})
	q.mu.Lock()
	q.gate = gate
	q.mu.Unlock()
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "p@x/1"})
	waited := make(chan error, 1)
	go func() {
		_, _, err := r.Wait(waitCtx(t), "p@x/1")
		waited <- err
	}()
	until(t, "the query to p", func() bool { return len(q.asked("p@x/1")) == 1 })
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "p@x/1", Type: "unavailable"})
	_ = r.Sync(waitCtx(t))
	close(gate)
	// Held by the entry, or reaching the shard after the unavailable
	// presence: either way the JID is unknown now.
	if err := <-waited; !errors.Is(err, ErrUnknownJID) {
		t.Errorf("Wait while going offline = %v, want ErrUnknownJID", err)
	}
	until(t, "the late answer", func() bool { return r.Counters().UnhashedAnswers.Load() == 2 })
	if _, _, err := r.Caps("p@x/1"); !errors.Is(err, ErrUnknownJID) {
		t.Errorf("Caps after a late answer = %v, want ErrUnknownJID", err)
	}
	if g := r.Gauges(); g.UnhashedJIDs != 0 {
		t.Errorf("UnhashedJIDs = %d, want 0", g.UnhashedJIDs)
	}
}

func TestUnhashedRateLimited(t *testing.T) {
	q := newJIDPeers()
	for _, j := range []string{"a@x/1", "b@x/1", "c@x/1"} {
		q.set(j, botInfo(j), nil)
	}
	// One token, refilled about once a day.
	// One shard: a is asked before b.
	r := start(t, Config{QueryUnhashed: true, UnhashedRate: 1.0 / 86400, UnhashedBurst: 1, Shards: 1}, newMemStore(), q)
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "a@x/1"})
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "b@x/1"})
	if _, _, err := r.Wait(waitCtx(t), "a@x/1"); err != nil {
		t.Errorf("Wait(a) = %v", err)
	}
	if _, _, err := r.Wait(waitCtx(t), "b@x/1"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("Wait(b) = %v, want ErrRateLimited", err)
	}
	if _, _, err := r.Caps("b@x/1"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("Caps(b) = %v, want ErrRateLimited", err)
	}
	// Its next presence tries again, and is dropped again.
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "b@x/1"})
	_ = r.Sync(waitCtx(t))
	c := r.Counters()
	if c.UnhashedQueries.Load() != 1 || c.UnhashedDropRate.Load() != 2 || q.total.Load() != 1 {
		t.Errorf("queries %d (sent %d), rate drops %d; want 1, 1, 2",
			c.UnhashedQueries.Load(), q.total.Load(), c.UnhashedDropRate.Load())
	}

	// Bounded concurrency: one query in flight, the next JID is dropped.
	r2 := start(t, Config{QueryUnhashed: true, MaxUnhashedInFlight: 1}, newMemStore(), q)
	gate := make(chan struct{})
	q.mu.Lock()
	q.gate = gate
	q.mu.Unlock()
	_ = r2.Ingest(waitCtx(t), &messages.Presence{From: "c@x/1"})
	until(t, "the query to c", func() bool { return len(q.asked("c@x/1")) == 1 })
	_ = r2.Ingest(waitCtx(t), &messages.Presence{From: "a@x/1"})
	if _, _, err := r2.Wait(waitCtx(t), "a@x/1"); !errors.Is(err, ErrOverloaded) {
		t.Errorf("Wait(a) with the slot taken = %v, want ErrOverloaded", err)
	}
	close(gate)
	if _, _, err := r2.Wait(waitCtx(t), "c@x/1"); err != nil {
		t.Errorf("Wait(c) = %v", err)
	}
	if n := r2.Counters().UnhashedDropBusy.Load(); n != 1 {
		t.Errorf("UnhashedDropBusy = %d, want 1", n)
	}

	// Bounded entries: one per shard, a second JID on the same shard is
	// not kept.
	r3 := start(t, Config{QueryUnhashed: true, MaxUnhashed: 1, Shards: 1}, newMemStore(), q)
	_ = r3.Ingest(waitCtx(t), &messages.Presence{From: "a@x/1"})
	_ = r3.Ingest(waitCtx(t), &messages.Presence{From: "b@x/1"})
	if _, _, err := r3.Wait(waitCtx(t), "b@x/1"); !errors.Is(err, ErrUnknownJID) {
		t.Errorf("Wait(b) past MaxUnhashed = %v, want ErrUnknownJID", err)
	}
	if n := r3.Counters().UnhashedDropFull.Load(); n != 1 {
		t.Errorf("UnhashedDropFull = %d, want 1", n)
	}
}

func TestUnhashedHostileAnswers(t *testing.T) {
	q := newJIDPeers()
	huge := botInfo("huge")
	for i := range 5000 {
		huge.Features = append(huge.Features, fmt.Sprintf("urn:flood:%d", i))
	}
	long := botInfo("long")
	long.Identities[0].Name = string(make([]byte, 2<<20))
	q.set("huge@x/1", huge, nil)
	q.set("long@x/1", long, nil)
	q.set("err@x/1", nil, errors.New("service-unavailable"))
	q.set("nil@x/1", nil, nil)
	q.set("panic@x/1", nil, errPanicPeer)
	r := start(t, Config{QueryUnhashed: true}, newMemStore(), q)
	sub := r.Subscribe(messages.KindCapsFailed, 16)
	defer sub.Close()
	jids := []string{"huge@x/1", "long@x/1", "err@x/1", "nil@x/1", "panic@x/1"}
	for _, j := range jids {
		_ = r.Ingest(waitCtx(t), &messages.Presence{From: j})
	}
	for _, j := range jids {
		if _, info, err := r.Wait(waitCtx(t), j); err == nil || info != nil {
			t.Errorf("Wait(%s) = %v, %v; want a failure", j, info, err)
		}
	}
	if _, _, err := r.Wait(waitCtx(t), "huge@x/1"); !errors.Is(err, messages.ErrTooMany) {
		t.Errorf("oversized answer: %v, want messages.ErrTooMany", err)
	}
	if _, _, err := r.Wait(waitCtx(t), "long@x/1"); !errors.Is(err, messages.ErrTooLarge) {
		t.Errorf("answer too long: %v, want messages.ErrTooLarge", err)
	}
	c := r.Counters()
	if c.UnhashedFailures.Load() != 5 || c.UnhashedAnswers.Load() != 0 {
		t.Errorf("failures %d answers %d, want 5 and 0", c.UnhashedFailures.Load(), c.UnhashedAnswers.Load())
	}
	for n := 0; n < len(jids); n++ {
		select {
		case ev := <-sub.Events():
			if f := ev.(*messages.CapsFailed); !f.Key.IsZero() || f.Err == nil {
				t.Errorf("event %+v", f)
			}
		case <-waitCtx(t).Done():
			t.Fatalf("%d CapsFailed events, want %d", n, len(jids))
		}
	}
}

func TestUnhashedAndHashedCaps(t *testing.T) {
	p := newPeers()
	info, k, node := client(t, "real", p)
	bot := botInfo("bot")
	q := QuerierFunc(func(ctx context.Context, jid, n string) (*hashing.Info, error) {
		if n == "" {
			return bot, nil
		}
		return p.QueryInfo(ctx, jid, n)
	})
	r := start(t, Config{QueryUnhashed: true}, newMemStore(), q)
	// A JID with a verifiable hash keeps it when a later presence leaves
	// caps out: nothing is asked.
	_ = r.Ingest(waitCtx(t), presence("h@x/1", node, k))
	if _, got, err := r.Wait(waitCtx(t), "h@x/1"); err != nil || !got.HasFeature(info.Features[1]) {
		t.Fatalf("Wait(h) = %v, %v", got, err)
	}
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "h@x/1"})
	_ = r.Sync(waitCtx(t))
	if gk, _, err := r.Caps("h@x/1"); err != nil || gk != k {
		t.Errorf("Caps(h) after a presence without caps = %v, %v; want its key", gk, err)
	}
	if n := r.Counters().UnhashedQueries.Load(); n != 0 {
		t.Errorf("unhashed queries = %d, want 0", n)
	}
	// An unhashed JID that announces a hash later is resolved by the key.
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "u@x/1"})
	if _, got, err := r.Wait(waitCtx(t), "u@x/1"); err != nil || got != bot {
		t.Fatalf("Wait(u) = %v, %v; want the bot's answer", got, err)
	}
	_ = r.Ingest(waitCtx(t), presence("u@x/1", node, k))
	if gk, got, err := r.Wait(waitCtx(t), "u@x/1"); err != nil || gk != k || !got.HasFeature(info.Features[1]) {
		t.Errorf("Wait(u) after a hash = %v, %v, %v; want the key's answer", gk, got, err)
	}
	if g := r.Gauges(); g.UnhashedJIDs != 0 || g.JIDs != 2 {
		t.Errorf("gauges %+v: want 0 unhashed, 2 JIDs", g)
	}
}

func TestUnhashedTTL(t *testing.T) {
	q := newJIDPeers()
	q.set("a@x/1", botInfo("a"), nil)
	// Every answer is stale at once: Caps asks again, through the shard.
	r := start(t, Config{QueryUnhashed: true, UnhashedTTL: 1}, newMemStore(), q)
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "a@x/1"})
	if err := r.Sync(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	// Pending, then stale at once: Caps says ErrPending throughout, and
	// once the first answer is recorded it has the shard ask again.
	until(t, "a second query", func() bool {
		if _, _, err := r.Caps("a@x/1"); !errors.Is(err, ErrPending) {
			t.Fatalf("Caps of a stale answer = %v, want ErrPending", err)
		}
		return len(q.asked("a@x/1")) == 2
	})
	// Wait hears the new answer.
	if _, info, err := r.Wait(waitCtx(t), "a@x/1"); err != nil || !info.HasFeature("http://jabber.org/protocol/disco#info") {
		t.Errorf("Wait after a refresh = %v, %v", info, err)
	}
}
