//go:build unix

package capsengine_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	const keys, jids = 1000, 400_000
	net, stanzas := warmWorkload(b, keys, jids)
	for _, walkers := range []int{0, 1} {
		b.Run(fmt.Sprintf("walkers=%d", walkers), func(b *testing.B) {
			eng := openWarm(b, net, stanzas, keys)
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
			timeIngest(b, eng, stanzas, func(d time.Duration) {
				if int64(d) > worst.Load() {
					worst.Store(int64(d)) // racy max: a lower bound, enough here
				}
			})
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(worst.Load())/1e6, "worst-batch-ms")
			b.ReportMetric(float64(walks.Load()), "walks")
		})
	}
}
