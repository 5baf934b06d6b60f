package actors

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/labstack/echo"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/storage"
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
	// OwnerKind is the cluster kind of the per-key owners.
	OwnerKind = "capsengine-lookup"
	// querierName and cacheName are the per-member named actors.
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
func startCluster(d *deps) error {
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
	sup := actor.WithSupervisor(supervisor(d.cfg.Logger))
	kind := cluster.NewKind(OwnerKind, actor.PropsFromProducer(func() actor.Actor {
		return &ownerActor{d: d}
	}, sup))
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
func (d *deps) memberAddrs() []string {
	if p := d.members.Load(); p != nil {
		return *p
	}
	return nil
}

// healthServer is the automanaged provider's HTTP endpoint, built here
// rather than by the provider: the provider's own prints "http server
// started" to stdout (echo's default), which breaks a command's JSON
// output. It answers what the provider's would.
func healthServer(d *deps, cc *ClusterConfig) *echo.Echo {
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

// Wire messages. There is no protoc here, so each message is a
// wrapperspb.BytesValue, a type every member's protobuf registry resolves
// by name (protoactor's serializer uses google.golang.org/protobuf's
// global registry), holding: a tag byte, a uvarint length and a small JSON
// header, then the disco#info answer if any, in the store's checksummed
// binary entry encoding — JSON for answers cost more CPU than the rest of
// a cross-node lookup put together.
const (
	tagResolve byte = iota + 1 // member → owner: resolve key, my announcer as a fallback
	tagResult                  // owner → member: the verified answer or why not
	tagQuery                   // owner → announcer's member: query this announcer
	tagAnswer                  // announcer's member → owner
	tagEntry                   // owner → every member: a verified entry
	tagProbe                   // new owner → other members: do you have it?
)

type wireKey struct {
	Scheme hashing.Scheme    `json:"s"`
	Alg    hashing.Algorithm `json:"a"`
	Digest []byte            `json:"d"`
}

func toWire(k hashing.Key) wireKey { return wireKey{k.Scheme, k.Alg, k.Digest()} }

func (w wireKey) key() (hashing.Key, error) { return hashing.NewKey(w.Scheme, w.Alg, w.Digest) }

type wireMsg struct {
	Key    wireKey       `json:"k"`
	Others []wireKey     `json:"o,omitempty"`
	JID    string        `json:"j,omitempty"`
	Node   string        `json:"n,omitempty"`
	Origin string        `json:"r,omitempty"` // member address that saw JID
	Seq    uint64        `json:"q,omitempty"`
	Info   *hashing.Info `json:"-"` // after the header, binary
	Err    string        `json:"e,omitempty"`
	Code   int           `json:"c,omitempty"` // see errCode
}

func encode(tag byte, m *wireMsg) *wrapperspb.BytesValue {
	h, err := json.Marshal(m)
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen32+len(h)+256)
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(h)))
	b = append(b, h...)
	if m.Info != nil {
		b = storage.AppendEntry(b, &storage.Entry{Info: *m.Info})
	}
	return &wrapperspb.BytesValue{Value: b}
}

// decode reads a wire message; ok is false for anything else, a
// malformed one included.
func decode(msg any) (tag byte, m *wireMsg, ok bool) {
	bv, isBV := msg.(*wrapperspb.BytesValue)
	if !isBV || len(bv.Value) < 2 {
		return 0, nil, false
	}
	b := bv.Value[1:]
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return 0, nil, false
	}
	m = &wireMsg{}
	if err := json.Unmarshal(b[w:w+int(n)], m); err != nil {
		return 0, nil, false
	}
	if rest := b[w+int(n):]; len(rest) > 0 {
		e, err := storage.DecodeEntry(rest)
		if err != nil {
			return 0, nil, false
		}
		m.Info = &e.Info
	}
	return bv.Value[0], m, true
}

