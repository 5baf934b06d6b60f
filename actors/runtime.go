package actors

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sync/semaphore"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/protolog"
	"github.com/capsengine/capsengine/internal/supervise"
	"github.com/capsengine/capsengine/messages"
)

// Runtime is the running actor system of one engine: ingest shards, the
// lookup router and its per-key actors, and the local identity. All its
// methods are safe for concurrent use.
type Runtime struct {
	d       *core
	shards  []*shard
	router  *actor.PID
	local   *actor.PID
	snap    atomic.Pointer[localSnapshot]
	closed  atomic.Bool
	done    chan struct{}   // closed by Close: unblocks waiting Ingest calls
	closing context.Context // cancelled as Close begins: unblocks admission
	abort   context.CancelFunc
	cancel  context.CancelFunc
	once    sync.Once
	closeEr error
	dec     sync.Pool // *rawDecoder

	ownSystem bool // Start made the actor system: Close stops it
	stopOnce  sync.Once
}

// Ports are what an engine is connected to, apart from its settings.
type Ports struct {
	Store   Store   // required
	Querier Querier // required
	// Cluster, when set, makes this engine one member of a cluster that
	// deduplicates lookups across members (package cluster). Nil: a
	// single process.
	Cluster Cluster
	// Logger receives the actors' logs and protoactor's own. Nil: silent.
	Logger *slog.Logger
	// System is the actor system to run in, shared with the store's
	// actors: one per engine. Nil: Start makes one and Close stops it.
	// With one given, Close leaves it running, so that what else runs in
	// it (the store's writer) can finish; Stop ends it.
	System *actor.ActorSystem
}

