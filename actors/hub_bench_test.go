package actors

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/capsengine/capsengine/messages"
)

// BenchmarkHubPublish is the hub's share of a publisher's cost, alone:
// parallel publishers with 1 to 1,000 subscribers that never read. The
// cost must not grow with the subscribers.
func BenchmarkHubPublish(b *testing.B) {
	for _, subs := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("stalled=%d", subs), func(b *testing.B) {
			h := &Hub{counters: &Counters{}}
			var all []*Subscription
			for range subs {
				all = append(all, h.Subscribe(messages.AllKinds, 64))
			}
			ev := &messages.CapsResolved{JID: "a@b/c"}
			// Stall them: full channels, pumps blocked on their sends.
			for range 64 + pumpBatch {
				h.Publish(ev)
			}
			for _, s := range all {
				for len(s.ch) < cap(s.ch) {
					runtime.Gosched()
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					h.Publish(ev)
				}
			})
			b.StopTimer()
			for _, s := range all {
				s.Close()
			}
		})
	}
}
