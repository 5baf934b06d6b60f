// Package cluster runs a capsengine engine as one member of a protoactor
// cluster, so that a key announced on every member is still queried once:
// each unknown key has an owner among the members (a virtual actor placed
// by consistent hashing), and every verified entry reaches every member's
// store.
//
// It is a package of its own so that an engine that runs alone does not
// carry protoactor's cluster, its gRPC remote, and the membership
// providers' clients. Pass a Member to capsengine.Config.Cluster:
//
//	eng, err := capsengine.Open(ctx, capsengine.Config{
//		DataDir: dir, Querier: q,
//		Cluster: cluster.New(cluster.Config{Name: "caps", Bind: "10.0.0.1:7000",
//			Seeds: []string{"10.0.0.1:7001", "10.0.0.2:7001"}}),
//	})
//
// A Member joins once: it cannot be given to a second engine.
package cluster

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/labstack/echo"

	"github.com/capsengine/capsengine/actors"
)

// Config configures a member. Membership uses protoactor's automanaged
// provider unless Provider says otherwise: every member serves an HTTP
// health endpoint on AutoManPort (bound to 0.0.0.0, a protoactor
// limitation) and polls the Seeds.
type Config struct {
	// Name is the cluster's name; members with another name are ignored.
	// Required.
	Name string `json:"name"`
	// Bind is host:port of this member's remote endpoint (gRPC). The host
	// is also what the other members dial, so it must be reachable from
	// them (127.0.0.1 for a single machine). Required; port 0 is not
	// supported (the provider announces the configured port).
	Bind string `json:"bind"`
	// Advertise is the host:port the other members dial when it differs
	// from Bind (Bind 0.0.0.0:7000 in a container, Advertise its
	// address). Default: Bind.
	Advertise string `json:"advertise,omitempty"`
	// Provider replaces the automanaged membership with another
	// protoactor provider (consul, etcd, Kubernetes, ZooKeeper; see
	// docs/cluster.md); AutoManPort, Seeds and RefreshTTL are then
	// ignored. Nil: automanaged.
	Provider cluster.ClusterProvider `json:"-"`
	// AutoManPort is this member's automanaged health port. Default: the
	// Bind port + 1.
	AutoManPort int `json:"automan_port,omitempty"`
	// Seeds are the automanaged host:port of every member, this one
	// included. A member not listed is never seen by the others.
	Seeds []string `json:"seeds,omitempty"`
	// RefreshTTL is how often the provider polls the seeds. Default 1s.
	RefreshTTL time.Duration `json:"refresh_ttl,omitempty"`
	// RequestTimeout bounds one request to a key's owner, the query it
	// may run included. Default 2 × the engine's QueryTimeout + 5s. A
	// request that times out (the owner died) is retried on the new
	// owner, up to the engine's LookupTimeout in all.
	RequestTimeout time.Duration `json:"request_timeout,omitempty"`
	// ProbeTimeout bounds how long a key's new owner waits for the other
	// members to say whether they already hold the entry before it
	// queries. Default 500ms.
	ProbeTimeout time.Duration `json:"probe_timeout,omitempty"`
	// WriterQueue is the remote send queue per peer, in messages. Default
	// 4096 (protoactor's default pre-allocates ~16 MB per peer).
	WriterQueue int `json:"writer_queue,omitempty"`
	// JoinTimeout bounds joining the cluster in Open. Default 30s.
	JoinTimeout time.Duration `json:"join_timeout,omitempty"`
}

// Member is one engine's membership of a cluster; it implements
// actors.Cluster.
type Member struct {
	cfg  Config
	host string
	port int

	mu     sync.Mutex
	c      *cluster.Cluster // set by Join
	system *actor.ActorSystem
	joined bool

	past    history
	owners  *ownerLookup
	present presence
}

// New makes a member of the cluster c describes. Its settings are checked
// when the engine joins (Open).
func New(c Config) *Member { return &Member{cfg: c} }

var _ actors.Cluster = (*Member)(nil)

