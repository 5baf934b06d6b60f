package actors

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// Lookups end once done: 10,000 keys go through 100 lookup slots, every
// one resolves with one query, and no lookup outlives its key.
func TestLookupsPassivate(t *testing.T) {
	p := newPeers()
	r := start(t, Config{MaxLookups: 100, LookupIdle: time.Millisecond}, newMemStore(), p)
	const n = 10_000
	keys := make([]hashing.Key, n)
	for i := range n {
		_, k, node := client(t, fmt.Sprintf("c%d", i), p)
		keys[i] = k
		if err := r.Ingest(waitCtx(t), presence(fmt.Sprintf("u%d@x/r", i), node, k)); err != nil {
			t.Fatal(err)
		}
		if g := r.Gauges(); g.LiveLookups > 100 {
			t.Fatalf("%d live lookups, MaxLookups 100", g.LiveLookups)
		}
	}
	for i := range n {
		if _, _, err := r.Wait(waitCtx(t), fmt.Sprintf("u%d@x/r", i)); err != nil {
			t.Fatalf("u%d: %v", i, err)
		}
	}
	if q := p.total.Load(); q != n {
		t.Errorf("%d queries for %d keys", q, n)
	}
	if d := r.Counters().DropLookups.Load(); d != 0 {
		t.Errorf("%d presences dropped", d)
	}
	until(t, "every lookup to stop", func() bool { return r.Gauges().LiveLookups == 0 })
	// Requests in flight and lookups are counted in and out: the set the
	// shards read is empty again, whatever was parked on the way.
	held, early := r.d.looking.sizes()
	if held != 0 {
		t.Errorf("%d keys still counted in flight", held)
	}
	// So are the first queries callers sent: each was taken over by its
	// key's lookup.
	if r.Counters().EarlyQueries.Load() == 0 {
		t.Error("no caller sent a first query: the early path went untested")
	}
	if early != 0 {
		t.Errorf("%d first queries never taken over by a lookup", early)
	}
}

// A query still queued when its lookup ends is never sent.
func TestStaleQueriesNotSent(t *testing.T) {
	p := newPeers()
	release := make(chan struct{})
	busy := make(chan struct{}, 1)
	q := QuerierFunc(func(ctx context.Context, jid, node string) (*hashing.Info, error) {
		if jid == "blocker@x/r" {
			// It ignores cancellation: the worker stays busy though
			// the blocker's own lookup ends.
			busy <- struct{}{}
			<-release
			return nil, errors.New("no")
		}
		return p.QueryInfo(ctx, jid, node)
	})
	// One slot, no hedging: the blocker holds the slot for the whole
	// query timeout while every other lookup times out behind it.
	r := start(t, Config{MaxQueriesInFlight: 1, HedgeMin: -1, QueryTimeout: time.Minute, LookupTimeout: 100 * time.Millisecond}, newMemStore(), q)
	_, bk, bnode := client(t, "blocker", p)
	_ = r.Ingest(waitCtx(t), presence("blocker@x/r", bnode, bk))
	<-busy
	const n = 20
	for i := range n {
		_, k, node := client(t, fmt.Sprintf("s%d", i), p)
		_ = r.Ingest(waitCtx(t), presence(fmt.Sprintf("s%d@x/r", i), node, k))
	}
	for i := range n {
		if _, _, err := r.Wait(waitCtx(t), fmt.Sprintf("s%d@x/r", i)); !errors.Is(err, ErrLookupTimeout) {
			t.Fatalf("s%d: %v, want ErrLookupTimeout", i, err)
		}
	}
	close(release)
	until(t, "the queue to drain", func() bool { return r.Gauges().QueuedQueries == 0 })
	if got := p.total.Load(); got != 0 {
		t.Errorf("%d queries sent for lookups that had ended", got)
	}
	if c := r.Counters().QueriesCancelled.Load(); c != n {
		t.Errorf("QueriesCancelled = %d, want %d", c, n)
	}
}