// Start builds and starts the actors.
func Start(cfg Config, p Ports) (*Runtime, error) {
	store, q := p.Store, p.Querier
	if store == nil || q == nil {
		return nil, errors.New("actors: Start needs a Store and a Querier")
	}
	cfg.setDefaults()
	logger := p.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	system, own := p.System, p.System == nil
	if own {
		system = protolog.NewSystem(logger)
	}
	ctx, cancel := context.WithCancel(context.Background())
	counters := &Counters{}
	d := &core{
		cfg:      cfg,
		log:      logger,
		store:    store,
		querier:  q,
		hub:      &Hub{counters: counters},
		counters: counters,
		system:   system,
		now:      time.Now,
		ctx:      ctx,
		inflight: make(chan struct{}, cfg.MaxQueriesInFlight),
		seed:     maphash.MakeSeed(),
	}
	d.queries = newQueryQueue(d)
	d.latency.init()
	d.looking = newKeySet()
	d.infos = newInfoSet()
	// protoactor's own throughput; idle workers for a few runs per CPU.
	d.dispatcher = newWorkerDispatcher(300, 64*runtime.GOMAXPROCS(0))
	d.writes = newStoreWrites()
	if cfg.HedgeMin >= 0 {
		d.answers = newAnswerTimes(cfg.HedgeMin, cfg.QueryTimeout)
	}
	d.bad = newExpiring[badKey, struct{}](cfg.MaxTrackedAnnouncers, cfg.BadAnnouncerTTL, d.now)
	// Failures are per key and a lookup's worth: bound them like lookups.
	d.failures = newExpiring[hashing.Key, error](max(cfg.MaxLookups, 1024), cfg.FailureTTL, d.now)
	d.limiter = newRateLimiter(cfg.AnnouncerRate, cfg.AnnouncerBurst, cfg.MaxTrackedAnnouncers, d.now)
	// One bucket for the whole engine: its only key is "".
	d.unhashedRate = newRateLimiter(cfg.UnhashedRate, cfg.UnhashedBurst, 1, d.now)
	d.unhashedSlots = make(chan struct{}, cfg.MaxUnhashedInFlight)
	d.unhashedPerShard = (cfg.MaxUnhashed + cfg.Shards - 1) / cfg.Shards

	if p.Cluster != nil {
		if err := startCluster(d, p.Cluster); err != nil {
			cancel()
			if own {
				system.Shutdown()
			}
			return nil, err
		}
	}
	r := &Runtime{d: d, done: make(chan struct{}), cancel: cancel, ownSystem: own}
	r.closing, r.abort = context.WithCancel(context.Background())
	// A root actor is supervised by its guardian, the router's lookups by
	// the router (supervise.Strategy says why both are set).
	strat := supervise.Strategy(logger, "actors")
	guard := actor.WithGuardian(strat)
	root := system.Root
	// The router's mailbox runs never yield on their own (protoactor's
	// run loop calls runtime.Gosched every Throughput messages): a
	// goroutine that yields goes to Go's global run queue, which the
	// scheduler looks at only now and then while the local ones are busy,
	// and under a cold flood the router — one actor that every first
	// contact passes — then waited there behind bulk ingest. Go still
	// preempts it after 10 ms. capsengine bench, four runs alternating:
	// first query after a key's first presence p50 5.8/28.6/13.1/5.7 ms →
	// 5.9/7.3/4.9/5.4 ms, cold-key p50 20/48/32/18 → 19/25/18/18 ms; with
	// every mailbox yielding every 32 messages instead, p50 was ~500 ms.
	routerDisp := actor.WithDispatcher(withThroughput{d.dispatcher, math.MaxInt})
	r.router = root.Spawn(actor.PropsFromProducer(func() actor.Actor { return newRouter(d) },
		guard, actor.WithSupervisor(strat), routerDisp))
	// A shard's mailbox run yields every shardThroughput batches instead
	// of protoactor's 300: every yield is a pass through the scheduler,
	// which runs the timers due and the goroutines they readied — a query
	// worker whose answer has come, say — that a core kept busy by bulk
	// ingest otherwise leaves waiting. capsengine bench, five pairs
	// alternating: cold-key p50 2.93/2.98/3.03/2.93/3.02 ms at 32 against
	// 3.66/3.39/3.00/2.98/3.17 at 300, throughput within noise. At 8 the
	// p50 fell further (2.76, 2.85 ms) but a Wait queued behind a shard's
	// batches took 130–145 ms instead of 10–14 (the yielded shard waits in
	// Go's global run queue).
	shardDisp := actor.WithDispatcher(withThroughput{d.dispatcher, shardThroughput})
	for range cfg.Shards {
		sh := &shard{table: newTable(d.hub), sem: semaphore.NewWeighted(int64(cfg.ShardQueue))}
		sh.pid = root.Spawn(actor.PropsFromProducer(func() actor.Actor {
			return &shardActor{d: d, sh: sh, router: r.router}
		}, guard, shardDisp))
		r.shards = append(r.shards, sh)
	}
	d.shards = r.shards
	r.local = root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &localActor{d: d, snap: &r.snap}
	}, guard))
	return r, nil
}

// shardThroughput is the batches a shard's mailbox run handles before it
// yields (see Start).
const shardThroughput = 32

// Counters returns the live counters.
func (r *Runtime) Counters() *Counters { return r.d.counters }

// Subscribe starts an event subscription; see Hub.Subscribe.
func (r *Runtime) Subscribe(kinds messages.EventKind, size int) *Subscription {
	return r.d.hub.Subscribe(kinds, size)
}

func (r *Runtime) shardFor(jid string) *shard { return r.shards[r.shardIndex(jid)] }

func (r *Runtime) shardIndex(jid string) int {
	return int(maphash.String(r.d.seed, jid) % uint64(len(r.shards)))
}