// decodeFor decodes a wire message of kind want and its key; ok is false
// for anything else.
func decodeFor(msg any, want byte) (*wireMsg, hashing.Key, bool) {
	tag, m, ok := decode(msg)
	if !ok || tag != want {
		return nil, hashing.Key{}, false
	}
	k, err := m.Key.key()
	if err != nil {
		return nil, hashing.Key{}, false
	}
	return m, k, true
}

func othersToWire(ks []hashing.Key) []wireKey {
	var out []wireKey
	for _, k := range ks {
		out = append(out, toWire(k))
	}
	return out
}

func othersFromWire(ws []wireKey) []hashing.Key {
	var out []hashing.Key
	for _, w := range ws {
		if k, err := w.key(); err == nil && len(out) < 8 {
			out = append(out, k)
		}
	}
	return out
}

// Error codes on the wire, so that typed errors survive the trip.
const (
	codeOther = iota
	codeTimeout
	codeClosed
	codeMismatch
	codeOverloaded
)

func errCode(err error) int {
	var mm *hashing.MismatchError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codeTimeout
	case errors.Is(err, ErrClosed):
		return codeClosed
	case errors.As(err, &mm):
		return codeMismatch
	case errors.Is(err, ErrOverloaded):
		return codeOverloaded
	}
	return codeOther
}

// remoteErr rebuilds an error from the wire: the sentinels that callers
// match keep matching.
func remoteErr(code int, msg string) error {
	switch code {
	case codeTimeout:
		return fmt.Errorf("%w: %s", context.DeadlineExceeded, msg)
	case codeClosed:
		return fmt.Errorf("%w: %s", ErrClosed, msg)
	case codeOverloaded:
		return fmt.Errorf("%w: %s", ErrOverloaded, msg)
	}
	return &RemoteError{Msg: msg}
}

// RemoteError is a query failure that happened on another member.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return "actors: remote: " + e.Msg }

// clusterAsk is ask in cluster mode: it hands the key to its owner, which
// either knows the answer, joins a query under way, or has a's member
// query a. Only a's own failure comes back as an error naming a; an
// unreachable owner is ErrClusterUnavailable.
func (d *deps) clusterAsk(key hashing.Key, others []hashing.Key, a announcer) *queryDone {
	res := &queryDone{jid: a.jid}
	req := encode(tagResolve, &wireMsg{
		Key: toWire(key), Others: othersToWire(others), JID: a.jid, Node: a.node,
		Origin: d.system.Address(),
	})
	deadline := d.now().Add(d.cfg.LookupTimeout)
	var lastErr error
	backoff := 50 * time.Millisecond
	for attempt := 0; d.now().Before(deadline); attempt++ {
		if attempt > 0 {
			// The owner is gone or the members disagree: give the
			// membership time to settle rather than spin.
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-d.ctx.Done():
				t.Stop()
			}
			backoff = min(2*backoff, time.Second)
		}
		if d.ctx.Err() != nil {
			res.err = ErrClosed
			return res
		}
		d.counters.ClusterRequests.Add(1)
		v, err := d.request(key.String(), req)
		if err != nil || v == nil {
			d.counters.ClusterRetries.Add(1)
			lastErr = err
			d.cfg.Logger.Debug("cluster owner unreachable", "key", key.String(), "err", err)
			continue
		}
		tag, m, ok := decode(v)
		if !ok || tag != tagResult {
			lastErr = fmt.Errorf("unexpected reply %T", v)
			d.counters.ClusterRetries.Add(1)
			continue
		}
		if m.Info == nil {
			res.err = remoteErr(m.Code, m.Err)
			return res
		}
		// Never trust the wire: verify what we keep.
		method, err := hashing.Verify(key, m.Info, d.cfg.Verify)
		if err != nil {
			d.counters.Rejected.Add(1)
			res.err = err
			return res
		}
		d.putVerified(key, others, m.Info, method, a)
		res.info, res.method = m.Info, method
		return res
	}
	res.err = fmt.Errorf("%w: %w", ErrClusterUnavailable, lastErr)
	return res
}

