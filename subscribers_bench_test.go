//go:build unix

package capsengine_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// BenchmarkSubscribers measures warm ingest with 0, 1, 100 and 1,000
// subscribers that never read (SSE clients gone quiet), side by side in
// one run. Issue 11: 1,000 stalled subscribers must keep at least 0.8× the
// throughput of none. With none, the engine builds no events at all; with
// any, every warm presence publishes a CapsResolved.
//
//	go test -run '^$' -bench Subscribers -count 5 .
func BenchmarkSubscribers(b *testing.B) {
	const keys, jids = 1000, 100_000
	net, stanzas := warmWorkload(b, keys, jids)
	for _, subs := range []int{0, 1, 100, 1000} {
		b.Run(fmt.Sprintf("stalled=%d", subs), func(b *testing.B) {
			ctx := context.Background()
			eng := openWarm(b, net, stanzas, keys)
			// Subscribed, never read; closed by eng.Close. A pass over the
			// JIDs fills every subscription's buffer before the clock
			// starts: the steady state of a client gone quiet, not the
			// one-off cost of filling 1,000 buffers, is what is measured.
			var stalled []*capsengine.Subscription
			for range subs {
				stalled = append(stalled, eng.Subscribe(messages.AllKinds, 1024))
			}
			if subs > 0 {
				ingestAll(eng, stanzas)
				for _, s := range stalled {
					for ch := s.Events(); len(ch) < cap(ch); {
						runtime.Gosched()
					}
				}
			}
			b.ReportAllocs()
			timeIngest(b, eng, stanzas, nil)
			if subs > 0 && b.N > 1<<16 && eng.Counters()["EventDrops"] == 0 {
				// Closing the subscriptions adds up their losses.
				_ = eng.Close(ctx)
				if eng.Counters()["EventDrops"] == 0 {
					b.Error("stalled subscribers lost no events: they were not stalled")
				}
			}
		})
	}
}

// timeIngest feeds the stream (feedParallel) on the benchmark's clock
// until the engine has applied all of it, then reports CPU time per
// presence — on a machine shared with other work, steadier than wall
// time — and presences per second.
func timeIngest(b *testing.B, eng *capsengine.Engine, stanzas [][]byte, took func(time.Duration)) {
	b.ResetTimer()
	cpu0 := cpuTime()
	feedParallel(b, eng, stanzas, took)
	if err := eng.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "presences/s")
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchClient adds a client with its honest disco#info to n.
func benchClient(tb testing.TB, n *network, name string) *messages.Caps {
	info := &hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: name}},
		Features:   []string{"http://jabber.org/protocol/caps", "urn:xmpp:" + name},
	}
	ver, err := hashing.Ver(hashing.SHA1, info)
	if err != nil {
		tb.Fatal(err)
	}
	node := "https://" + name + ".example"
	n.infos[node+"#"+ver] = info
	return &messages.Caps{Hash: "sha-1", Node: node, Ver: ver}
}

// benchBatch is the batch the ingest benchmarks feed IngestRawBatch.
const benchBatch = 256

// warmWorkload makes keys verifiable clients and a stream of 2×jids
// presences in which each JID alternates between two keys, so that every
// presence is news (a re-announcement of the same key may rightly publish
// nothing) and, with subscribers, publishes a CapsResolved.
func warmWorkload(tb testing.TB, keys, jids int) (*network, [][]byte) {
	net := &network{infos: map[string]*hashing.Info{}}
	caps := make([]*messages.Caps, keys)
	for i := range caps {
		caps[i] = benchClient(tb, net, fmt.Sprintf("client%d", i))
	}
	stanzas := make([][]byte, 2*jids)
	for i := range stanzas {
		p := &messages.Presence{From: fmt.Sprintf("user%d@example.org/r", i%jids), Caps: caps[(i%jids+i/jids)%keys]}
		stanzas[i] = messages.AppendPresence(nil, p)
	}
	return net, stanzas
}

// ingestAll ingests stanzas in batches.
func ingestAll(eng *capsengine.Engine, stanzas [][]byte) {
	for i := 0; i < len(stanzas); i += benchBatch {
		_ = eng.IngestRawBatch(context.Background(), stanzas[i:min(i+benchBatch, len(stanzas))])
	}
}

// openWarm opens an in-memory engine (closed with tb), ingests the stream
// once and waits until every key is verified.
func openWarm(tb testing.TB, net *network, stanzas [][]byte, keys int) *capsengine.Engine {
	eng, err := capsengine.Open(context.Background(), capsengine.Config{InMemory: true, Querier: net})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = eng.Close(context.Background()) })
	ingestAll(eng, stanzas)
	for i := range keys {
		if _, err := eng.Wait(context.Background(), fmt.Sprintf("user%d@example.org/r", i)); err != nil {
			tb.Fatal(err)
		}
	}
	return eng
}

// feedParallel ingests b.N presences of the stream from GOMAXPROCS
// goroutines, in batches; took, when set, is told how long each batch's
// call took.
func feedParallel(b *testing.B, eng *capsengine.Engine, stanzas [][]byte, took func(time.Duration)) {
	ctx := context.Background()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(int64(len(stanzas) / 4)))
		buf := make([][]byte, 0, benchBatch)
		for pb.Next() {
			buf = append(buf, stanzas[i%len(stanzas)])
			i++
			if len(buf) == benchBatch {
				t0 := time.Now()
				_ = eng.IngestRawBatch(ctx, buf)
				if took != nil {
					took(time.Since(t0))
				}
				buf = buf[:0]
			}
		}
		_ = eng.IngestRawBatch(ctx, buf)
	})
}