// Silent announcers ahead of an honest one, more of them than one lookup
// timeout can try: the lookup goes on with the untried ones, the honest
// one is asked, and the key resolves.
func TestUntriedAnnouncersKept(t *testing.T) {
	p := newPeers()
	cfg := Config{HedgeMin: -1, QueryTimeout: 50 * time.Millisecond, LookupTimeout: 120 * time.Millisecond, AnnouncerBurst: 100}
	r := start(t, cfg, newMemStore(), p)
	info, k, node := client(t, "kept", p)
	p.hold = make(chan struct{}) // until every announcer has joined
	const silents = 8
	for i := range silents {
		p.set(fmt.Sprintf("silent%d@x/r", i), silent)
		_ = r.Ingest(waitCtx(t), presence(fmt.Sprintf("silent%d@x/r", i), node, k))
	}
	// Shards forward in their own order: the honest one must come last.
	until(t, "the silent ones to join", func() bool { return r.Counters().DedupJoins.Load() == silents-1 })
	_ = r.Ingest(waitCtx(t), presence("honest@x/r", node, k))
	until(t, "the honest one to join", func() bool { return r.Counters().DedupJoins.Load() == silents })
	close(p.hold)
	until(t, "the key to resolve", func() bool {
		_, got, err := r.Caps("honest@x/r")
		return err == nil && got == info
	})
	if p.queries("honest@x/r") != 1 {
		t.Errorf("honest asked %d times", p.queries("honest@x/r"))
	}
	if r.Counters().LookupRounds.Load() == 0 {
		t.Errorf("the lookup never went past its first round: the test proves nothing; counters %v", r.Counters().Snapshot())
	}
	// The silent ones were told the round timed out; now they are told
	// it resolved.
	for i := range silents {
		if _, got, err := r.Caps(fmt.Sprintf("silent%d@x/r", i)); err != nil || got != info {
			t.Errorf("silent%d: %v, %v", i, got, err)
		}
	}
}

// A silent first announcer costs the hedge delay, not the query timeout.
func TestHedgeAsksNextAnnouncer(t *testing.T) {
	p := newPeers()
	// A query timeout far beyond the test's bound: only hedging can
	// resolve the key in time.
	cfg := Config{HedgeMin: 20 * time.Millisecond, QueryTimeout: 10 * time.Minute, LookupTimeout: 20 * time.Minute}
	r := start(t, cfg, newMemStore(), p)
	info, k, node := client(t, "hedge", p)
	p.set("silent@x/r", silent)
	p.hold = make(chan struct{})
	_ = r.Ingest(waitCtx(t), presence("silent@x/r", node, k))
	until(t, "the first query", func() bool { return p.total.Load() == 1 })
	_ = r.Ingest(waitCtx(t), presence("honest@x/r", node, k))
	until(t, "the second announcer to join", func() bool { return r.Counters().DedupJoins.Load() == 1 })
	close(p.hold)
	if _, got, err := r.Wait(waitCtx(t), "honest@x/r"); err != nil || got != info {
		t.Fatalf("Wait = %v, %v", got, err)
	}
	if h := r.Counters().Hedges.Load(); h != 1 {
		t.Errorf("Hedges = %d, want 1", h)
	}
	// The silent query was abandoned with the lookup: its slot is free.
	until(t, "the silent query to be cancelled", func() bool { return r.Gauges().QueriesInFlight == 0 })
	if _, got, err := r.Wait(waitCtx(t), "silent@x/r"); err != nil || got != info {
		t.Errorf("silent announcer: %v, %v", got, err)
	}
}

// An honest announcer that answers within the hedge delay is never
// doubled.
func TestHedgeSpareOnTime(t *testing.T) {
	p := newPeers()
	p.delay = 30 * time.Millisecond
	cfg := Config{HedgeMin: 5 * time.Second}
	r := start(t, cfg, newMemStore(), p)
	info, k, node := client(t, "ontime", p)
	for i := range 10 {
		_ = r.Ingest(waitCtx(t), presence(fmt.Sprintf("u%d@x/r", i), node, k))
	}
	for i := range 10 {
		if _, got, err := r.Wait(waitCtx(t), fmt.Sprintf("u%d@x/r", i)); err != nil || got != info {
			t.Fatalf("u%d: %v, %v", i, got, err)
		}
	}
	if q, h := p.total.Load(), r.Counters().Hedges.Load(); q != 1 || h != 0 {
		t.Errorf("%d queries, %d hedges; want 1 and 0", q, h)
	}
}