// errOwnerLeft: the member a key's owner lived on left the cluster while
// a request to it was under way (or, before the owner was known, some
// member left: the request may have gone to it).
var errOwnerLeft = errors.New("actors: the owner's member left the cluster")

// ownerCheck is how often a request under way looks whether its owner's
// member is still in the cluster.
const ownerCheck = 250 * time.Millisecond

// request sends req to the owner of identity and returns its reply. When
// the member the owner lives on leaves the cluster meanwhile it gives up
// with errOwnerLeft at once: protoactor would wait out RequestTimeout
// (2×QueryTimeout+5s, 25 s by default) for a reply that cannot come, and
// the caller's retry reaches the key's new owner. The abandoned request
// ends by itself within RequestTimeout.
func (d *deps) request(identity string, req any) (any, error) {
	type reply struct {
		v   any
		err error
	}
	done := make(chan reply, 1)
	go func() {
		v, err := d.cluster.Request(identity, OwnerKind, req,
			cluster.WithTimeout(d.cfg.Cluster.RequestTimeout), cluster.WithRetryCount(3))
		done <- reply{v, err}
	}()
	t := time.NewTicker(ownerCheck)
	defer t.Stop()
	owner, departures := "", d.departures.Load()
	for {
		select {
		case r := <-done:
			return r.v, r.err
		case <-d.ctx.Done():
			return nil, ErrClosed
		case <-t.C:
			if owner == "" {
				// The request put the owner's PID in the cache; reading
				// it never blocks (cluster.Get could, on a dead member).
				if pid, ok := d.cluster.PidCache.Get(identity, OwnerKind); ok {
					owner = pid.Address
				}
			}
			left := d.departures.Load() != departures
			if (owner != "" && !d.isMember(owner)) || (owner == "" && left) {
				return nil, errOwnerLeft
			}
		}
	}
}

// putVerified stores a verified answer for key and for the others the
// same answer proves too (a presence's other hashes). The entry records
// the announcer's caps node (the XEP-0115 node attribute, not node#ver),
// which is what storage keeps in Entry.Nodes and exports as file names.
//
// Close does not cut it short: the answer may have been served already, and
// the store commits whatever it accepted before it closes.
func (d *deps) putVerified(key hashing.Key, others []hashing.Key, info *hashing.Info, method hashing.Method, a announcer) {
	v := Verified{Node: a.node, JID: a.jid, Method: method, At: d.now()}
	if key.Scheme != hashing.XEP0115 || a.jid == "" {
		v.Node = ""
	}
	if err := d.store.Put(context.WithoutCancel(d.ctx), key, info, v); err != nil {
		d.counters.StoreErrors.Add(1)
		d.cfg.Logger.Warn("store verified entry", "key", key.String(), "err", err)
	}
	d.writes.wrote(key) // even after an error: the write may have landed
	for _, o := range others {
		if m, err := hashing.Verify(o, info, d.cfg.Verify); err == nil {
			v.Method = m
			if err := d.store.Put(context.WithoutCancel(d.ctx), o, info, v); err != nil {
				d.counters.StoreErrors.Add(1)
			}
			d.writes.wrote(o)
		}
	}
}

