package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// testWorkload generates spec into a temporary directory and opens it.
func testWorkload(tb testing.TB, spec Spec, ps PeerSpec) (*workload, *answers) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "w.xml")
	if err := GenerateFiles(spec, path); err != nil {
		tb.Fatal(err)
	}
	ans, err := readAnswersFile(path + ".disco")
	if err != nil {
		tb.Fatal(err)
	}
	w, err := openWorkload(path, &ps, ans)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
	return w, ans
}

// cpuPerOp reports the process CPU time per operation: on a machine
// shared with other work it is steadier than ns/op. Call it with the
// value of cpuTime() taken when the timer was last reset.
func cpuPerOp(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func benchSpec(presences, jids, unique int) Spec {
	s := defaultSpec()
	s.Presences, s.JIDs, s.Unique = presences, jids, unique
	return s
}

// BenchmarkWarmIngest compares warm ingest of raw stanzas through the
// engine's public API with decoding alone (issue 4: the engine should
// reach at least half of parse-only throughput) and with the baseline.
// Run with -cpu 2 and compare the ns/op side by side.
func BenchmarkWarmIngest(b *testing.B) {
	w, ans := testWorkload(b, benchSpec(200_000, 100_000, 1000), PeerSpec{})
	n := w.Len()
	const batch = 256
	b.Run("parse-only", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpuTime()
		defer func() { cpuPerOp(b, cpu0) }()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			var d messages.Decoder
			var v messages.PresenceView
			var ks []hashing.Key
			i := int(next.Add(int64(n/4))) % n
			for pb.Next() {
				if err := d.DecodePresence(w.Stanza(i%n), &v); err != nil {
					b.Fatal(err)
				}
				ks, _ = v.AppendKeys(ks[:0])
				i++
			}
		})
	})
	b.Run("engine", func(b *testing.B) {
		ctx := context.Background()
		o := DefaultOptions()
		eng, err := capsengine.Open(ctx, capsengine.Config{InMemory: true, Querier: newPeers(PeerSpec{}, ans), Tuning: o.tuning()})
		if err != nil {
			b.Fatal(err)
		}
		defer eng.Close(ctx)
		warm(b, eng, w)
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := cpuTime()
		defer func() { cpuPerOp(b, cpu0) }()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(int64(n/4))) % n
			buf := make([][]byte, 0, batch)
			for pb.Next() {
				buf = append(buf, w.Stanza(i%n))
				i++
				if len(buf) == batch {
					_ = eng.IngestRawBatch(ctx, buf)
					buf = buf[:0]
				}
			}
			_ = eng.IngestRawBatch(ctx, buf)
		})
		_ = eng.Sync(ctx)
	})
	b.Run("baseline", func(b *testing.B) {
		bl := newBaseline(newPeers(PeerSpec{}, ans), time.Second)
		for i := range n {
			_ = bl.Ingest(w.Stanza(i))
		}
		bl.Wait()
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := cpuTime()
		defer func() { cpuPerOp(b, cpu0) }()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(int64(n/4))) % n
			for pb.Next() {
				_ = bl.Ingest(w.Stanza(i % n))
				i++
			}
		})
	})
}

// warm ingests w into eng and waits until every key has resolved.
func warm(tb testing.TB, eng *capsengine.Engine, w *workload) {
	ctx := context.Background()
	buf := make([][]byte, 0, 256)
	for i := range w.Len() {
		buf = append(buf, w.Stanza(i))
		if len(buf) == cap(buf) {
			_ = eng.IngestRawBatch(ctx, buf)
			buf = buf[:0]
		}
	}
	_ = eng.IngestRawBatch(ctx, buf)
	if err := eng.Sync(ctx); err != nil {
		tb.Fatal(err)
	}
	for _, f := range w.Meta.Firsts {
		if _, err := eng.Wait(ctx, f.JID); err != nil && err != capsengine.ErrUnknownJID {
			tb.Fatalf("key of %s: %v", f.JID, err)
		}
	}
}

// BenchmarkColdPath sends presences announcing unique unknown keys, each
// announced by several JIDs, with a 1 ms simulated disco#info latency. It
// reports resolved keys/s and fails if the queries are not exactly one
// per key.
func BenchmarkColdPath(b *testing.B) {
	for _, keys := range []int{1000, 10_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			ps := PeerSpec{Latency: time.Millisecond, Jitter: 0.5}
			w, ans := testWorkload(b, Spec{Seed: 7, Presences: keys * 8, JIDs: keys * 4, Unique: keys, Zipf: 0}, ps)
			o := DefaultOptions()
			// A slow machine must not turn a 1 ms answer into a timeout
			// and a second, legitimate, query.
			o.QueryTimeout = 10 * time.Second
			ctx := context.Background()
			var resolved, secs float64
			for b.Loop() {
				peers := newPeers(ps, ans)
				eng, err := capsengine.Open(ctx, capsengine.Config{InMemory: true, Querier: peers, Tuning: o.tuning()})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				warm(b, eng, w)
				secs += time.Since(start).Seconds()
				resolved += float64(w.Meta.UniqueKeys)
				if q := peers.Queries.Load(); q != int64(w.Meta.UniqueKeys) {
					b.Fatalf("queries %d, unique keys %d, duplicates %d; counters %v", q, w.Meta.UniqueKeys, peers.Duplicates(), eng.Counters())
				}
				b.StopTimer()
				eng.Close(ctx)
				b.StartTimer()
			}
			b.ReportMetric(resolved/secs, "keys/s")
		})
	}
}