// send queues b on sh, waiting for room when the shard is full.
func (r *Runtime) send(ctx context.Context, sh *shard, b *ingestBatch) error {
	if r.closed.Load() {
		return ErrClosed
	}
	n := int64(1)
	if b.items != nil {
		n = int64(len(b.items))
	}
	early := r.firstContact(b)
	// A batch larger than the whole queue takes all of it.
	b.weight = min(n, int64(r.d.cfg.ShardQueue))
	if sh.sem.TryAcquire(b.weight) {
		// The batch goes first: once a query for a JID can be seen on the
		// wire, a Wait for that JID finds it in its shard (the Wait is
		// queued behind the batch).
		b.sent = time.Now()
		r.d.system.Root.Send(sh.pid, b)
		r.sendEarly(early)
		return nil
	}
	// The shard is full and the caller waits for room: the first contacts
	// go at once, which is what they are for under a flood. (A Wait sent
	// while this caller waits may not find the JID yet.)
	r.sendEarly(early)
	{
		wctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(r.closing, cancel)
		err := sh.sem.Acquire(wctx, b.weight)
		stop()
		cancel()
		if err != nil {
			if r.closed.Load() {
				return ErrClosed
			}
			return err
		}
	}
	b.sent = time.Now()
	r.d.system.Root.Send(sh.pid, b)
	return nil
}

// Ingest takes one parsed presence. It returns once the presence is queued
// for its JID's shard (ErrClosed after Close, ctx's error if it had to wait
// for room and ctx ended). Presences that carry nothing to resolve are
// counted and dropped here.
func (r *Runtime) Ingest(ctx context.Context, p *messages.Presence) error {
	b := &ingestBatch{}
	r.d.counters.Presences.Add(1)
	if !r.fromPresence(&b.one, p) {
		return nil
	}
	return r.send(ctx, r.shardFor(b.one.jid), b)
}

// IngestBatch takes many presences at once: one message per shard instead
// of one per presence. Order is kept per JID.
func (r *Runtime) IngestBatch(ctx context.Context, ps []*messages.Presence) error {
	per := make([]*ingestBatch, len(r.shards))
	r.d.counters.Presences.Add(uint64(len(ps)))
	for _, p := range ps {
		var it item
		if !r.fromPresence(&it, p) {
			continue
		}
		i := r.shardIndex(it.jid)
		if per[i] == nil {
			per[i] = getBatch()
		}
		per[i].items = append(per[i].items, it)
	}
	return r.sendPerShard(ctx, per)
}

func (r *Runtime) sendPerShard(ctx context.Context, per []*ingestBatch) error {
	for i, b := range per {
		if b == nil {
			continue
		}
		if err := r.send(ctx, r.shards[i], b); err != nil {
			return err
		}
	}
	return nil
}

// IngestRaw decodes one presence stanza and ingests it, like Ingest. A
// stanza that is not a well-formed presence is counted (Malformed) and its
// error returned.
func (r *Runtime) IngestRaw(ctx context.Context, stanza []byte) error {
	rd := r.getDecoder()
	b := &ingestBatch{}
	r.d.counters.Presences.Add(1)
	ok, err := r.fromRaw(rd, &b.one, stanza)
	r.dec.Put(rd)
	if !ok {
		return err
	}
	return r.send(ctx, r.shardFor(b.one.jid), b)
}

// IngestRawBatch is IngestRaw for many stanzas, sent as one message per
// shard. Stanzas that do not decode are counted and skipped; the first
// such error is returned after the others are queued.
func (r *Runtime) IngestRawBatch(ctx context.Context, stanzas [][]byte) error {
	rd := r.getDecoder()
	var perArr [64]*ingestBatch
	var per []*ingestBatch
	if len(r.shards) <= len(perArr) {
		per = perArr[:len(r.shards)]
	} else {
		per = make([]*ingestBatch, len(r.shards))
	}
	// One atomic add per batch: a shared counter bumped per presence from
	// every core would cost more than the table update.
	r.d.counters.Presences.Add(uint64(len(stanzas)))
	var first error
	for _, s := range stanzas {
		var it item
		ok, err := r.fromRaw(rd, &it, s)
		if err != nil && first == nil {
			first = err
		}
		if !ok {
			continue
		}
		i := r.shardIndex(it.jid)
		if per[i] == nil {
			per[i] = getBatch()
		}
		per[i].items = append(per[i].items, it)
	}
	r.dec.Put(rd)
	if err := r.sendPerShard(ctx, per); err != nil {
		return err
	}
	// A caller feeding batches flat out keeps the CPU from the actors
	// behind the shards, which resolve the cold keys: on 2 cores a cold key
	// waited 0.5-1 s for its query without this, ~50 ms with it (p50,
	// capsengine bench). Yield once per batch.
	runtime.Gosched()
	return first
}

