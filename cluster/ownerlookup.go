package cluster

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"

	"github.com/capsengine/capsengine/actors"
	"github.com/capsengine/capsengine/cluster/internal/placementpb"
)

// ownerLookup is the cluster's identity lookup: where a key's owner lives,
// and its activation there. It places owners as protoactor's disthash
// does (rendezvous hashing over the members; the owning member's
// "partition-activator" actor spawns the owner once), so a key's owner is
// the member disthash would pick (the cluster tests place keys with
// protoactor's Rendezvous). It differs where disthash costs a round trip
// per request, or costs that grow with what was ever seen or with the
// number of members:
//
//   - A request goes to the owning member's activator, which hands it to
//     the owner (Member.Request): disthash first asks the activator for
//     the owner's PID, a round trip more for every key a member asks of
//     another, and protoactor then keeps that PID, for as long as the
//     owner's member stays, in a cache nothing clears when the owner
//     passivates.
//   - An owner's end is not broadcast. disthash sends ActivationTerminated
//     to every member each time an owner passivates, N messages for every
//     key a cluster of N resolves, which no receiver acts on.
//   - The placement actor finds an ended owner by its PID in a map, where
//     disthash scans every live owner.
//   - The member ring is replaced atomically. disthash swaps it while
//     requests read it, a data race the race detector reports when a
//     request meets a membership change.
type ownerLookup struct {
	c       *cluster.Cluster
	ring    atomic.Pointer[cluster.Rendezvous]
	timeout time.Duration
	pid     *actor.PID
	sub     *eventstream.Subscription
	stop    sync.Once
	started atomic.Bool  // Setup has run
	placed  atomic.Int64 // owners the activator knows, ending ones included
}

// placementVersion is the version of the Forward messages this member
// sends and the only one its activator takes. Members before version 1
// cannot read a Forward, which goes unanswered; they also speak an older
// wire version, which this one refuses: a cluster is upgraded as a whole.
const placementVersion = 1

// activatorName is the placement actor's name on every member, disthash's.
const activatorName = "partition-activator"

func newOwnerLookup(activationTimeout time.Duration) *ownerLookup {
	p := &ownerLookup{timeout: activationTimeout}
	p.ring.Store(cluster.NewRendezvous())
	return p
}

var _ cluster.IdentityLookup = (*ownerLookup)(nil)

// Setup starts the placement actor and follows the membership.
func (p *ownerLookup) Setup(c *cluster.Cluster, _ []string, _ bool) {
	p.c = c
	sys := c.ActorSystem
	props := actor.PropsFromProducer(func() actor.Actor {
		return &activator{p: p, byKey: map[string]*actor.PID{}, byPID: map[string]*placed{}}
	})
	p.pid, _ = sys.Root.SpawnNamed(props, activatorName)
	p.started.Store(true)
	p.sub = sys.EventStream.Subscribe(func(ev any) {
		if t, ok := ev.(*cluster.ClusterTopology); ok {
			p.setMembers(t.Members)
			sys.Root.Send(p.pid, t)
		}
	})
}

// setMembers places owners over ms from now on. Requests under way keep
// the ring they read.
func (p *ownerLookup) setMembers(ms cluster.Members) {
	r := cluster.NewRendezvous()
	r.UpdateMembers(ms)
	p.ring.Store(r)
}

// Shutdown stops following the membership and ends the owners. protoactor
// calls it twice when a member leaves gracefully.
func (p *ownerLookup) Shutdown() {
	if !p.started.Load() {
		return // the member never got as far as Setup
	}
	p.stop.Do(func() {
		sys := p.c.ActorSystem
		sys.EventStream.Unsubscribe(p.sub)
		_ = sys.Root.PoisonFuture(p.pid).Wait()
	})
}

// ownerOf is the member that owns identity under this member's view of
// the membership; "" while it sees no member.
func (p *ownerLookup) ownerOf(identity, kind string) string {
	return p.ring.Load().GetByClusterIdentity(cluster.NewClusterIdentity(identity, kind))
}

// Get is the PID of id's owner, activated on its member if it was not
// live; nil if no member can own it or its member did not answer.
func (p *ownerLookup) Get(id *cluster.ClusterIdentity) *actor.PID {
	owner := p.ring.Load().GetByClusterIdentity(id)
	if owner == "" {
		return nil
	}
	f := p.c.ActorSystem.Root.RequestFuture(actor.NewPID(owner, activatorName),
		&cluster.ActivationRequest{ClusterIdentity: id}, p.timeout)
	res, err := f.Result()
	if err != nil {
		return nil
	}
	r, ok := res.(*cluster.ActivationResponse)
	if !ok {
		return nil
	}
	return r.Pid
}

// RemovePid is protoactor's notice that pid, id's owner, is gone. Nothing
// here holds it: the activator learnt of the end from its child.
func (p *ownerLookup) RemovePid(*cluster.ClusterIdentity, *actor.PID) {}

