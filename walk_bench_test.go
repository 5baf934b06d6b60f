//go:build unix

package capsengine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// BenchmarkIngestWhileWalking measures warm ingest over 400,000 JIDs while
// another goroutine asks the questions a dashboard asks — Entities and
// Software walk every JID — back to back, against no such walker. It
// reports, besides throughput, the longest an IngestRawBatch call took:
// a walk that held a shard's lock from start to end kept ingest waiting
// that long.
//
//	go test -run '^$' -bench IngestWhileWalking -count 3 .
func BenchmarkIngestWhileWalking(b *testing.B) {
	const keys, jids, batch = 1000, 400_000, 256
	net := &network{infos: map[string]*hashing.Info{}}
	caps := make([]*messages.Caps, keys)
	for i := range caps {
		caps[i] = benchClient(b, net, fmt.Sprintf("client%d", i))
	}
	stanzas := make([][]byte, 2*jids)
	for i := range stanzas {
		p := &messages.Presence{From: fmt.Sprintf("user%d@example.org/r", i%jids), Caps: caps[(i%jids+i/jids)%keys]}
		stanzas[i] = messages.AppendPresence(nil, p)
	}
	for _, walkers := range []int{0, 1} {
		b.Run(fmt.Sprintf("walkers=%d", walkers), func(b *testing.B) {
			ctx := context.Background()
			eng, err := capsengine.Open(ctx, capsengine.Config{InMemory: true, Querier: net})
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Close(ctx)
			for i := 0; i < len(stanzas); i += batch {
				_ = eng.IngestRawBatch(ctx, stanzas[i:min(i+batch, len(stanzas))])
			}
			for i := range keys {
				if _, err := eng.Wait(ctx, fmt.Sprintf("user%d@example.org/r", i)); err != nil {
					b.Fatal(err)
				}
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var walks atomic.Int64
			for range walkers {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						_ = eng.Entities("http://jabber.org/protocol/caps")
						_ = eng.Software()
						walks.Add(1)
					}
				})
			}
			var worst atomic.Int64
			b.ResetTimer()
			cpu0 := cpuTime()
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(int64(len(stanzas) / 4)))
				buf := make([][]byte, 0, batch)
				for pb.Next() {
					buf = append(buf, stanzas[i%len(stanzas)])
					i++
					if len(buf) == batch {
						t0 := time.Now()
						_ = eng.IngestRawBatch(ctx, buf)
						if d := int64(time.Since(t0)); d > worst.Load() {
							worst.Store(d) // racy max: a lower bound, enough here
						}
						buf = buf[:0]
					}
				}
				_ = eng.IngestRawBatch(ctx, buf)
			})
			if err := eng.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "presences/s")
			b.ReportMetric(float64(worst.Load())/1e6, "worst-batch-ms")
			b.ReportMetric(float64(walks.Load()), "walks")
		})
	}
}
