package actors

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

func TestOneQueryForManyAnnouncers(t *testing.T) {
	p := newPeers()
	p.gate = make(chan struct{})
	store := newMemStore()
	// The gate holds the answer past any hedge delay: hedging, which
	// would ask a second announcer then, is off (TestHedge* cover it).
	r := start(t, Config{HedgeMin: -1}, store, p)
	info, k, node := client(t, "psi", p)
	sub := r.Subscribe(messages.KindCapsResolved, 64)

	const n = 10_000
	var wg sync.WaitGroup
	for w := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 50 {
				if err := r.Ingest(waitCtx(t), presence(fmt.Sprintf("u%d@example.org/r", i), node, k)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	// Every presence is queued; let the lookup see them all before the
	// single query is allowed to answer.
	for r.Counters().Misses.Load()+r.Counters().Hits.Load() < n {
		runtime.Gosched()
	}
	if _, _, err := r.Caps("u1@example.org/r"); !errors.Is(err, ErrPending) {
		t.Errorf("Caps before the answer: %v, want ErrPending", err)
	}
	close(p.gate)
	got, err := r.WaitKey(waitCtx(t), k)
	if err != nil || got != info {
		t.Fatalf("WaitKey = %v, %v", got, err)
	}
	for i := 0; i < n; i += 997 {
		if _, in, err := r.Wait(waitCtx(t), fmt.Sprintf("u%d@example.org/r", i)); err != nil || in != info {
			t.Fatalf("u%d: %v, %v", i, in, err)
		}
	}
	if q := p.total.Load(); q != 1 {
		t.Errorf("%d disco#info queries for one key, want 1", q)
	}
	// Every presence joins the lookup but those that started it: the
	// first request to reach the router, or the first contacts (two
	// callers may both see the key as new and send one each; both JIDs
	// are then announcers of the one query).
	c := r.Counters()
	starters := max(c.EarlyLookups.Load(), 1)
	if j := c.DedupJoins.Load(); j+starters < n-c.Hits.Load() {
		t.Errorf("DedupJoins = %d, with %d first contacts and %d hits", j, c.EarlyLookups.Load(), c.Hits.Load())
	}
	if puts := store.puts.Load(); puts != 1 {
		t.Errorf("%d store writes, want 1", puts)
	}
	if n := store.unproven.Load(); n != 0 {
		t.Errorf("%d store writes without a proof of their answer", n)
	}
	for {
		select {
		case ev := <-sub.Events():
			cr, ok := ev.(*messages.CapsResolved)
			if !ok {
				continue // the small buffer lost events, and says so
			}
			if cr.Key != k || cr.Info != info {
				t.Errorf("event = %+v", cr)
			}
			return
		case <-waitCtx(t).Done():
			t.Fatal("no CapsResolved event")
		}
	}
}

func TestFallbackPastLiarAndFailures(t *testing.T) {
	for _, first := range []behaviour{liar, iqError, silent} {
		t.Run(fmt.Sprint(first), func(t *testing.T) {
			p := newPeers()
			// Plain fallback, without hedging (TestHedge* cover it).
			r := start(t, Config{QueryTimeout: 200 * time.Millisecond, HedgeMin: -1}, newMemStore(), p)
			info, k, node := client(t, "gajim", p)
			p.set("bad@example.org/x", first)
			// Hold the first answer until the second announcer has joined
			// the lookup, so the honest one is a fallback from the
			// pending list, not a fresh lookup.
			p.hold = make(chan struct{})
			if err := r.Ingest(waitCtx(t), presence("bad@example.org/x", node, k)); err != nil {
				t.Fatal(err)
			}
			for p.total.Load() == 0 {
				runtime.Gosched()
			}
			if err := r.Ingest(waitCtx(t), presence("good@example.org/y", node, k)); err != nil {
				t.Fatal(err)
			}
			for r.Counters().DedupJoins.Load() == 0 {
				runtime.Gosched()
			}
			close(p.hold)
			for _, jid := range []string{"bad@example.org/x", "good@example.org/y"} {
				if _, got, err := r.Wait(waitCtx(t), jid); err != nil || got != info {
					t.Fatalf("%s: %v, %v", jid, got, err)
				}
			}
			if p.queries("bad@example.org/x") != 1 || p.queries("good@example.org/y") != 1 {
				t.Errorf("queries: bad %d, good %d", p.queries("bad@example.org/x"), p.queries("good@example.org/y"))
			}
			// A liar and an error are remembered at once; a silent one is
			// put back in line for one more try (here never needed: the
			// honest one answered first).
			if _, ok := r.d.bad.get(badKey{"bad@example.org/x", k}); ok != (first != silent) {
				t.Errorf("failed announcer remembered: %v", ok)
			}
			c := r.Counters()
			switch first {
			case liar:
				if c.Mismatches.Load() != 1 {
					t.Errorf("Mismatches = %d", c.Mismatches.Load())
				}
			case iqError:
				if c.QueryErrors.Load() != 1 {
					t.Errorf("QueryErrors = %d", c.QueryErrors.Load())
				}
			case silent:
				if c.Timeouts.Load() != 1 {
					t.Errorf("Timeouts = %d", c.Timeouts.Load())
				}
			}
		})
	}
}

func TestAllAnnouncersTimeOut(t *testing.T) {
	p := newPeers()
	const qt = 50 * time.Millisecond
	r := start(t, Config{QueryTimeout: qt, LookupTimeout: 5 * time.Second}, newMemStore(), p)
	_, k, node := client(t, "mute", nil)
	sub := r.Subscribe(messages.KindCapsFailed, 16)
	jids := []string{"a@x/1", "b@x/1", "c@x/1"}
	for _, j := range jids {
		p.set(j, silent)
		if err := r.Ingest(waitCtx(t), presence(j, node, k)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, j := range jids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := r.Wait(waitCtx(t), j)
			if !errors.Is(err, ErrAnnouncersFailed) {
				t.Errorf("%s: err = %v, want ErrAnnouncersFailed", j, err)
			}
		}()
	}
	wg.Wait()
	// Three announcers asked one after the other, and each once more after
	// its timeout: the bound is theirs plus scheduling slack, far below
	// LookupTimeout.
	if el := time.Since(start); el > 6*qt+2*time.Second {
		t.Errorf("waiters answered after %v", el)
	}
	if got := r.Counters().Timeouts.Load(); got != 6 {
		t.Errorf("Timeouts = %d, want 6 (each announcer twice)", got)
	}
	if got := r.Counters().Retries.Load(); got != 3 {
		t.Errorf("Retries = %d, want 3", got)
	}
	for _, j := range jids {
		if p.queries(j) != 2 {
			t.Errorf("%s asked %d times, want 2", j, p.queries(j))
		}
	}
	for range jids {
		select {
		case ev := <-sub.Events():
			if f := ev.(*messages.CapsFailed); !errors.Is(f.Err, ErrAnnouncersFailed) {
				t.Errorf("event err = %v", f.Err)
			}
		case <-waitCtx(t).Done():
			t.Fatal("missing CapsFailed")
		}
	}
	if _, _, err := r.Caps("a@x/1"); !errors.Is(err, ErrAnnouncersFailed) {
		t.Errorf("Caps after failure = %v", err)
	}
}

func TestLookupDeadline(t *testing.T) {
	p := newPeers()
	r := start(t, Config{QueryTimeout: time.Hour, LookupTimeout: 100 * time.Millisecond}, newMemStore(), p)
	_, k, node := client(t, "slow", nil)
	p.set("s@x/1", silent)
	if err := r.Ingest(waitCtx(t), presence("s@x/1", node, k)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Wait(waitCtx(t), "s@x/1"); !errors.Is(err, ErrLookupTimeout) {
		t.Fatalf("err = %v, want ErrLookupTimeout", err)
	}
}

func TestCloseReleasesWaiters(t *testing.T) {
	p := newPeers()
	r, err := Start(Config{QueryTimeout: time.Hour, LookupTimeout: time.Hour}, Ports{Store: newMemStore(), Querier: p})
	if err != nil {
		t.Fatal(err)
	}
	_, k, node := client(t, "hang", nil)
	p.set("h@x/1", silent)
	if err := r.Ingest(waitCtx(t), presence("h@x/1", node, k)); err != nil {
		t.Fatal(err)
	}
	for p.total.Load() == 0 {
		runtime.Gosched()
	}
	res := make(chan error, 1)
	go func() { _, _, err := r.Wait(context.Background(), "h@x/1"); res <- err }()
	if err := r.Close(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, ErrClosed) {
		t.Errorf("waiter got %v, want ErrClosed", err)
	}
	if err := r.Close(waitCtx(t)); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := r.Ingest(waitCtx(t), presence("h@x/1", node, k)); !errors.Is(err, ErrClosed) {
		t.Errorf("Ingest after Close: %v", err)
	}
}

func TestCaps2WinsOverXEP0115(t *testing.T) {
	p := newPeers()
	store := newMemStore()
	r := start(t, Config{}, store, p)
	info, k1, node := client(t, "dino", p)
	k2, err := hashing.Compute(hashing.XEP0390, hashing.SHA256, info)
	if err != nil {
		t.Fatal(err)
	}
	// The XEP-0115 key is already known; a presence that also carries a
	// caps2 hash must still get the caps2 hash verified.
	_ = store.Put(context.Background(), k1, info, Verified{})
	p.mu.Lock()
	p.infos[k2.QueryNode("")] = info
	p.mu.Unlock()
	pr := presence("d@x/1", node, k1)
	pr.Caps2 = []messages.Hash{{Algo: "sha-256", Value: k2.Ver()}, {Algo: "md4", Value: "ignored"}}
	if err := r.Ingest(waitCtx(t), pr); err != nil {
		t.Fatal(err)
	}
	key, got, err := r.Wait(waitCtx(t), "d@x/1")
	if err != nil || got != info || key != k2 {
		t.Fatalf("Wait = %v, %v, %v; want the caps2 key", key, got, err)
	}
	if p.total.Load() != 1 {
		t.Errorf("queries = %d, want 1 (for the caps2 node)", p.total.Load())
	}
}

func TestUnavailableAndEntityGone(t *testing.T) {
	r := start(t, Config{}, newMemStore(), newPeers())
	sub := r.Subscribe(messages.KindEntityGone, 4)
	_, k, node := client(t, "x", nil)
	_ = r.Ingest(waitCtx(t), presence("g@x/1", node, k))
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "g@x/1", Type: "unavailable"})
	select {
	case ev := <-sub.Events():
		if ev.(*messages.EntityGone).JID != "g@x/1" {
			t.Errorf("event = %+v", ev)
		}
	case <-waitCtx(t).Done():
		t.Fatal("no EntityGone")
	}
	if _, _, err := r.Caps("g@x/1"); !errors.Is(err, ErrUnknownJID) {
		t.Errorf("Caps after unavailable = %v", err)
	}
}

func TestSkipMUCAndNoCaps(t *testing.T) {
	r := start(t, Config{SkipMUC: true}, newMemStore(), newPeers())
	_, k, node := client(t, "m", nil)
	pr := presence("room@muc/nick", node, k)
	pr.MUC = true
	_ = r.Ingest(waitCtx(t), pr)
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "n@x/1"})
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "l@x/1", Caps: &messages.Caps{Node: "legacy", Ver: "1.0", Ext: "voice"}})
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "b@x/1", Caps: &messages.Caps{Hash: "sha-1", Node: "n", Ver: "!!"}})
	c := r.Counters()
	if c.DropMUC.Load() != 1 || c.NoCaps.Load() != 3 || c.Malformed.Load() != 1 {
		t.Errorf("DropMUC %d NoCaps %d Malformed %d", c.DropMUC.Load(), c.NoCaps.Load(), c.Malformed.Load())
	}
}

