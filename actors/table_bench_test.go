package actors

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

// BenchmarkTableWarm applies warm presences (each JID re-announcing its
// key) in batches of 128 to one shard's table of 500,000 and 2,500,000
// JIDs (the shard sizes of the 2M and 10M bench runs): the table's part
// of why warm ingest per presence costs more as the JIDs grow. On the
// 2-core machine, two runs each, alternating: with a Go map for the JID
// index 222–249 and 342 ns per presence; with jidIndex 182–192 and
// 259–278 ns. Looking a batch's JIDs up in a first pass, to overlap
// their cache misses, made the Go map slower (tried and dropped); with
// jidIndex, reading each run's cells in a loop of loads alone
// (prefetchLocked, as the shard does) is 3–4× faster, both with runs of
// lockRun presences per hold of the lock: prefetch=false 188–214 and
// 284–290 ns, prefetch=true 62–67 and 75–79 ns.
//
//	go test -run '^$' -bench TableWarm -count 3 ./actors
func BenchmarkTableWarm(b *testing.B) {
	keys := make([]hashing.Key, 1000)
	for i := range keys {
		d := make([]byte, 20)
		d[0], d[1] = byte(i), byte(i>>8)
		keys[i], _ = hashing.NewKey(hashing.XEP0115, hashing.SHA1, d)
	}
	for _, n := range []int{500_000, 2_500_000} {
		tb := newTable(nil)
		jids := make([]string, n)
		for i := range jids {
			jids[i] = fmt.Sprintf("user%d@example.org/r", i)
			tb.setLocked(jids[i], keys[i%len(keys)], "")
		}
		// The batches' JIDs are copied into one arena read in order, as
		// a batch's JIDs are in the engine (decoded just before): the
		// table's misses are what is measured, not the reads of a
		// million scattered strings.
		rng := rand.New(rand.NewPCG(1, 2))
		const size, nbatches = 128, 512
		picks := make([]int, size*nbatches)
		var arena strings.Builder
		for i := range picks {
			picks[i] = rng.IntN(n)
			arena.WriteString(jids[picks[i]])
		}
		all, from := arena.String(), 0
		items := make([]item, len(picks))
		for i, j := range picks {
			items[i] = item{jid: all[from : from+len(jids[j])], key: keys[j%len(keys)]}
			from += len(jids[j])
		}
		for _, prefetch := range []bool{false, true} {
			b.Run(fmt.Sprintf("jids=%d/prefetch=%v", n, prefetch), func(b *testing.B) {
				next := 0
				for b.Loop() {
					batch := items[next : next+size]
					next = (next + size) % len(items)
					var fps [lockRun]fingerprint
					for from := 0; from < size; from += lockRun {
						run := batch[from : from+lockRun]
						tb.mu.Lock()
						if prefetch {
							tb.prefetchLocked(run, &fps)
							for i := range run {
								tb.setFPLocked(fps[i], run[i].jid, run[i].key, "")
							}
						} else {
							for i := range run {
								tb.setLocked(run[i].jid, run[i].key, "")
							}
						}
						tb.mu.Unlock()
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/presence")
			})
		}
	}
}