// A JID told its lookup failed hears CapsResolved when the key is
// verified later through another announcer.
func TestFailedThenVerifiedIsTold(t *testing.T) {
	for _, first := range []behaviour{liar, iqError, silent} {
		t.Run(fmt.Sprint(first), func(t *testing.T) {
			p := newPeers()
			r := start(t, Config{HedgeMin: -1, QueryTimeout: 50 * time.Millisecond}, newMemStore(), p)
			sub := r.Subscribe(messages.KindCapsResolved|messages.KindCapsFailed, 64)
			info, k, node := client(t, "later", p)
			p.set("bad@x/r", first)
			_ = r.Ingest(waitCtx(t), presence("bad@x/r", node, k))
			if _, _, err := r.Wait(waitCtx(t), "bad@x/r"); err == nil {
				t.Fatal("the bad announcer resolved")
			}
			_ = r.Ingest(waitCtx(t), presence("good@x/r", node, k))
			if _, _, err := r.Wait(waitCtx(t), "good@x/r"); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for len(got) < 2 || got["bad@x/r"] != "resolved" {
				select {
				case ev := <-sub.Events():
					switch e := ev.(type) {
					case *messages.CapsResolved:
						if e.Info != info {
							t.Errorf("%s resolved to %v", e.JID, e.Info)
						}
						got[e.JID] = "resolved"
					case *messages.CapsFailed:
						got[e.JID] = "failed"
					}
				case <-waitCtx(t).Done():
					t.Fatalf("events: %v", got)
				}
			}
			if got["good@x/r"] != "resolved" {
				t.Errorf("events: %v", got)
			}
		})
	}
}

// Caps and Wait agree at every point of a failed key's life, and once the
// failure expires neither says ErrPending for a state nothing would end.
func TestCapsAndWaitAgreeAfterFailureTTL(t *testing.T) {
	p := newPeers()
	r := start(t, Config{FailureTTL: 20 * time.Millisecond}, newMemStore(), p)
	_, k, node := client(t, "ttl", p)
	p.set("liar@x/r", liar)
	_ = r.Ingest(waitCtx(t), presence("liar@x/r", node, k))
	_, _, werr := r.Wait(waitCtx(t), "liar@x/r")
	if !errors.Is(werr, ErrAnnouncersFailed) {
		t.Fatalf("Wait: %v", werr)
	}
	if _, _, err := r.Caps("liar@x/r"); !errors.Is(err, ErrAnnouncersFailed) {
		t.Fatalf("Caps: %v, Wait said %v", err, werr)
	}
	until(t, "the failure to expire", func() bool { _, ok := r.d.failures.get(k); return !ok })
	// Expired: Caps starts a lookup again (the liar is not asked again:
	// it is remembered as bad), which fails at once, and both agree.
	until(t, "Caps to report the failure again", func() bool {
		_, _, err := r.Caps("liar@x/r")
		return errors.Is(err, ErrAnnouncersFailed)
	})
	if _, _, err := r.Wait(waitCtx(t), "liar@x/r"); !errors.Is(err, ErrAnnouncersFailed) {
		t.Errorf("Wait after expiry: %v", err)
	}
	if q := p.total.Load(); q != 1 {
		t.Errorf("%d queries: the liar was asked again", q)
	}
}

// A presence dropped under load is never ErrPending forever.
func TestDroppedPresenceSaysOverloaded(t *testing.T) {
	p := newPeers()
	p.hold = make(chan struct{})
	defer close(p.hold)
	r := start(t, Config{MaxLookups: 1, RouterQueue: 1}, newMemStore(), p)
	_, k0, n0 := client(t, "d0", p)
	_, k1, n1 := client(t, "d1", p)
	_, k2, n2 := client(t, "d2", p)
	// Each presence applied by its shard and its request routed before
	// the next: the router may hear of a key first at first contact, and
	// a request still on its way counts against RouterQueue.
	settled := func() bool {
		return r.Sync(waitCtx(t)) == nil && r.Gauges().RouterBacklog == 0
	}
	_ = r.Ingest(waitCtx(t), presence("a@x/r", n0, k0))
	until(t, "the first lookup", func() bool { return settled() && r.Gauges().LiveLookups == 1 })
	_ = r.Ingest(waitCtx(t), presence("b@x/r", n1, k1))
	until(t, "the parked request", func() bool { return settled() && r.Gauges().ParkedRequests == 1 })
	_ = r.Ingest(waitCtx(t), presence("c@x/r", n2, k2))
	until(t, "the drop", func() bool { return r.Counters().DropLookups.Load() == 1 })
	if _, _, err := r.Caps("c@x/r"); !errors.Is(err, ErrOverloaded) {
		t.Errorf("Caps: %v", err)
	}
	if _, _, err := r.Wait(waitCtx(t), "c@x/r"); !errors.Is(err, ErrOverloaded) {
		t.Errorf("Wait: %v", err)
	}
}

