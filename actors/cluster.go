package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/capsengine/capsengine/internal/supervise"
)

// Cluster is a cluster membership the engine runs on: package
// github.com/capsengine/capsengine/cluster provides it over protoactor's
// cluster, in a package of its own so that an engine that runs alone
// carries none of it. With one, the key's owner (a virtual actor of kind
// OwnerKind, placed by consistent hashing over the members) deduplicates
// lookups across every member, so a key announced on every node is still
// queried once.
type Cluster interface {
	// Join starts the membership on j.System with the owner kind, and
	// returns once this member has joined.
	Join(j Joining) error
	// Request sends msg to the owner of identity (of kind) and returns
	// its answer, within RequestTimeout; it gives up at once when ctx ends
	// or the member the owner lives on leaves the cluster (a reply cannot
	// come then, and the key has a new owner to ask).
	Request(ctx context.Context, identity, kind string, msg any) (any, error)
	// PastOwners are the members that owned identity under the recent
	// memberships this member saw (the one before it joined first),
	// newest first, without repeats; the current owner is not among them
	// unless it owned the key before too. A new owner asks these, not
	// every member, whether they hold the entry.
	PastOwners(identity, kind string) []string
	// RequestTimeout bounds one request to an owner, its query included.
	RequestTimeout() time.Duration
	// ProbeTimeout bounds how long a new owner waits for the other
	// members to say whether they hold the entry already.
	ProbeTimeout() time.Duration
	// Leave shuts the membership down.
	Leave() error
}

// Joining is what the engine gives its Cluster to join with.
type Joining struct {
	System *actor.ActorSystem
	// Kind and Owner are the owners' cluster kind and props. An idle
	// owner asks its parent to end it (OwnerIdle): the Cluster that
	// spawns owners as children must answer it, or spawn them at the
	// root, where they end themselves.
	Kind  string
	Owner *actor.Props
	// QueryTimeout is the engine's, for the cluster's defaults.
	QueryTimeout time.Duration
	// Topology is called on every change of the membership with the
	// members' addresses, this one's included.
	Topology func(members []string)
}

// Names the cluster registers.
const (
	// OwnerKind is the cluster kind of the per-key owners (ownerActor,
	// cluster_owner.go). The value predates the name: members find each
	// other's owners by it, so it stays.
	OwnerKind = "capsengine-lookup"
	// The two named actors every member runs (cluster_members.go): the
	// cache takes other members' verified entries, the probe answers a
	// new owner's "do you have it?".
	cacheName = "capsengine-cache"
	probeName = "capsengine-probe"
)

// ErrClusterUnavailable: the key's owner could not be reached within
// Cluster.RequestTimeout (a member died or the cluster is
// re-forming). The lookup goes on with its next announcer.
var ErrClusterUnavailable = errors.New("actors: cluster owner unreachable")

// startCluster spawns this member's cache and probe actors and joins the
// cluster.
func startCluster(d *core, c Cluster) error {
	// Owners are supervised by protoactor's activator; they recover their
	// own panics. The member actors are root actors: their guardian.
	sup := actor.WithGuardian(supervise.Strategy(d.log, "actors"))
	root := d.system.Root
	if _, err := root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &cacheActor{d: d} }, sup), cacheName); err != nil {
		return fmt.Errorf("actors: cluster: %w", err)
	}
	if _, err := root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &probeActor{d: d} }, sup), probeName); err != nil {
		return fmt.Errorf("actors: cluster: %w", err)
	}
	// Set before Join starts the goroutines that read it.
	d.cluster = c
	return d.cluster.Join(Joining{
		System:       d.system,
		Kind:         OwnerKind,
		Owner:        actor.PropsFromProducer(func() actor.Actor { return newOwnerActor(d) }),
		QueryTimeout: d.cfg.QueryTimeout,
		Topology:     func(members []string) { d.members.Store(&members) },
	})
}

// memberAddrs are the cluster members' addresses as of the last
// topology, this member's included.
func (d *core) memberAddrs() []string {
	if p := d.members.Load(); p != nil {
		return *p
	}
	return nil
}

// leaveCluster shuts this member down, and the actor system with it. By
// then every entry is stored and every waiter answered: a failure to
// leave is logged, not passed on to the host program's Close.
func leaveCluster(d *core) {
	if err := d.cluster.Leave(); err != nil {
		d.log.Warn("leaving the cluster", "err", err)
	}
	if !d.system.IsStopped() {
		d.system.Shutdown()
	}
}

// ownerIdle is how long an owner with nothing to do stays activated.
func (d *core) ownerIdle() time.Duration {
	if d.cfg.LookupIdle > 0 {
		return d.cfg.LookupIdle
	}
	return 5 * time.Second
}

// ownerPoll is how often an owner waiting for the member running its
// query looks whether that member is still in the cluster: membership
// notices a dead member within about a second (automanaged RefreshTTL).
const ownerPoll = time.Second

// ClusterMembers is the number of members this one sees, itself included;
// 0 when not in cluster mode.
func (r *Runtime) ClusterMembers() int {
	if r.d.cluster == nil {
		return 0
	}
	return len(r.d.memberAddrs())
}