// leaveCluster shuts this member down. protoactor's remote can panic
// while stopping ("send on closed channel" in its endpoint manager, seen
// when several members shut down at once): by then every entry is
// stored and every waiter answered, so the panic is logged, not passed on
// to the host program's Close.
func leaveCluster(d *deps) {
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
func (d *deps) ownerIdle() time.Duration {
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

// pendingResolve is one member's request waiting at the owner.
type pendingResolve struct {
	reply *actor.PID // the requester's future
	m     *wireMsg
}

type ownerTimeout struct{ seq uint64 }

// probeTimeout ends a probe that some member did not answer.
type probeTimeout struct{}

// ownerActor is the cluster-wide owner of one key. It asks one announcer
// at a time, on the member that saw it; every member's request waits for
// that one query. A failed announcer fails only the request that brought
// it (its member goes on with its next announcer); the owner then asks
// the next waiting request's announcer.
type ownerActor struct {
	d        *deps
	key      hashing.Key
	info     *hashing.Info
	others   []hashing.Key
	pending  []pendingResolve
	querying bool
	// A new owner first asks the other members whether they already have
	// the entry (this owner's member may have joined after it was
	// broadcast, or the previous owner died): probeWait holds the members
	// yet to answer.
	probed     bool
	probing    bool
	probeWait  map[string]struct{}
	probeStart time.Time
	seq        uint64
	queryStart time.Time
	timer      *time.Timer
	idle       idleTimer
}

func (o *ownerActor) Receive(ctx actor.Context) {
	defer func() {
		if p := recover(); p != nil {
			o.d.counters.Panics.Add(1)
			o.d.cfg.Logger.Error("owner actor panic", "key", o.key.String(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			o.failAll(ctx, fmt.Errorf("actors: internal error: %v", p))
		}
	}()
	if _, tick := ctx.Message().(*idleTick); !tick {
		o.idle.touch()
	}
	switch msg := ctx.Message().(type) {
	case *probeTimeout:
		if !o.probing {
			return
		}
		// A slow answer is not a missing one: querying now could ask for
		// an entry a loaded member holds. Wait on while a member yet to
		// answer is still in the cluster, up to RequestTimeout.
		if o.waitingOnLive() && time.Since(o.probeStart) < o.d.cfg.Cluster.RequestTimeout {
			o.arm(ctx, o.d.cfg.Cluster.ProbeTimeout, &probeTimeout{})
			return
		}
		o.d.counters.ClusterProbeTimeouts.Add(1)
		o.endProbe(ctx)
		return
	case *ownerTimeout:
		if msg.seq != o.seq || !o.querying {
			return
		}
		// Likewise, the member running the query answers even when its
		// query failed (its wait for a slot and its query are bounded):
		// while it is in the cluster, asking another announcer could
		// only cost a second query. Once it has left, the next announcer
		// is asked at once.
		if o.d.isMember(o.pending[0].m.Origin) && time.Since(o.queryStart) < o.d.cfg.LookupTimeout {
			o.arm(ctx, ownerPoll, msg)
			return
		}
		o.d.counters.ClusterOwnerTimeouts.Add(1)
		o.onAnswer(ctx, &wireMsg{Seq: msg.seq, Code: codeTimeout, Err: "query to announcer's member timed out"})
		return
	case *idleTick:
		if o.idle.expired(msg) && len(o.pending) == 0 && !o.querying {
			ctx.Poison(ctx.Self())
		}
		return
	case *actor.Stopping:
		o.stopTimer()
		o.idle.stop()
		o.failAll(ctx, ErrClosed)
		return
	}
	tag, m, ok := decode(ctx.Message())
	if !ok {
		return
	}
	switch tag {
	case tagResolve:
		k, err := m.Key.key()
		if err != nil {
			return
		}
		if m.Origin != o.d.system.Address() {
			o.d.counters.ClusterRemoteResolves.Add(1)
		}
		if o.key.IsZero() {
			o.key = k
			if info, ok := o.d.entry(k); ok {
				o.info = info
			}
		}
		if o.info != nil {
			ctx.Respond(encode(tagResult, &wireMsg{Key: m.Key, Info: o.info}))
			return
		}
		for _, x := range othersFromWire(m.Others) {
			if len(o.others) < 8 && !slices.Contains(o.others, x) && x != o.key {
				o.others = append(o.others, x)
			}
		}
		if len(o.pending) >= o.d.cfg.MaxAnnouncersPerKey*4 {
			ctx.Respond(encode(tagResult, &wireMsg{Key: m.Key, Err: ErrOverloaded.Error(), Code: codeOverloaded}))
			return
		}
		if i := o.pendingFrom(m); i >= 0 {
			// The member's earlier request timed out and it asks again:
			// answer the new one, keep the place.
			o.pending[i].reply = ctx.Sender()
			return
		}
		o.pending = append(o.pending, pendingResolve{reply: ctx.Sender(), m: m})
		switch {
		case !o.probed && !o.probing:
			o.probe(ctx)
		case o.probed && !o.querying:
			o.queryNext(ctx)
		}
	case tagEntry: // a probe found it
		if !o.probing || m.Info == nil {
			return
		}
		if _, err := hashing.Verify(o.key, m.Info, o.d.cfg.Verify); err != nil {
			o.probeMiss(ctx, m.Origin)
			return
		}
		o.probing, o.probed = false, true
		o.resolve(ctx, m.Info, false)
	case tagResult: // a probe did not
		if o.probing {
			o.probeMiss(ctx, m.Origin)
		}
	case tagAnswer:
		switch {
		case m.Seq == o.seq && o.querying:
			o.onAnswer(ctx, m)
		case m.Info != nil && o.info == nil:
			// An answer after its timeout still resolves the key when it
			// verifies.
			if _, err := hashing.Verify(o.key, m.Info, o.d.cfg.Verify); err == nil {
				o.resolve(ctx, m.Info, true)
			}
		}
	}
}

func (o *ownerActor) probe(ctx actor.Context) {
	self := o.d.system.Address()
	msg := encode(tagProbe, &wireMsg{Key: toWire(o.key)})
	o.probeWait = make(map[string]struct{})
	for _, addr := range o.d.memberAddrs() {
		// A member that asks has looked in its store already.
		if addr == self || o.pendingFromMember(addr) {
			continue
		}
		ctx.Request(actor.NewPID(addr, probeName), msg)
		o.probeWait[addr] = struct{}{}
	}
	if len(o.probeWait) == 0 {
		o.probed = true
		o.queryNext(ctx)
		return
	}
	o.probing = true
	o.probeStart = time.Now()
	o.arm(ctx, o.d.cfg.Cluster.ProbeTimeout, &probeTimeout{})
}

// probeMiss records member's "not here".
func (o *ownerActor) probeMiss(ctx actor.Context, member string) {
	delete(o.probeWait, member)
	if len(o.probeWait) == 0 {
		o.endProbe(ctx)
	}
}

// waitingOnLive reports whether a member yet to answer the probe is still
// in the cluster.
func (o *ownerActor) waitingOnLive() bool {
	for addr := range o.probeWait {
		if o.d.isMember(addr) {
			return true
		}
	}
	return false
}

// pendingFrom is the index of the request for the same announcer from the
// same member as m, or -1.
func (o *ownerActor) pendingFrom(m *wireMsg) int {
	for i := range o.pending {
		if p := o.pending[i].m; p.JID == m.JID && p.Origin == m.Origin {
			return i
		}
	}
	return -1
}

// pendingFromMember reports whether a waiting request came from addr.
func (o *ownerActor) pendingFromMember(addr string) bool {
	for i := range o.pending {
		if o.pending[i].m.Origin == addr {
			return true
		}
	}
	return false
}

// arm (re)starts the owner's one timer: msg reaches it after d.
func (o *ownerActor) arm(ctx actor.Context, d time.Duration, msg any) {
	o.stopTimer()
	self, sys := ctx.Self(), o.d.system
	o.timer = time.AfterFunc(d, func() { sys.Root.Send(self, msg) })
}

// isMember reports whether addr is a member of the cluster now.
func (d *deps) isMember(addr string) bool {
	return slices.Contains(d.memberAddrs(), addr)
}

func (o *ownerActor) endProbe(ctx actor.Context) {
	o.stopTimer()
	o.probing, o.probed = false, true
	if !o.querying {
		o.queryNext(ctx)
	}
}

// resolve answers every waiting request with info and, when the answer is
// new to the cluster, sends it to every member.
func (o *ownerActor) resolve(ctx actor.Context, info *hashing.Info, broadcast bool) {
	o.stopTimer()
	o.info = info
	res := encode(tagResult, &wireMsg{Key: toWire(o.key), Info: info})
	told := make(map[string]struct{}, len(o.pending))
	for _, p := range o.pending {
		ctx.Send(p.reply, res)
		told[p.m.Origin] = struct{}{}
	}
	o.pending, o.querying = nil, false
	if broadcast {
		o.broadcast(ctx, told)
	}
	o.idle.arm(o.d.system, ctx.Self(), o.d.ownerIdle())
}

func (o *ownerActor) queryNext(ctx actor.Context) {
	if len(o.pending) == 0 {
		o.querying = false
		o.idle.arm(o.d.system, ctx.Self(), o.d.ownerIdle())
		return
	}
	o.idle.stop()
	head := o.pending[0].m
	o.querying = true
	o.seq++
	q := &wireMsg{Key: toWire(o.key), Others: othersToWire(o.others), JID: head.JID, Node: head.Node, Seq: o.seq}
	if head.Origin != o.d.system.Address() {
		o.d.counters.ClusterRemoteQueries.Add(1)
	}
	ctx.Request(actor.NewPID(head.Origin, querierName), encode(tagQuery, q))
	o.queryStart = time.Now()
	o.arm(ctx, ownerPoll, &ownerTimeout{seq: o.seq})
}

func (o *ownerActor) onAnswer(ctx actor.Context, m *wireMsg) {
	o.stopTimer()
	if m.Info != nil {
		if _, err := hashing.Verify(o.key, m.Info, o.d.cfg.Verify); err == nil {
			o.resolve(ctx, m.Info, true)
			return
		}
		m = &wireMsg{Err: "answer did not verify at the owner", Code: codeMismatch}
	}
	head := o.pending[0]
	o.pending = o.pending[1:]
	ctx.Send(head.reply, encode(tagResult, &wireMsg{Key: toWire(o.key), Err: m.Err, Code: m.Code}))
	o.queryNext(ctx)
}

// broadcast sends the verified entry to the cache actor of every member
// but those told already: a member whose request the owner answered
// stores the answer itself.
func (o *ownerActor) broadcast(ctx actor.Context, told map[string]struct{}) {
	msg := encode(tagEntry, &wireMsg{Key: toWire(o.key), Others: othersToWire(o.others), Info: o.info})
	for _, addr := range o.d.memberAddrs() {
		if _, ok := told[addr]; !ok {
			ctx.Send(actor.NewPID(addr, cacheName), msg)
		}
	}
}

func (o *ownerActor) failAll(ctx actor.Context, err error) {
	res := encode(tagResult, &wireMsg{Key: toWire(o.key), Err: err.Error(), Code: errCode(err)})
	for _, p := range o.pending {
		ctx.Send(p.reply, res)
	}
	o.pending, o.querying = nil, false
}

func (o *ownerActor) stopTimer() {
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
}

// querierActor runs the owner's queries for announcers this member saw,
// with this member's Querier, limits and store.
type querierActor struct{ d *deps }

func (q *querierActor) Receive(ctx actor.Context) {
	m, k, ok := decodeFor(ctx.Message(), tagQuery)
	if !ok {
		return
	}
	d, owner := q.d, ctx.Sender()
	if owner == nil {
		return
	}
	// The owner waits for this answer as long as this member is in the
	// cluster: waiting for a worker and asking are both bounded, so that
	// the answer always comes.
	d.queries.push(&queryJob{
		key: k, others: othersFromWire(m.Others), a: announcer{m.JID, m.Node},
		expires: d.now().Add(d.cfg.QueryTimeout),
		done: func(res *queryDone) {
			out := &wireMsg{Key: m.Key, Seq: m.Seq, Info: res.info}
			if res.err != nil {
				out.Err, out.Code = res.err.Error(), errCode(res.err)
			}
			d.system.Root.Send(owner, encode(tagAnswer, out))
		},
	})
}

// cacheActor keeps the entries other members resolved: verified again,
// then written to this member's store.
type cacheActor struct{ d *deps }

func (c *cacheActor) Receive(ctx actor.Context) {
	m, k, ok := decodeFor(ctx.Message(), tagEntry)
	if !ok || m.Info == nil {
		return
	}
	d := c.d
	if _, ok := d.entry(k); ok {
		return
	}
	method, err := hashing.Verify(k, m.Info, d.cfg.Verify)
	if err != nil {
		d.counters.Rejected.Add(1)
		d.cfg.Logger.Warn("cluster entry did not verify", "key", k.String(), "err", err)
		return
	}
	d.counters.ClusterEntries.Add(1)
	// The store's Put returns once the entry is durable, a disk sync
	// later: putting here, one entry after another, left broadcasts and
	// the probes queued behind them waiting seconds under load. The puts
	// run concurrently (the store commits them together), a bounded
	// number at a time, and the entry is served from arriving meanwhile.
	if !d.arriving.add(k, m.Info) {
		return
	}
	others := othersFromWire(m.Others)
	d.tasks.Add(1)
	go func() {
		defer d.tasks.Done()
		d.putVerified(k, others, m.Info, method, announcer{})
		d.arriving.remove(k)
		// JIDs here that announce the key — told it failed, or
		// nothing yet — hear that it resolved.
		d.verified(k, others, m.Info)
	}()
}

// probeActor answers owners asking whether this member holds a key. It is
// apart from the cache actor so that a probe never waits behind
// broadcast entries being written.
type probeActor struct{ d *deps }

func (p *probeActor) Receive(ctx actor.Context) {
	m, k, ok := decodeFor(ctx.Message(), tagProbe)
	if !ok {
		return
	}
	// A reply carries no sender: Origin says who answered.
	self := p.d.system.Address()
	if info, ok := p.d.entry(k); ok {
		ctx.Respond(encode(tagEntry, &wireMsg{Key: m.Key, Origin: self, Info: info}))
		return
	}
	ctx.Respond(encode(tagResult, &wireMsg{Key: m.Key, Origin: self}))
}

// entry is the verified answer for k this member holds: in its store, or
// on its way there.
func (d *deps) entry(k hashing.Key) (*hashing.Info, bool) {
	if info, ok := d.arriving.get(k); ok {
		return info, true
	}
	info, err := d.store.Get(k)
	return info, err == nil
}

// maxArriving bounds the broadcast entries being written at once; the
// cache actor waits for a slot beyond it.
const maxArriving = 1024

// arrivingEntries are verified entries from other members whose put is
// under way.
type arrivingEntries struct {
	mu    sync.Mutex
	m     map[hashing.Key]*hashing.Info
	slots chan struct{}
}

// add records k and takes a put slot, waiting for one; it is false when
// k is already arriving.
func (a *arrivingEntries) add(k hashing.Key, info *hashing.Info) bool {
	a.mu.Lock()
	if a.m == nil {
		a.m = make(map[hashing.Key]*hashing.Info)
		a.slots = make(chan struct{}, maxArriving)
	}
	if _, dup := a.m[k]; dup {
		a.mu.Unlock()
		return false
	}
	a.m[k] = info
	slots := a.slots
	a.mu.Unlock()
	slots <- struct{}{}
	return true
}

func (a *arrivingEntries) remove(k hashing.Key) {
	a.mu.Lock()
	delete(a.m, k)
	slots := a.slots
	a.mu.Unlock()
	<-slots
}

func (a *arrivingEntries) get(k hashing.Key) (*hashing.Info, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	info, ok := a.m[k]
	return info, ok
}