// One message can end a lookup and start it again: a batch of requests
// for a key whose first names only an announcer known to lie and whose
// second brings an honest one. The lookup must not go idle at the end of
// that message — the router would stop it while it queries, cancelling
// the honest announcer's query and leaving the key unresolved.
func TestLookupRestartedInOneMessageIsNotStopped(t *testing.T) {
	p := newPeers()
	r := start(t, Config{}, newMemStore(), p)
	info, k, node := client(t, "restart", p)
	liarJID := "liar@example.org/x"
	p.set(liarJID, liar)
	// An honest JID in the liar's shard, so that both requests travel in
	// one batch, and so in one message to the lookup.
	honestJID := ""
	for i := 0; honestJID == ""; i++ {
		if j := fmt.Sprintf("honest%d@example.org/y", i); r.shardFor(j) == r.shardFor(liarJID) {
			honestJID = j
		}
	}
	if err := r.Ingest(waitCtx(t), presence(liarJID, node, k)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Wait(waitCtx(t), liarJID); !errors.Is(err, ErrAnnouncersFailed) {
		t.Fatalf("liar alone: %v", err)
	}
	// The failure table answers for the key now; let it expire, so that
	// the batch starts a lookup.
	r.d.failures.remove(k)
	batch := [][]byte{
		messages.AppendPresence(nil, presence(liarJID, node, k)),
		messages.AppendPresence(nil, presence(honestJID, node, k)),
	}
	// The honest answer takes a while: long enough for a wrongly stopped
	// lookup to cancel it.
	p.mu.Lock()
	p.hold = make(chan struct{})
	p.mu.Unlock()
	before := p.total.Load()
	if err := r.IngestRawBatch(waitCtx(t), batch); err != nil {
		t.Fatal(err)
	}
	for p.total.Load() == before {
		runtime.Gosched()
	}
	time.Sleep(100 * time.Millisecond)
	close(p.hold)
	if _, got, err := r.Wait(waitCtx(t), honestJID); err != nil || got != info {
		t.Fatalf("honest announcer: %v, %v", got, err)
	}
	if n := p.queries(honestJID); n != 1 {
		t.Fatalf("honest announcer asked %d times, want 1", n)
	}
}

// A query cancelled while its honest answer was on the way counts as a
// duplicate answer only when another answer won the lookup; cancelled
// because the lookup failed or the engine closes, it does not.
func TestCancelledAnswerCountedOnlyWhenLost(t *testing.T) {
	for _, lost := range []bool{true, false} {
		t.Run(fmt.Sprint("lost=", lost), func(t *testing.T) {
			info, k, node := client(t, "cancelled", nil)
			asked, release, returned := make(chan struct{}), make(chan struct{}), make(chan struct{})
			// A peer whose answer is already on the wire: it arrives
			// whatever the query's context says.
			q := QuerierFunc(func(ctx context.Context, jid, node string) (*hashing.Info, error) {
				defer close(returned)
				close(asked)
				<-release
				return info, nil
			})
			r := start(t, Config{HedgeMin: -1}, newMemStore(), q)
			j := &queryJob{key: k, a: announcer{"a@x/r", node}, gen: 1,
				done: func(*queryDone) { t.Error("a cancelled job reported") }}
			r.d.queries.push(j)
			<-asked
			j.Cancel(lost)
			close(release)
			<-returned
			if lost {
				until(t, "the lost answer to be counted", func() bool { return r.Counters().DuplicateAnswers.Load() == 1 })
				return
			}
			until(t, "the query to end", func() bool { return r.Gauges().QueriesInFlight == 0 })
			time.Sleep(100 * time.Millisecond)
			if n := r.Counters().DuplicateAnswers.Load(); n != 0 {
				t.Errorf("DuplicateAnswers = %d, want 0", n)
			}
		})
	}
}
