package actors

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/hashing"
)

// loneCluster is a Cluster of one member inside the test's process: its
// owners are plain local actors, one per key, so that the engine's
// cluster path (clusterAsk, owner, querier) runs without protoactor's
// cluster and remote, which race when two members share a process.
type loneCluster struct {
	mu     sync.Mutex
	sys    *actor.ActorSystem
	owner  *actor.Props
	owners map[string]*actor.PID
}

func (c *loneCluster) Join(j Joining) error {
	c.sys, c.owner, c.owners = j.System, j.Owner, make(map[string]*actor.PID)
	j.Topology([]string{j.System.Address()})
	return nil
}

func (c *loneCluster) Request(_ context.Context, identity, _ string, msg any) (any, error) {
	for range 2 {
		c.mu.Lock()
		pid, ok := c.owners[identity]
		if !ok {
			pid = c.sys.Root.Spawn(c.owner)
			c.owners[identity] = pid
		}
		c.mu.Unlock()
		v, err := c.sys.Root.RequestFuture(pid, msg, c.RequestTimeout()).Result()
		if !errors.Is(err, actor.ErrDeadLetter) {
			return v, err
		}
		// The owner passivated: activate it again.
		c.mu.Lock()
		delete(c.owners, identity)
		c.mu.Unlock()
	}
	return nil, actor.ErrDeadLetter
}

func (c *loneCluster) PastOwners(string, string) []string { return nil }
func (c *loneCluster) RequestTimeout() time.Duration      { return 10 * time.Second }
func (c *loneCluster) ProbeTimeout() time.Duration        { return 500 * time.Millisecond }
func (c *loneCluster) Leave() error                       { return nil }

// commitGate is an AsyncStore whose writes become durable (and visible)
// only when the test opens the gate, like a disk that takes its time.
type commitGate struct {
	*memStore
	open    chan struct{}
	opened  sync.Once
	pending sync.WaitGroup
	writes  atomic.Int32 // Put and PutAsync calls
}

// release lets every write, held or to come, through.
func (s *commitGate) release() { s.opened.Do(func() { close(s.open) }) }

func newCommitGate() *commitGate {
	return &commitGate{memStore: newMemStore(), open: make(chan struct{})}
}

func (s *commitGate) Put(ctx context.Context, k hashing.Key, info *hashing.Info, v Verified) error {
	s.writes.Add(1)
	select {
	case <-s.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.memStore.Put(ctx, k, info, v)
}

func (s *commitGate) PutAsync(k hashing.Key, info *hashing.Info, v Verified, done func(error)) {
	s.writes.Add(1)
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		<-s.open
		done(s.memStore.Put(context.Background(), k, info, v))
	}()
}

// In a cluster as alone, a verified answer is served before it is
// durable: the waiters and Caps have it while the commit is held, Flush
// waits for the commit, and the lookup ends once it is done.
func TestClusterAnswerBeforeCommit(t *testing.T) {
	p := newPeers()
	store := newCommitGate()
	r, err := Start(Config{Debounce: -1, LookupIdle: 50 * time.Millisecond}, Ports{Store: store, Querier: p, Cluster: &loneCluster{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	// Runs before Close: a failed check must not leave Close waiting on
	// a held write.
	t.Cleanup(store.release)
	_, k, node := client(t, "gajim", p)
	// The answer crosses the wire encoding: it is a copy, checked by
	// what it hashes to.
	right := func(got *hashing.Info) bool {
		_, err := hashing.Verify(k, got, hashing.Options{})
		return got != nil && err == nil
	}
	const jid = "juliet@example.org/balcony"
	if err := r.Ingest(waitCtx(t), presence(jid, node, k)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := r.WaitKey(ctx, k); err != nil || !right(got) {
		t.Fatalf("WaitKey with the commit held = %v, %v; want the answer", got, err)
	}
	if _, got, err := r.Caps(jid); err != nil || !right(got) {
		t.Errorf("Caps with the commit held = %v, %v", got, err)
	}
	if r.Counters().ClusterRequests.Load() == 0 {
		t.Fatal("the answer did not come through the owner")
	}
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	if err := r.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush with the commit held = %v, want it to wait", err)
	}
	if n := r.Gauges().LiveLookups; n != 1 {
		t.Errorf("%d live lookups while the answer is being committed, want 1", n)
	}
	store.release()
	if err := r.Flush(waitCtx(t)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got, err := store.memStore.Get(k); err != nil || !right(got) {
		t.Errorf("stored: %v, %v", got, err)
	}
	until(t, "the lookup to end", func() bool { return r.Gauges().LiveLookups == 0 })
	store.pending.Wait()
	if q := p.total.Load(); q != 1 {
		t.Errorf("%d queries, want 1", q)
	}
	// The owner's query ran on this member, whose lookup stores the
	// answer the owner sends it: once, not by the query as well.
	if n := store.writes.Load(); n != 1 {
		t.Errorf("the answer was written %d times, want 1", n)
	}
}