func TestFailureKeepsItsCause(t *testing.T) {
	p := newPeers()
	r := start(t, Config{}, newMemStore(), p)
	_, k, node := client(t, "lie", p)
	p.set("liar@x/1", liar)
	_ = r.Ingest(waitCtx(t), presence("liar@x/1", node, k))
	_, _, err := r.Wait(waitCtx(t), "liar@x/1")
	var mm *hashing.MismatchError
	if !errors.Is(err, ErrAnnouncersFailed) || !errors.As(err, &mm) || mm.Key != k {
		t.Fatalf("err = %v; want ErrAnnouncersFailed wrapping the *hashing.MismatchError", err)
	}
}

// Every JID that announced a key while its lookup ran hears how it ended,
// not only the first MaxAnnouncersPerKey of them (those are the ones worth
// asking, a different bound).
func TestEveryWaitingJIDGetsItsEvent(t *testing.T) {
	p := newPeers()
	p.gate = make(chan struct{})
	r := start(t, Config{}, newMemStore(), p)
	_, k, node := client(t, "psi", p)
	const n = 500
	sub := r.Subscribe(messages.KindCapsResolved, 2*n)
	for i := range n {
		if err := r.Ingest(waitCtx(t), presence(fmt.Sprintf("u%d@example.org/r", i), node, k)); err != nil {
			t.Fatal(err)
		}
	}
	for r.Counters().Misses.Load() < n {
		runtime.Gosched()
	}
	if err := r.Sync(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	close(p.gate)
	told := map[string]bool{}
	for len(told) < n {
		select {
		case ev := <-sub.Events():
			told[ev.(*messages.CapsResolved).JID] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d JIDs told their caps resolved", len(told), n)
		}
	}
}

// Past MaxWaitingJIDs a presence is counted, not held.
func TestWaitingJIDsBound(t *testing.T) {
	p := newPeers()
	p.gate = make(chan struct{})
	r := start(t, Config{MaxWaitingJIDs: 10}, newMemStore(), p)
	_, k, node := client(t, "psi", p)
	sub := r.Subscribe(messages.KindCapsResolved, 100)
	for i := range 50 {
		if err := r.Ingest(waitCtx(t), presence(fmt.Sprintf("u%d@example.org/r", i), node, k)); err != nil {
			t.Fatal(err)
		}
	}
	for int64(r.Counters().DropNotify.Load())+r.d.waiting.Load() < 50 {
		runtime.Gosched()
	}
	close(p.gate)
	if _, err := r.WaitKey(waitCtx(t), k); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		select {
		case <-sub.Events():
		case <-time.After(5 * time.Second):
			t.Fatalf("%d events, want 10", i)
		}
	}
	if d := r.Counters().DropNotify.Load(); d != 40 {
		t.Errorf("DropNotify = %d, want 40", d)
	}
	// The tables tell the JIDs as soon as the answer verifies; the lookup
	// lets go of them when it handles the answer, a moment later.
	for deadline := time.Now().Add(5 * time.Second); r.d.waiting.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d JIDs still held after the lookup ended", r.d.waiting.Load())
		}
	}
}

