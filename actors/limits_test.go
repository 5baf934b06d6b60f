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

func TestSlowSubscriberDropsCounted(t *testing.T) {
	r := start(t, Config{}, newMemStore(), newPeers())
	sub := r.Subscribe(messages.KindEntityGone, 2)
	_, k, node := client(t, "x", nil)
	for i := range 10 {
		jid := fmt.Sprintf("s%d@x/1", i)
		_ = r.Ingest(waitCtx(t), presence(jid, node, k))
		_ = r.Ingest(waitCtx(t), &messages.Presence{From: jid, Type: "unavailable"})
	}
	if err := r.Sync(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if sub.Dropped() != 8 || r.Counters().EventDrops.Load() != 8 || len(sub.Events()) != 2 {
		t.Errorf("dropped %d (counter %d), buffered %d; want 8, 8, 2", sub.Dropped(), r.Counters().EventDrops.Load(), len(sub.Events()))
	}
	sub.Close()
	sub.Close()
	if _, open := <-sub.Events(); !open {
		t.Error("buffered events lost on Close")
	}
}

func TestMaxLookupsOverload(t *testing.T) {
	p := newPeers()
	p.hold = make(chan struct{})
	defer close(p.hold)
	r := start(t, Config{MaxLookups: 3}, newMemStore(), p)
	for i := range 5 {
		_, k, node := client(t, fmt.Sprintf("c%d", i), p)
		_ = r.Ingest(waitCtx(t), presence(fmt.Sprintf("o%d@x/1", i), node, k))
	}
	if err := r.Sync(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	// The router handles requests in order; wait for it to see all five.
	for r.Counters().DropLookups.Load() < 2 {
		runtime.Gosched()
	}
	overloaded := 0
	for i := range 5 {
		_, _, err := r.Caps(fmt.Sprintf("o%d@x/1", i))
		if errors.Is(err, ErrOverloaded) {
			overloaded++
		} else if !errors.Is(err, ErrPending) {
			t.Errorf("o%d: %v", i, err)
		}
	}
	if overloaded != 2 {
		t.Errorf("%d JIDs overloaded, want 2", overloaded)
	}
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
