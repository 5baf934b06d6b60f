package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/capsengine/capsengine/actors"
	"github.com/capsengine/capsengine/cluster/internal/placementpb"
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
	return loneMemberOf(t, ol, actor.PropsFromProducer(func() actor.Actor { return grain{} }))
}

// loneMemberOf is loneMember with owners of props.
func loneMemberOf(t *testing.T, ol *ownerLookup, props *actor.Props) *cluster.Cluster {
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
		cluster.WithKinds(cluster.NewKind(kind, props))))
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

// counter is an owner that keeps the placement actor's handshake, as the
// engine's do: it answers every request with its PID's Id and how many
// requests it has had, and on "idle" (or "idle-stale", which claims one
// request fewer) asks its parent to end it.
type counter struct{ n uint64 }

func (c *counter) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*wrapperspb.StringValue)
	if !ok {
		return
	}
	c.n++
	switch m.GetValue() {
	case "idle":
		ctx.Request(ctx.Parent(), &actors.OwnerIdle{Received: c.n})
	case "idle-stale":
		ctx.Request(ctx.Parent(), &actors.OwnerIdle{Received: c.n - 1})
	}
	ctx.Respond(wrapperspb.String(fmt.Sprintf("%s %d", ctx.Self().Id, c.n)))
}

// forwardingMember is a one-member cluster whose owners are counters, and
// the Member that sends its requests.
func forwardingMember(t *testing.T) (*Member, *cluster.Cluster) {
	t.Helper()
	ol := newOwnerLookup(5 * time.Second)
	c := loneMemberOf(t, ol, actor.PropsFromProducer(func() actor.Actor { return &counter{} }))
	return &Member{owners: ol, c: c, system: c.ActorSystem, cfg: Config{RequestTimeout: 5 * time.Second}}, c
}

// A request goes to the owning member's placement actor, which hands it
// to the key's one owner; the owner's answer comes back directly.
func TestForwardReachesOneOwner(t *testing.T) {
	m, _ := forwardingMember(t)
	ask := func(identity, msg string) (pid string, n int) {
		t.Helper()
		v, err := m.Request(context.Background(), identity, kind, wrapperspb.String(msg))
		if err != nil {
			t.Fatalf("request %s %s: %v", identity, msg, err)
		}
		s, ok := v.(*wrapperspb.StringValue)
		if !ok {
			t.Fatalf("request %s: answer %T", identity, v)
		}
		if _, err := fmt.Sscanf(s.GetValue(), "%s %d", &pid, &n); err != nil {
			t.Fatalf("answer %q: %v", s.GetValue(), err)
		}
		return pid, n
	}
	a1, n1 := ask("a", "hello")
	a2, n2 := ask("a", "hello")
	b1, _ := ask("b", "hello")
	if a1 != a2 || n1 != 1 || n2 != 2 {
		t.Fatalf("two requests for one key: owners %s (request %d), %s (request %d); want one owner, counting", a1, n1, a2, n2)
	}
	if a1 == b1 {
		t.Fatalf("keys a and b share owner %s", a1)
	}
	if got := m.PlacedOwners(); got != 2 {
		t.Fatalf("%d owners placed, want 2", got)
	}

	// An owner that asks to end with a stale count (a request was
	// handed to it after it counted) stays, and answers.
	a3, n3 := ask("a", "idle-stale")
	if a3 != a1 || n3 != 3 {
		t.Fatalf("after idle-stale: owner %s request %d, want %s 3", a3, n3, a1)
	}
	if a4, n4 := ask("a", "hello"); a4 != a1 || n4 != 4 {
		t.Fatalf("the owner that asked to end with a stale count was ended: now %s request %d", a4, n4)
	}

	// One whose count is current is ended and forgotten; the key's next
	// request activates a new owner.
	ask("a", "idle")
	ask("b", "idle")
	if !waitFor(10*time.Second, func() bool { return m.PlacedOwners() == 0 }) {
		t.Fatalf("%d owners placed after both asked to end, want 0", m.PlacedOwners())
	}
	if a5, n5 := ask("a", "hello"); a5 == a1 || n5 != 1 {
		t.Fatalf("after its owner ended, key a went to %s (request %d); want a new owner", a5, n5)
	}
}

// A request a member does not own under its own view of the membership,
// or of another placement version, is refused, not activated: the
// sender asks again once the views agree.
func TestForwardRefused(t *testing.T) {
	m, c := forwardingMember(t)
	self := c.MemberList.Members().Members()
	other := &cluster.Member{Id: "other", Host: "127.0.0.1", Port: 1, Kinds: []string{kind}}
	m.owners.setMembers(append(slices.Clone(self), other))
	var theirs, mine string
	for i := 0; theirs == "" || mine == ""; i++ {
		switch id := fmt.Sprintf("k%d", i); m.owners.ownerOf(id, kind) {
		case other.Address():
			theirs = id
		case c.ActorSystem.Address():
			mine = id
		}
	}
	own := actor.NewPID(c.ActorSystem.Address(), activatorName)
	body, err := anypb.New(wrapperspb.String("hello"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*placementpb.Forward{
		{Version: placementVersion, Identity: theirs, Kind: kind, Message: body},
		{Version: placementVersion + 1, Identity: "mine", Kind: kind, Message: body},
	} {
		v, err := c.ActorSystem.Root.RequestFuture(own, f, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := v.(*placementpb.Refused); !ok {
			t.Errorf("forward of %s, version %d: answer %v, want Refused", f.Identity, f.Version, v)
		}
	}
	// Nor is a Forward without a sender to answer.
	c.ActorSystem.Root.Send(own, &placementpb.Forward{Version: placementVersion, Identity: mine, Kind: kind, Message: body})
	if _, err := c.ActorSystem.Root.RequestFuture(own, &placementpb.Forward{Version: 0}, 5*time.Second).Result(); err != nil {
		t.Fatal(err) // answered after the one before: the activator handled it
	}
	if got := m.PlacedOwners(); got != 0 {
		t.Errorf("%d owners activated by refused requests", got)
	}
}