// activator is one member's placement actor: it spawns the owners this
// member is asked for, as its children, hands them the requests
// forwarded to it, and knows them while they live.
//
// An idle owner does not end itself: it asks the activator (OwnerIdle),
// which ends it only if it was handed nothing since (the seen-count
// handshake the engine's router runs with its lookups). A request the
// activator handed over before that is in the owner's mailbox ahead of
// its end and answered; one after it activates a new owner. An owner that
// ended itself could drop a request already on its way: protoactor
// discards a stopped actor's messages, and the requester would wait out
// RequestTimeout.
type activator struct {
	p     *ownerLookup
	byKey map[string]*actor.PID // ClusterIdentity.AsKey() → live owner
	byPID map[string]*placed    // owner's PID.Id → what the activator knows of it
}

// placed is one owner of this member.
type placed struct {
	id        *cluster.ClusterIdentity
	forwarded uint64 // requests handed to it
	ending    bool   // poisoned: no longer handed requests
}

func (a *activator) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *placementpb.Forward:
		a.forward(ctx, m)
	case *cluster.ActivationRequest:
		// protoactor's own cluster request (Get, above) finds the
		// owner first and asks it directly. The engine does not use it.
		ctx.Respond(&cluster.ActivationResponse{Pid: a.activate(ctx, m.ClusterIdentity)})
	case *actors.OwnerIdle:
		if ctx.Sender() == nil {
			return
		}
		if o := a.byPID[ctx.Sender().Id]; o != nil && !o.ending && m.Received >= o.forwarded {
			a.end(ctx, ctx.Sender())
		}
	case *actor.Terminated:
		if o, ok := a.byPID[m.Who.Id]; ok {
			delete(a.byPID, m.Who.Id)
			if pid := a.byKey[o.id.AsKey()]; pid != nil && pid.Id == m.Who.Id {
				delete(a.byKey, o.id.AsKey())
			}
			if k := a.p.c.GetClusterKind(o.id.Kind); k != nil {
				k.Dec()
			}
			a.p.placed.Store(int64(len(a.byPID)))
		}
	case *cluster.ClusterTopology:
		// An owner whose key another member owns now ends after the
		// messages it holds; a request for its key that reaches this
		// member from then on is refused, and its sender finds the
		// key's new owner.
		ring := a.p.ring.Load()
		self := ctx.ActorSystem().Address()
		for _, pid := range a.byKey {
			if o := a.byPID[pid.Id]; o != nil && ring.GetByClusterIdentity(o.id) != self {
				a.end(ctx, pid)
			}
		}
	case *actor.Stopping:
		// Owners end after the messages they hold, not in the middle.
		fs := make([]*actor.Future, 0, len(a.byKey))
		for _, pid := range a.byKey {
			fs = append(fs, ctx.PoisonFuture(pid))
		}
		for _, f := range fs {
			_ = f.Wait()
		}
	}
}

// forward hands m's message to its owner, with m's sender as the sender
// to answer, or answers Refused.
func (a *activator) forward(ctx actor.Context, m *placementpb.Forward) {
	if ctx.Sender() == nil {
		return // nobody to answer: the owner would have no one to tell
	}
	refuse := func(format string, args ...any) {
		ctx.Respond(&placementpb.Refused{Reason: fmt.Sprintf(format, args...)})
	}
	if m.GetVersion() != placementVersion {
		refuse("placement version %d, this member speaks %d", m.GetVersion(), placementVersion)
		return
	}
	id := cluster.NewClusterIdentity(m.GetIdentity(), m.GetKind())
	if owner := a.p.ring.Load().GetByClusterIdentity(id); owner != ctx.ActorSystem().Address() {
		// The sender placed the key by another membership than this
		// member's; one of them is about to learn the new one.
		refuse("%s is owned by %q here", m.GetIdentity(), owner)
		return
	}
	msg, err := m.GetMessage().UnmarshalNew()
	if err != nil {
		refuse("%v", err)
		return
	}
	pid := a.activate(ctx, id)
	if pid == nil {
		refuse("no kind %q on this member", m.GetKind())
		return
	}
	a.byPID[pid.Id].forwarded++
	ctx.RequestWithCustomSender(pid, msg, ctx.Sender())
}

// activate is id's owner on this member, spawned if it is not live (or
// ending). It is nil if id's kind is not one this member runs.
func (a *activator) activate(ctx actor.Context, id *cluster.ClusterIdentity) *actor.PID {
	key := id.AsKey()
	if pid, ok := a.byKey[key]; ok {
		return pid
	}
	kind := a.p.c.GetClusterKind(id.Kind)
	if kind == nil {
		ctx.Logger().Error("capsengine: activation of an unknown kind", "kind", id.Kind)
		return nil
	}
	pid := ctx.SpawnPrefix(cluster.WithClusterIdentity(kind.Props, id), id.Identity)
	kind.Inc()
	a.byKey[key] = pid
	a.byPID[pid.Id] = &placed{id: id}
	a.p.placed.Store(int64(len(a.byPID)))
	return pid
}

// end poisons owner pid: it ends once it has handled what it holds, and
// is handed nothing more.
func (a *activator) end(ctx actor.Context, pid *actor.PID) {
	o := a.byPID[pid.Id]
	if o == nil || o.ending {
		return
	}
	o.ending = true
	if cur := a.byKey[o.id.AsKey()]; cur != nil && cur.Id == pid.Id {
		delete(a.byKey, o.id.AsKey())
	}
	ctx.Poison(pid)
}