// Sync returns once every presence ingested before the call has been
// applied to the JID tables (lookups it started may still be running).
func (r *Runtime) Sync(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	dones := make([]chan struct{}, len(r.shards))
	for i, sh := range r.shards {
		dones[i] = make(chan struct{})
		r.d.system.Root.Send(sh.pid, &barrier{done: dones[i]})
	}
	for _, d := range dones {
		select {
		case <-d:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.done:
			return ErrClosed
		}
	}
	return nil
}

// Flush returns once every verified answer served so far is durable in
// the store. Answers are served to waiters and events as soon as they
// verify, and committed in groups right after; a program that must know
// an entry is on disk (before a planned shutdown, say — Close flushes
// too) calls Flush.
func (r *Runtime) Flush(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for r.d.queries.puts.Load() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Caps returns the key jid announced last and what it resolved to. A JID
// whose presence had no verifiable hash (Config.QueryUnhashed) has the
// zero key and its own, unverified, answer. The error is ErrUnknownJID
// for a JID with no available presence with caps (or, with
// QueryUnhashed, with none at all),
// ErrOverloaded when its presence was dropped under load, the lookup's
// failure for Config.FailureTTL after it, or ErrPending while a lookup
// runs. A JID told of a failure that has since expired is looked up again
// (from that JID) by this call, so ErrPending is never a state nothing
// will end.
func (r *Runtime) Caps(jid string) (hashing.Key, *hashing.Info, error) {
	sh := r.shardFor(jid)
	s, ok := sh.table.state(jid)
	if !ok {
		if !r.d.cfg.QueryUnhashed {
			return s.key, nil, ErrUnknownJID
		}
		if info, found, err := r.unhashedState(sh, jid); found {
			return hashing.Key{}, info, err
		}
		return s.key, nil, ErrUnknownJID
	}
	if res, known := r.d.known(s, true); known {
		return s.key, res.info, res.err
	}
	if s.told == toldFailed && !r.closed.Load() && r.d.backlog.Load() < int64(r.d.cfg.RouterQueue) {
		r.d.backlog.Add(1)
		r.d.system.Root.Send(r.router, &lookupBatch{reqs: []*lookupReq{{key: s.key, jid: jid, node: s.node}}})
	}
	return s.key, nil, ErrPending
}

// Wait returns what jid's caps resolve to, waiting for a lookup under way.
// It goes through jid's shard, so it sees every presence of jid ingested
// before it. It never waits longer than ctx allows, and a lookup under way
// always ends (Config.LookupTimeout bounds it).
func (r *Runtime) Wait(ctx context.Context, jid string) (hashing.Key, *hashing.Info, error) {
	if r.closed.Load() {
		return hashing.Key{}, nil, ErrClosed
	}
	reply := make(chan waitResult, 1)
	r.d.system.Root.Send(r.shardFor(jid).pid, &waitJID{jid: jid, reply: reply})
	select {
	case res := <-reply:
		return res.key, res.info, res.err
	case <-ctx.Done():
		return hashing.Key{}, nil, ctx.Err()
	case <-r.done:
		return hashing.Key{}, nil, ErrClosed
	}
}

// WaitKey is Wait for a key.
func (r *Runtime) WaitKey(ctx context.Context, k hashing.Key) (*hashing.Info, error) {
	if info, err := r.d.store.Get(k); err == nil {
		return info, nil
	}
	if r.closed.Load() {
		return nil, ErrClosed
	}
	reply := make(chan waitResult, 1)
	r.d.system.Root.Send(r.router, &waitReq{key: k, reply: reply})
	select {
	case res := <-reply:
		return res.info, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.done:
		return nil, ErrClosed
	}
}

// Entities calls f for every online JID whose announced key satisfies
// match. match is called once per key and shard, with the key's verified
// info when the shard knows it (nil otherwise: not verified yet, or
// verified elsewhere and not read here) — which it may before the store
// has committed it. f must not call back into the Runtime.
func (r *Runtime) Entities(match func(k hashing.Key, info *hashing.Info) bool, f func(jid string, k hashing.Key)) {
	for _, sh := range r.shards {
		sh.table.each(match, f)
	}
}

// Keys calls f with every key an online JID announces (once per shard
// that holds it).
func (r *Runtime) Keys(f func(hashing.Key)) {
	for _, sh := range r.shards {
		sh.table.eachKey(f)
	}
}

// JIDs is the number of JIDs in the tables.
func (r *Runtime) JIDs() int {
	n := 0
	for _, sh := range r.shards {
		n += sh.table.len()
	}
	return n
}

// SetLocal replaces our own disco#info. It fails at once when info breaks
// a §5.4 rule; otherwise the change is applied after Config.Debounce and
// VerChanged is published if the announced hashes changed.
func (r *Runtime) SetLocal(info *hashing.Info) error {
	if _, _, err := announce(&r.d.cfg, info); err != nil {
		return err
	}
	if r.closed.Load() {
		return ErrClosed
	}
	r.d.system.Root.Send(r.local, &setLocal{info: info})
	return nil
}

// FlushLocal applies a pending SetLocal now, without waiting for the
// debounce window, and returns once any VerChanged has been published.
func (r *Runtime) FlushLocal(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	done := make(chan struct{})
	r.d.system.Root.Send(r.local, &flushLocal{done: done})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.done:
		return ErrClosed
	}
}

