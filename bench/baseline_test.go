package bench

import (
	"sync"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// expectedTable replays the stream in order: the key each JID announced
// last, for the JIDs online at the end.
func expectedTable(t *testing.T, w *workload) map[string]hashing.Key {
	t.Helper()
	want := map[string]hashing.Key{}
	for i := range w.Len() {
		p, err := messages.ParsePresence(w.Stanza(i))
		if err != nil {
			t.Fatal(err)
		}
		switch p.Type {
		case "unavailable":
			delete(want, p.From)
		case "":
			ks, _ := p.AppendKeys(nil)
			if k, ok := decidingKey(ks); ok {
				want[p.From] = k
			}
		}
	}
	return want
}

func TestBaselineCorrect(t *testing.T) {
	// No silent peers: a presence that joins a flight to a silent peer
	// fails with it (the baseline has no fallback queue), which would make
	// "every resolvable key resolved" depend on timing.
	ps := PeerSpec{Seed: 5, Liars: 0.05, Errors: 0.03, Latency: 100 * time.Microsecond}
	spec := smallSpec()
	spec.Presences, spec.JIDs, spec.Unique = 6000, 2000, 150
	w, ans := testWorkload(t, spec, ps)
	peers := newPeers(ps, ans)
	b := newBaseline(peers, 50*time.Millisecond)

	// Two goroutines, as the benchmark feeds it: dedup must hold under
	// concurrency (run with -race).
	var wg sync.WaitGroup
	half := w.Len() / 2
	for _, r := range [][2]int{{0, half}, {half, w.Len()}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := r[0]; i < r[1]; i++ {
				_ = b.Ingest(w.Stanza(i))
			}
		}()
	}
	wg.Wait()
	b.Wait()
	// Later passes try the keys whose flights failed so far again, as
	// their next presences would.
	// The first of them also replays the stream in order, which the two
	// halves above did not.
	for pass := 0; pass == 0 || pass < 4 && resolved(b, w) < w.Meta.Resolvable; pass++ {
		for i := range w.Len() {
			_ = b.Ingest(w.Stanza(i))
		}
		b.Wait()
	}

	// Every resolvable key is cached, with an answer that verifies.
	for _, k := range w.Meta.Keys {
		info, ok := b.Caps(k.Key)
		if ok != k.Honest {
			t.Errorf("key %s: cached %v, honest announcer %v", k.Key, ok, k.Honest)
		}
		if ok {
			if _, err := hashing.Verify(k.Key, info, hashing.Options{}); err != nil {
				t.Errorf("cached answer for %s: %v", k.Key, err)
			}
		}
	}
	if d := peers.Duplicates(); d != 0 {
		t.Errorf("%d duplicate queries", d)
	}
	if peers.LiarAnswers.Load() == 0 {
		t.Fatal("no liar was asked: the test proves nothing")
	}
	caught := b.c.Mismatches.Load() + b.c.Rejected.Load()
	if int64(caught) != peers.LiarAnswers.Load() {
		t.Errorf("liars caught %d, wrong answers %d", caught, peers.LiarAnswers.Load())
	}
	if q := b.c.Queries.Load(); int64(q) != peers.Queries.Load() {
		t.Errorf("baseline counted %d queries, peers %d", q, peers.Queries.Load())
	}

	// The JID table holds the last key of every online JID.
	want := expectedTable(t, w)
	if b.JIDs() != len(want) {
		t.Errorf("JIDs: got %d, want %d", b.JIDs(), len(want))
	}
	for jid, k := range want {
		if got, ok := b.Key(jid); !ok || got != k {
			t.Errorf("%s: got %v %v, want %v", jid, got, ok, k)
			break
		}
	}
}

func resolved(b *baseline, w *workload) int {
	n := 0
	for _, k := range w.Meta.Keys {
		if _, ok := b.Caps(k.Key); ok {
			n++
		}
	}
	return n
}

func TestBaselineRejectsGarbage(t *testing.T) {
	b := newBaseline(newPeers(PeerSpec{}, nil), time.Second)
	for _, s := range []string{
		"<presence",
		"<message from='a@b/c'/>",
		"<presence/>",
	} {
		if err := b.Ingest([]byte(s)); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
	if got := b.c.Malformed.Load(); got != 3 {
		t.Errorf("malformed: got %d, want 3", got)
	}
	// No caps: counted, nothing asked.
	if err := b.Ingest([]byte("<presence from='a@b/c'/>")); err != nil {
		t.Fatal(err)
	}
	b.Wait()
	if b.c.NoCaps.Load() != 1 || b.c.Queries.Load() != 0 {
		t.Errorf("no caps %d, queries %d", b.c.NoCaps.Load(), b.c.Queries.Load())
	}
}
