package actors

import (
	"crypto/rand"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// TestFloodOfUnknownKeys: a few JIDs announcing a million random keys must
// not grow memory without bound nor make us query them without limit.
func TestFloodOfUnknownKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("a million presences")
	}
	p := newPeers()
	const (
		jids     = 8
		total    = 1_000_000
		batch    = 1000
		maxLooks = 2000
	)
	cfg := Config{MaxLookups: maxLooks, AnnouncerRate: 1, AnnouncerBurst: 5}
	r := start(t, cfg, newMemStore(), p)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	began := time.Now()
	var digest [20]byte
	ps := make([]*messages.Presence, batch)
	for i := range ps {
		ps[i] = &messages.Presence{Caps: &messages.Caps{Hash: "sha-1", Node: "n"}}
	}
	for sent := 0; sent < total; sent += batch {
		for i, pr := range ps {
			_, _ = rand.Read(digest[:])
			k, _ := hashing.NewKey(hashing.XEP0115, hashing.SHA1, digest[:])
			pr.From = fmt.Sprintf("flood%d@evil.example/r", (sent+i)%jids)
			pr.Caps.Ver = k.Ver()
		}
		if err := r.IngestBatch(waitCtx(t), ps); err != nil {
			t.Fatal(err)
		}
		// A fresh slice each round: the shards own what was sent.
		ps = append([]*messages.Presence(nil), ps...)
		for i := range ps {
			c := *ps[i].Caps
			ps[i] = &messages.Presence{Caps: &c}
		}
	}
	// Drain: every shard has processed everything once Misses+Hits adds up.
	c := r.Counters()
	for c.Misses.Load()+c.Hits.Load() < total {
		runtime.Gosched()
	}

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap grew %d MiB; queries %d, rate drops %d, lookup drops %d, JIDs %d",
		grown>>20, c.Queries.Load(), c.DropRate.Load(), c.DropLookups.Load(), r.JIDs())
	if grown > 256<<20 {
		t.Errorf("heap grew by %d MiB during the flood", grown>>20)
	}
	if r.JIDs() != jids {
		t.Errorf("JID table holds %d entries, want %d", r.JIDs(), jids)
	}
	// Each JID may be asked its burst, plus its rate over the run.
	if q := p.total.Load(); q > int64(jids*(cfg.AnnouncerBurst+1+int(time.Since(began).Seconds()))) {
		t.Errorf("%d queries: the per-announcer rate limit did not hold", q)
	}
	if c.DropLookups.Load() == 0 || c.DropRate.Load() == 0 {
		t.Errorf("expected counted drops, got lookups %d rate %d", c.DropLookups.Load(), c.DropRate.Load())
	}
	for _, sh := range r.shards {
		sh.table.mu.RLock()
		slots, idx := len(sh.table.slots), len(sh.table.index)
		sh.table.mu.RUnlock()
		if idx > jids || slots > jids+1 {
			t.Errorf("shard interns %d keys in %d slots for at most %d JIDs", idx, slots, jids)
		}
	}
}