// Announcement is what we announce now; ok is false before the first
// SetLocal has been applied.
func (r *Runtime) Announcement() (ann messages.Announcement, ok bool) {
	s := r.snap.Load()
	if s == nil {
		return ann, false
	}
	return s.ann, true
}

// LocalInfo answers a disco#info query to node: our current identity for
// "" and for the nodes of our current and last three announcements.
func (r *Runtime) LocalInfo(node string) (*hashing.Info, bool) {
	s := r.snap.Load()
	if s == nil {
		return nil, false
	}
	if node == "" {
		return s.info, true
	}
	info, ok := s.byNode[node]
	return info, ok
}

// Close stops intake, drains the shards, ends every lookup (waiters get
// ErrClosed), waits for queries to return, and, when Start made the actor
// system, stops it (Stop). It is idempotent; ctx bounds the wait for
// queries.
func (r *Runtime) Close(ctx context.Context) error {
	r.once.Do(func() {
		r.closed.Store(true)
		r.abort()
		var errs []error
		root := r.d.system.Root
		for _, sh := range r.shards {
			if err := root.PoisonFuture(sh.pid).Wait(); err != nil {
				errs = append(errs, fmt.Errorf("actors: stop ingest shard: %w", err))
			}
		}
		// Stop, not Poison: under a flood the router's mailbox holds
		// requests for lookups that would only be ended again, and
		// draining it could outlast the future's 10 s. Lookups under way
		// end with ErrClosed; Waits still queued get ErrClosed from done.
		if err := root.StopFuture(r.router).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("actors: stop lookups: %w", err))
		}
		if err := root.PoisonFuture(r.local).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("actors: stop local identity: %w", err))
		}
		close(r.done)
		r.cancel()
		waited := make(chan struct{})
		r.d.queries.close()
		go func() { r.d.queries.workers.Wait(); r.d.tasks.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		}
		r.d.hub.closeAll()
		if r.ownSystem {
			r.Stop()
		}
		r.closeEr = errors.Join(errs...)
	})
	return r.closeEr
}

// Stop leaves the cluster, if any, and stops the actor system, shared or
// not: after Close, and after whatever else runs in a shared system has
// finished. Idempotent.
func (r *Runtime) Stop() {
	r.stopOnce.Do(func() {
		if r.d.cluster != nil {
			// Shuts the actor system down too.
			leaveCluster(r.d)
		} else {
			r.d.system.Shutdown()
		}
		r.d.dispatcher.close()
	})
}