// A key verified by a query is announced once, with the time, before its
// JIDs' CapsResolved; a key the store knows already is not verified again.
func TestKeyVerifiedOnce(t *testing.T) {
	p := newPeers()
	st := newMemStore()
	r := start(t, Config{}, st, p)
	sub := r.Subscribe(messages.KindKeyVerified|messages.KindCapsResolved, 64)
	info, k, node := client(t, "verified", p)
	before := time.Now()
	for _, jid := range []string{"a@x/r", "b@x/r"} {
		if err := r.Ingest(waitCtx(t), presence(jid, node, k)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.Wait(waitCtx(t), jid); err != nil {
			t.Fatal(err)
		}
	}
	_, known, _ := client(t, "stored", nil)
	_ = st.Put(waitCtx(t), known, info, Verified{})
	_ = r.Ingest(waitCtx(t), presence("c@x/r", "https://example.org/stored", known))
	if _, _, err := r.Wait(waitCtx(t), "c@x/r"); err != nil {
		t.Fatalf("Wait c: %v", err)
	}
	if err := r.Flush(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	// The subscription's pump delivers asynchronously: read until the
	// three JIDs' CapsResolved are in, then a moment more for any second
	// KeyVerified.
	var verified []*messages.KeyVerified
	var seq []string
	resolved, resolvedBefore := 0, 0
	grace := time.After(time.Hour)
	for done := false; !done; {
		select {
		case ev := <-sub.Events():
			seq = append(seq, fmt.Sprintf("%T", ev))
			switch e := ev.(type) {
			case *messages.KeyVerified:
				verified = append(verified, e)
			case *messages.CapsResolved:
				resolved++
				if len(verified) == 0 {
					resolvedBefore++
				}
				if resolved == 3 {
					grace = time.After(100 * time.Millisecond)
				}
			}
		case <-grace:
			done = true
		case <-waitCtx(t).Done():
			t.Fatalf("events: %d KeyVerified, %d CapsResolved", len(verified), resolved)
		}
	}
	if len(verified) != 1 {
		t.Fatalf("%d KeyVerified events, want 1: %+v", len(verified), verified)
	}
	if e := verified[0]; e.Key != k || e.Info == nil || e.At.Before(before) || e.At.After(time.Now()) {
		t.Errorf("KeyVerified %+v", e)
	}
	if resolvedBefore != 0 {
		t.Errorf("%d CapsResolved came before the key's KeyVerified: %v", resolvedBefore, seq)
	}
}

// checkToldMirror fails unless every JID's index entry says resolved
// exactly when its row was told CapsResolved (entry.resolved).
func checkToldMirror(t *testing.T, r *Runtime) {
	t.Helper()
	n := 0
	for _, sh := range r.shards {
		tb := sh.table
		tb.mu.RLock()
		for _, c := range tb.jids.cells {
			if c.fp == (fingerprint{}) {
				continue
			}
			n++
			if got, want := c.e.resolved(), tb.rows.at(c.e.row()).told == toldResolved; got != want {
				t.Errorf("%s: index says resolved %v, row was told %v", tb.rows.at(c.e.row()).jid, got, tb.rows.at(c.e.row()).told)
			}
		}
		tb.mu.RUnlock()
	}
	if n == 0 {
		t.Error("no JIDs checked")
	}
}

// The index's told-resolved bit follows the row through resolution,
// failure, a key change and re-announcements.
func TestToldMirroredInIndex(t *testing.T) {
	p := newPeers()
	r := start(t, Config{}, newMemStore(), p)
	_, good, goodNode := client(t, "good", p)
	_, bad, badNode := client(t, "bad", p)
	p.set("liar@x/r", liar)
	jids := []string{"a@x/r", "b@x/r", "c@x/r", "liar@x/r"}
	for _, j := range jids[:3] {
		_ = r.Ingest(waitCtx(t), presence(j, goodNode, good))
	}
	_ = r.Ingest(waitCtx(t), presence("liar@x/r", badNode, bad))
	for _, j := range jids {
		_, _, _ = r.Wait(waitCtx(t), j)
	}
	checkToldMirror(t, r)
	// b moves to the failed key, c leaves, a announces again.
	_ = r.Ingest(waitCtx(t), presence("b@x/r", badNode, bad))
	_ = r.Ingest(waitCtx(t), &messages.Presence{From: "c@x/r", Type: "unavailable"})
	_ = r.Ingest(waitCtx(t), presence("a@x/r", goodNode, good))
	if err := r.Sync(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	_, _, _ = r.Wait(waitCtx(t), "b@x/r")
	checkToldMirror(t, r)
	// b back on the good key: told from the table, resolved again.
	_ = r.Ingest(waitCtx(t), presence("b@x/r", goodNode, good))
	if _, _, err := r.Wait(waitCtx(t), "b@x/r"); err != nil {
		t.Fatal(err)
	}
	checkToldMirror(t, r)
	if _, info, err := r.Caps("a@x/r"); err != nil || info == nil {
		t.Errorf("Caps(a) = %v, %v", info, err)
	}
}