func (m *Member) setDefaults(queryTimeout time.Duration) error {
	c := &m.cfg
	if c.Name == "" {
		return errors.New("cluster: Config.Name is required")
	}
	h, p, err := net.SplitHostPort(c.Bind)
	if err != nil {
		return fmt.Errorf("cluster: Config.Bind: %w", err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return fmt.Errorf("cluster: Config.Bind: bad port %q", p)
	}
	m.host, m.port = h, port
	if c.AutoManPort <= 0 {
		c.AutoManPort = port + 1
	}
	if c.RefreshTTL <= 0 {
		c.RefreshTTL = time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 2*queryTimeout + 5*time.Second
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
	if c.Provider == nil && len(c.Seeds) == 0 {
		return errors.New("cluster: Config.Seeds is required without a Provider")
	}
	return nil
}

// Join starts remote, the membership and the owner kind on j.System, and
// returns once this member has joined (about 1 s: protoactor's
// StartMember). It is called by the engine.
func (m *Member) Join(j actors.Joining) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.joined {
		return errors.New("cluster: this Member has joined already: give each engine its own")
	}
	m.joined = true
	if err := m.setDefaults(j.QueryTimeout); err != nil {
		return err
	}
	cc := &m.cfg
	// protoactor panics (remote) or only logs (automanaged) when a port
	// is taken: check both first, so that Open fails with an error.
	for _, addr := range []string{cc.Bind, fmt.Sprintf(":%d", cc.AutoManPort)} {
		if cc.Provider != nil && addr != cc.Bind {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		l.Close()
	}
	kind := cluster.NewKind(j.Kind, j.Owner)
	m.owners = newOwnerLookup(activationTimeout)
	ropts := []remote.ConfigOption{remote.WithEndpointWriterQueueSize(cc.WriterQueue)}
	if cc.Advertise != "" {
		ropts = append(ropts, remote.WithAdvertisedHost(cc.Advertise))
	}
	rcfg := remote.Configure(m.host, m.port, ropts...)
	provider := cc.Provider
	if provider == nil {
		provider = automanaged.NewWithTesting(cc.RefreshTTL, cc.AutoManPort, m.healthServer(), cc.Seeds...)
	}
	ccfg := cluster.Configure(cc.Name, provider, m.owners, rcfg,
		cluster.WithKinds(kind),
		cluster.WithRequestTimeout(cc.RequestTimeout))
	m.system = j.System
	m.c = cluster.New(j.System, ccfg)
	// protoactor's MemberList is read without its lock elsewhere (a data
	// race under -race): the engine keeps its own copy of the member
	// addresses, taken on the goroutine that publishes each topology.
	j.System.EventStream.Subscribe(func(evt any) {
		if t, ok := evt.(*cluster.ClusterTopology); ok {
			m.past.observe(j.System.Address(), t.Members)
			addrs := make([]string, 0, len(t.Members))
			for _, mb := range t.Members {
				addrs = append(addrs, mb.Address())
			}
			m.present.update(addrs)
			j.Topology(addrs)
		}
	})
	return startMember(m.c, cc.JoinTimeout)
}

// activationTimeout bounds ownerLookup.Get, protoactor's way to find (or
// start) a key's owner on its member, as disthash's did: a map lookup and
// maybe a spawn there. The engine's requests do not use it (Request).
const activationTimeout = 5 * time.Second

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
				done <- fmt.Errorf("cluster: joining failed: %v", p)
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
		return fmt.Errorf("cluster: joining did not end within %v (is the membership provider reachable?)", timeout)
	}
}

// healthServer is the automanaged provider's HTTP endpoint, built here
// rather than by the provider: the provider's own prints "http server
// started" to stdout (echo's default), which breaks a command's JSON
// output. It answers what the provider's would. (The provider takes an
// *echo.Echo: net/http cannot stand in for it.)
func (m *Member) healthServer() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.GET("/_health", func(ec echo.Context) error {
		m.mu.Lock()
		c, system := m.c, m.system
		m.mu.Unlock()
		if c == nil || system == nil {
			return ec.NoContent(http.StatusServiceUnavailable)
		}
		host, port, err := system.GetHostPort()
		if err != nil {
			return ec.NoContent(http.StatusServiceUnavailable)
		}
		return ec.JSON(http.StatusOK, automanaged.NewNode(m.cfg.Name, system.ID, host, port, m.cfg.AutoManPort, c.GetClusterKinds()))
	})
	return e
}

// PlacedOwners is the number of owners this member's placement actor
// knows: the live ones, and those ending.
func (m *Member) PlacedOwners() int { return int(m.owners.placed.Load()) }

// PastOwners are the members that owned identity under the memberships
// this member saw before the current one (newest first), computed with
// protoactor's own placement; see actors.Cluster.
func (m *Member) PastOwners(identity, kind string) []string {
	return m.past.pastOwners(identity, kind)
}

// Config is the member's configuration, with its defaults once joined.
func (m *Member) Config() Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// RequestTimeout is Config.RequestTimeout, defaulted.
func (m *Member) RequestTimeout() time.Duration { return m.cfg.RequestTimeout }

// ProbeTimeout is Config.ProbeTimeout, defaulted.
func (m *Member) ProbeTimeout() time.Duration { return m.cfg.ProbeTimeout }

// Leave shuts this member down. protoactor's remote can panic while
// stopping ("send on closed channel" in its endpoint manager, seen when
// several members shut down at once): by then every entry is stored and
// every waiter answered, so the panic is returned, not passed on to the
// host program's Close.
func (m *Member) Leave() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cluster: protoactor panicked while leaving: %v", p)
		}
	}()
	m.c.Shutdown(true)
	return nil
}
