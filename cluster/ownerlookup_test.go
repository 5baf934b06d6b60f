package cluster

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/capsengine/capsengine/internal/freeport"
)

// grain answers every message with its own PID's Id, and ends after
// answering "end".
type grain struct{}

func (grain) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(string); ok {
		ctx.Respond(ctx.Self().Id)
		if m == "end" {
			ctx.Stop(ctx.Self())
		}
	}
}

// loneMember starts a one-member cluster in this process (protoactor's
// in-memory membership), its grains of kind placed by ol.
func loneMember(t *testing.T, ol *ownerLookup) *cluster.Cluster {
	t.Helper()
	ports, err := freeport.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	provider := test.NewTestProvider(test.NewInMemAgent())
	c := cluster.New(sys, cluster.Configure("ownerlookup", provider, ol,
		remote.Configure("127.0.0.1", ports[0]),
		cluster.WithKinds(cluster.NewKind(kind, actor.PropsFromProducer(func() actor.Actor { return grain{} })))))
	c.StartMember()
	t.Cleanup(func() { c.Shutdown(true) })
	if !waitFor(10*time.Second, func() bool { return ol.ring.Load().GetByClusterIdentity(cluster.NewClusterIdentity("x", kind)) != "" }) {
		t.Fatal("the member never saw itself in the membership")
	}
	return c
}

func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// An owner is activated once while it lives, and forgotten when it ends,
// without a word to the other members: disthash broadcast every end to
// all of them (N messages per key resolved in a cluster of N).
func TestOwnerLookupActivatesOnceForgetsEnded(t *testing.T) {
	ol := newOwnerLookup(5 * time.Second)
	c := loneMember(t, ol)
	var ended atomic.Int64
	sub := c.ActorSystem.EventStream.Subscribe(func(ev any) {
		if _, ok := ev.(*cluster.ActivationTerminated); ok {
			ended.Add(1)
		}
	})
	defer c.ActorSystem.EventStream.Unsubscribe(sub)

	ask := func(identity, msg string) string {
		t.Helper()
		v, err := c.Request(identity, kind, msg, cluster.WithTimeout(5*time.Second))
		if err != nil {
			t.Fatalf("request %s: %v", identity, err)
		}
		return v.(string)
	}
	first := ask("stays", "hello")
	if again := ask("stays", "hello"); again != first {
		t.Fatalf("a live owner was activated twice: %s, then %s", first, again)
	}
	const n = 200
	for i := range n {
		ask(fmt.Sprintf("key%d", i), "end")
	}
	// The activator counts its owners in their kind as disthash did.
	owners := c.GetClusterKind(kind)
	if !waitFor(10*time.Second, func() bool { return owners.Count() == 1 }) {
		t.Fatalf("%d owners live after %d of them ended, want 1", owners.Count(), n)
	}
	// A key whose owner ended is activated anew: the activator forgot
	// the owner, or it would hand out the ended one's PID.
	c.PidCache.Remove("key0", kind)
	if id := ask("key0", "hello"); id == "" {
		t.Fatal("no owner answered for a key whose owner had ended")
	}
	if got := ended.Load(); got != 0 {
		t.Fatalf("%d owner ends were broadcast, want 0", got)
	}
}

// The member ring is swapped while requests read it (disthash's data
// race; run under -race).
func TestOwnerLookupRingSwap(t *testing.T) {
	ol := newOwnerLookup(5 * time.Second)
	c := loneMember(t, ol)
	self := c.MemberList.Members().Members()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if pid := ol.Get(cluster.NewClusterIdentity(fmt.Sprintf("g%d-%d", g, i%50), kind)); pid == nil {
					t.Error("no owner for a key of a one-member cluster")
					return
				}
			}
		}()
	}
	for range 200 {
		ol.setMembers(self)
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
}
