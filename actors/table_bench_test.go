package actors

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

// BenchmarkTableWarm applies warm presences (each JID re-announcing its
// key) in batches of 128 to one shard's table of 500,000 and 2,500,000
// JIDs (the shard sizes of the 2M and 10M bench runs): the table's part
// of why warm ingest per presence costs more as the JIDs grow. On the
// 2-core machine: 310 → 445 ns per presence, nearly all of it the map
// probe (the same key is re-announced, so nothing else is written).
// Looking a batch's JIDs up in a first pass, to overlap their cache
// misses, made it slower (390 and 510 ns): tried and dropped.
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
		rng := rand.New(rand.NewPCG(1, 2))
		batch := make([]item, 128)
		b.Run(fmt.Sprintf("jids=%d", n), func(b *testing.B) {
			for b.Loop() {
				for i := range batch {
					j := rng.IntN(n)
					batch[i] = item{jid: jids[j], key: keys[j%len(keys)]}
				}
				for i := range batch {
					tb.mu.Lock()
					tb.setLocked(batch[i].jid, batch[i].key, "")
					tb.mu.Unlock()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/presence")
		})
	}
}
