package cluster

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"
)

// ownerLookup is the cluster's identity lookup: where a key's owner lives,
// and its activation there. It places owners as protoactor's disthash
// does (rendezvous hashing over the members, an activation request to the
// owning member's "partition-activator" actor, which spawns the owner
// once), so a key's owner is the member disthash would pick (the cluster
// tests place keys with protoactor's Rendezvous). It differs where
// disthash's costs grow with what was ever seen or with the number of
// members:
//
//   - An owner's end is not broadcast. disthash sends ActivationTerminated
//     to every member each time an owner passivates, N messages for every
//     key a cluster of N resolves, which no receiver acts on (a member
//     drops a cached owner PID once its request ended: Member.Request).
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
	started atomic.Bool // Setup has run
}

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
		return &activator{p: p, byKey: map[string]*actor.PID{}, byPID: map[string]*cluster.ClusterIdentity{}}
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
// member is asked for, as its children, and knows them while they live.
type activator struct {
	p     *ownerLookup
	byKey map[string]*actor.PID               // ClusterIdentity.AsKey() → owner
	byPID map[string]*cluster.ClusterIdentity // owner's PID.Id → its identity
}

func (a *activator) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ActivationRequest:
		ctx.Respond(&cluster.ActivationResponse{Pid: a.activate(ctx, m.ClusterIdentity)})
	case *actor.Terminated:
		if id, ok := a.byPID[m.Who.Id]; ok {
			delete(a.byPID, m.Who.Id)
			delete(a.byKey, id.AsKey())
			if k := a.p.c.GetClusterKind(id.Kind); k != nil {
				k.Dec()
			}
		}
	case *cluster.ClusterTopology:
		// An owner whose key another member owns now ends after the
		// messages it holds, and the key's next request activates it
		// there. It stays known until it has ended, so that a request
		// sent on the old membership meanwhile reaches it rather than
		// a second owner of its key.
		ring := a.p.ring.Load()
		self := ctx.ActorSystem().Address()
		for _, pid := range a.byKey {
			if id := a.byPID[pid.Id]; id != nil && ring.GetByClusterIdentity(id) != self {
				ctx.Poison(pid)
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

// activate is id's owner on this member, spawned if it is not live. It is
// nil if id's kind is not one this member runs.
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
	a.byPID[pid.Id] = id
	return pid
}
