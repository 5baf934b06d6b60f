package actors

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/capsengine/capsengine/internal/supervise"
	"github.com/labstack/echo"
)

// ClusterConfig runs the engine as one member of a protoactor cluster: the
// key's owner (a virtual actor of kind OwnerKind, placed by consistent
// hashing over the members) deduplicates lookups across every member, so a
// key announced on every node is still queried once.
//
// Membership uses protoactor's automanaged provider: every member serves
// an HTTP health endpoint on AutoManPort (bound to 0.0.0.0, a protoactor
// limitation) and polls the Seeds.
type ClusterConfig struct {
	// Name is the cluster's name; members with another name are ignored.
	// Required.
	Name string
	// Bind is host:port of this member's remote endpoint (gRPC). The host
	// is also what the other members dial, so it must be reachable from
	// them (127.0.0.1 for a single machine). Required; port 0 is not
	// supported (the provider announces the configured port).
	Bind string
	// Advertise is the host:port the other members dial when it differs
	// from Bind (Bind 0.0.0.0:7000 in a container, Advertise its
	// address). Default: Bind.
	Advertise string
	// Provider replaces the automanaged membership with another
	// protoactor provider (consul, etcd, Kubernetes, ZooKeeper; see
	// docs/cluster.md); AutoManPort, Seeds and RefreshTTL are then
	// ignored. Nil: automanaged.
	Provider cluster.ClusterProvider
	// AutoManPort is this member's automanaged health port. Default: the
	// Bind port + 1.
	AutoManPort int
	// Seeds are the automanaged host:port of every member, this one
	// included. A member not listed is never seen by the others.
	Seeds []string
	// RefreshTTL is how often the provider polls the seeds. Default 1s.
	RefreshTTL time.Duration
	// RequestTimeout bounds one request to a key's owner, the query it
	// may run included. Default 2 × Config.QueryTimeout + 5s. A request that
	// times out (the owner died) is retried on the new owner, up to
	// Config.LookupTimeout in all.
	RequestTimeout time.Duration
	// ProbeTimeout bounds how long a key's new owner waits for the other
	// members to say whether they already hold the entry before it
	// queries. Default 500ms.
	ProbeTimeout time.Duration
	// WriterQueue is the remote send queue per peer, in messages. Default
	// 4096 (protoactor's default pre-allocates ~16 MB per peer).
	WriterQueue int
	// JoinTimeout bounds joining the cluster in Open. Default 30s.
	JoinTimeout time.Duration
}

// Names the cluster registers.
const (
	// OwnerKind is the cluster kind of the per-key owners (ownerActor,
	// cluster_owner.go). The value predates the name: members find each
	// other's owners by it, so it stays.
	OwnerKind = "capsengine-lookup"
	// The three named actors every member runs (cluster_members.go): the
	// querier asks this member's announcers for owners, the cache takes
	// other members' verified entries, the probe answers a new owner's
	// "do you have it?".
	querierName = "capsengine-querier"
	cacheName   = "capsengine-cache"
	probeName   = "capsengine-probe"
)

// ErrClusterUnavailable: the key's owner could not be reached within
// ClusterConfig.RequestTimeout (a member died or the cluster is
// re-forming). The lookup goes on with its next announcer.
var ErrClusterUnavailable = errors.New("actors: cluster owner unreachable")

func (c *ClusterConfig) setDefaults(cfg *Config) (host string, port int, err error) {
	if c.Name == "" {
		return "", 0, errors.New("actors: ClusterConfig.Name is required")
	}
	h, p, err := net.SplitHostPort(c.Bind)
	if err != nil {
		return "", 0, fmt.Errorf("actors: ClusterConfig.Bind: %w", err)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("actors: ClusterConfig.Bind: bad port %q", p)
	}
	if c.AutoManPort <= 0 {
		c.AutoManPort = port + 1
	}
	if c.RefreshTTL <= 0 {
		c.RefreshTTL = time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 2*cfg.QueryTimeout + 5*time.Second
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 500 * time.Millisecond
	}
	if c.WriterQueue <= 0 {
		c.WriterQueue = 4096
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = 30 * time.Second
	}
	return h, port, nil
}

