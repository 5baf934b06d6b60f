package actors

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// At MaxLookups, requests for new keys wait (within RouterQueue) for a
// lookup to end; past that they are dropped and their JIDs told.
func TestMaxLookupsOverload(t *testing.T) {
	p := newPeers()
	p.hold = make(chan struct{})
	r := start(t, Config{MaxLookups: 3, RouterQueue: 1}, newMemStore(), p)
	sub := r.Subscribe(messages.KindCapsFailed, 16)
	// One at a time: RouterQueue also bounds the requests on their way
	// to the router, and this test is about the router's own queue.
	for i := range 5 {
		_, k, node := client(t, fmt.Sprintf("c%d", i), p)
		_ = r.Ingest(waitCtx(t), presence(fmt.Sprintf("o%d@x/1", i), node, k))
		// Applied by its shard (the router may hear of the key first, at
		// first contact), then seen by the router.
		if err := r.Sync(waitCtx(t)); err != nil {
			t.Fatal(err)
		}
		until(t, "the router to see the request", func() bool {
			g := r.Gauges()
			return g.RouterBacklog == 0 &&
				g.LiveLookups+g.ParkedRequests+int64(r.Counters().DropLookups.Load()) == int64(i+1)
		})
	}
	if g := r.Gauges(); g.LiveLookups != 3 || g.ParkedRequests != 1 {
		t.Errorf("live %d parked %d, want 3 and 1", g.LiveLookups, g.ParkedRequests)
	}
	overloaded := ""
	for i := range 5 {
		jid := fmt.Sprintf("o%d@x/1", i)
		_, _, err := r.Caps(jid)
		if errors.Is(err, ErrOverloaded) {
			overloaded = jid
		} else if !errors.Is(err, ErrPending) {
			t.Errorf("%s: %v", jid, err)
		}
	}
	if overloaded != "o4@x/1" {
		t.Errorf("overloaded %q, want the last one", overloaded)
	}
	select {
	case ev := <-sub.Events():
		if f := ev.(*messages.CapsFailed); f.JID != "o4@x/1" || !errors.Is(f.Err, ErrOverloaded) {
			t.Errorf("event %+v", f)
		}
	case <-waitCtx(t).Done():
		t.Fatal("the dropped JID was not told")
	}
	// Once answers flow, the parked request gets its lookup.
	close(p.hold)
	for i := range 4 {
		if _, _, err := r.Wait(waitCtx(t), fmt.Sprintf("o%d@x/1", i)); err != nil {
			t.Errorf("o%d: %v", i, err)
		}
	}
	if _, _, err := r.Wait(waitCtx(t), "o4@x/1"); !errors.Is(err, ErrOverloaded) {
		t.Errorf("o4 Wait: %v, want ErrOverloaded", err)
	}
	until(t, "lookups to end", func() bool { return r.Gauges().LiveLookups == 0 })
}

func TestQueriesInFlightBounded(t *testing.T) {
	var cur, peak atomic.Int64
	release := make(chan struct{})
	q := QuerierFunc(func(ctx context.Context, jid, node string) (*hashing.Info, error) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer cur.Add(-1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, errors.New("no")
	})
	r := start(t, Config{MaxQueriesInFlight: 4, AnnouncerBurst: 100}, newMemStore(), q)
	for i := range 20 {
		_, k, node := client(t, fmt.Sprintf("q%d", i), nil)
		_ = r.Ingest(waitCtx(t), presence(fmt.Sprintf("q%d@x/1", i), node, k))
	}
	for cur.Load() < 4 {
		runtime.Gosched()
	}
	close(release)
	for i := range 20 {
		if _, _, err := r.Wait(waitCtx(t), fmt.Sprintf("q%d@x/1", i)); !errors.Is(err, ErrAnnouncersFailed) {
			t.Errorf("q%d: %v", i, err)
		}
	}
	if peak.Load() != 4 {
		t.Errorf("peak concurrent queries %d, want 4", peak.Load())
	}
}

func TestIngestRaw(t *testing.T) {
	p := newPeers()
	r := start(t, Config{}, newMemStore(), p)
	info, k, node := client(t, "raw", p)
	stanza := messages.AppendPresence(nil, presence("raw@x/1", node, k))
	if err := r.IngestRaw(waitCtx(t), stanza); err != nil {
		t.Fatal(err)
	}
	if _, got, err := r.Wait(waitCtx(t), "raw@x/1"); err != nil || got != info {
		t.Fatalf("Wait = %v, %v", got, err)
	}
	if err := r.IngestRaw(waitCtx(t), []byte("<presence from='a@b/c'><unclosed></presence>")); err == nil {
		t.Error("malformed stanza accepted")
	}
	err := r.IngestRawBatch(waitCtx(t), [][]byte{[]byte("<message/>"), stanza})
	if !errors.Is(err, messages.ErrNotPresence) {
		t.Errorf("batch error = %v, want ErrNotPresence", err)
	}
	if got := r.Counters().Malformed.Load(); got != 2 {
		t.Errorf("Malformed = %d, want 2", got)
	}
}

func TestRateLimitPerAnnouncer(t *testing.T) {
	p := newPeers()
	r := start(t, Config{AnnouncerRate: 0.001, AnnouncerBurst: 2, QueryTimeout: time.Second}, newMemStore(), p)
	for i := range 5 {
		_, k, node := client(t, fmt.Sprintf("r%d", i), p)
		_ = r.Ingest(waitCtx(t), presence("spammer@x/1", node, k))
		_, _, err := r.Wait(waitCtx(t), "spammer@x/1")
		if i < 2 && err != nil {
			t.Errorf("query %d within burst: %v", i, err)
		}
		if i >= 2 && !errors.Is(err, ErrRateLimited) {
			t.Errorf("query %d beyond burst: %v, want ErrRateLimited", i, err)
		}
	}
	if p.total.Load() != 2 || r.Counters().DropRate.Load() != 3 {
		t.Errorf("queries %d, rate drops %d", p.total.Load(), r.Counters().DropRate.Load())
	}
}

// The rate limiter holds the announcers still refilling, not every
// announcer ever asked.
func TestRateLimiterForgetsRefilled(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	r := newRateLimiter(1, 10, 1_000_000, func() time.Time { return now })
	for i := range 100_000 {
		if !r.allow(fmt.Sprintf("a%d@x/r", i)) {
			t.Fatalf("a%d refused", i)
		}
		now = now.Add(time.Millisecond) // 1,000 new announcers a second
	}
	// A bucket refills in 1 s: about 1,000 are still refilling.
	if n := len(r.b); n > 5_000 {
		t.Errorf("%d buckets held for ~1,000 announcers still refilling", n)
	}
	// Still a limiter: one announcer past its burst is refused.
	for i := range 10 {
		if !r.allow("busy@x/r") {
			t.Fatalf("busy refused at %d", i)
		}
	}
	if r.allow("busy@x/r") {
		t.Error("busy allowed past its burst")
	}
}