// startCluster joins the cluster: remote, provider, the owner kind, and
// this member's querier and cache actors. It blocks about 1 s
// (protoactor's StartMember).
func startCluster(d *core) error {
	cc := *d.cfg.Cluster
	host, port, err := cc.setDefaults(&d.cfg)
	if err != nil {
		return err
	}
	d.cfg.Cluster = &cc
	// protoactor panics (remote) or only logs (automanaged) when a port
	// is taken: check both first, so that Open fails with an error.
	for _, addr := range []string{cc.Bind, fmt.Sprintf(":%d", cc.AutoManPort)} {
		if cc.Provider != nil && addr != cc.Bind {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("actors: cluster: %w", err)
		}
		l.Close()
	}
	// Owners are supervised by protoactor's activator; they recover their
	// own panics. The member actors are root actors: their guardian.
	sup := actor.WithGuardian(supervise.Strategy(d.cfg.Logger, "actors"))
	kind := cluster.NewKind(OwnerKind, actor.PropsFromProducer(func() actor.Actor {
		return &ownerActor{d: d}
	}))
	ropts := []remote.ConfigOption{remote.WithEndpointWriterQueueSize(cc.WriterQueue)}
	if cc.Advertise != "" {
		ropts = append(ropts, remote.WithAdvertisedHost(cc.Advertise))
	}
	rcfg := remote.Configure(host, port, ropts...)
	provider := cc.Provider
	if provider == nil {
		if len(cc.Seeds) == 0 {
			return errors.New("actors: ClusterConfig.Seeds is required without a Provider")
		}
		provider = automanaged.NewWithTesting(cc.RefreshTTL, cc.AutoManPort, healthServer(d, &cc), cc.Seeds...)
	}
	ccfg := cluster.Configure(cc.Name, provider, disthash.New(), rcfg,
		cluster.WithKinds(kind),
		cluster.WithRequestTimeout(cc.RequestTimeout))
	c := cluster.New(d.system, ccfg)
	root := d.system.Root
	if _, err := root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &querierActor{d: d} }, sup), querierName); err != nil {
		return fmt.Errorf("actors: cluster: %w", err)
	}
	if _, err := root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &cacheActor{d: d} }, sup), cacheName); err != nil {
		return fmt.Errorf("actors: cluster: %w", err)
	}
	if _, err := root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &probeActor{d: d} }, sup), probeName); err != nil {
		return fmt.Errorf("actors: cluster: %w", err)
	}
	// Set before StartMember starts the goroutines that read it.
	d.cluster = c
	// protoactor's MemberList is read without its lock elsewhere (a data
	// race under -race): the engine keeps its own copy of the member
	// addresses, taken on the goroutine that publishes each topology.
	d.system.EventStream.Subscribe(func(evt any) {
		if t, ok := evt.(*cluster.ClusterTopology); ok {
			addrs := make([]string, 0, len(t.Members))
			for _, m := range t.Members {
				addrs = append(addrs, m.Address())
			}
			d.members.Store(&addrs)
			if len(t.Left) > 0 {
				d.departures.Add(1)
			}
		}
	})
	return startMember(c, cc.JoinTimeout)
}

// startMember joins the cluster, within timeout. protoactor panics when
// the provider fails to start, and some providers block instead (etcd's
// first read retries forever): either is an error of Open, not a crash
// or a hang of the host program. A join that does not end in time is
// left behind on its goroutine.
func startMember(c *cluster.Cluster, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				c.Remote.Shutdown(false)
				done <- fmt.Errorf("actors: cluster: joining failed: %v", p)
			}
		}()
		c.StartMember()
		done <- nil
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("actors: cluster: joining did not end within %v (is the membership provider reachable?)", timeout)
	}
}

// memberAddrs are the cluster members' addresses as of the last
// topology, this member's included.
func (d *core) memberAddrs() []string {
	if p := d.members.Load(); p != nil {
		return *p
	}
	return nil
}

// healthServer is the automanaged provider's HTTP endpoint, built here
// rather than by the provider: the provider's own prints "http server
// started" to stdout (echo's default), which breaks a command's JSON
// output. It answers what the provider's would.
func healthServer(d *core, cc *ClusterConfig) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.GET("/_health", func(ec echo.Context) error {
		host, port, err := d.system.GetHostPort()
		if err != nil || d.cluster == nil {
			return ec.NoContent(http.StatusServiceUnavailable)
		}
		return ec.JSON(http.StatusOK, automanaged.NewNode(cc.Name, d.system.ID, host, port, cc.AutoManPort, d.cluster.GetClusterKinds()))
	})
	return e
}

// leaveCluster shuts this member down. protoactor's remote can panic
// while stopping ("send on closed channel" in its endpoint manager, seen
// when several members shut down at once): by then every entry is
// stored and every waiter answered, so the panic is logged, not passed on
// to the host program's Close.
func leaveCluster(d *core) {
	defer func() {
		if p := recover(); p != nil {
			d.cfg.Logger.Warn("protoactor panicked while leaving the cluster", "panic", fmt.Sprint(p))
			if !d.system.IsStopped() {
				d.system.Shutdown()
			}
		}
	}()
	d.cluster.Shutdown(true)
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
