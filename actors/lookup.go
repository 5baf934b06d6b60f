package actors

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// deps is what the actors share: configuration, ports, and the bounded
// tables that outlive any one lookup actor.
type deps struct {
	cfg      Config
	store    Store
	querier  Querier
	hub      *Hub
	counters *Counters
	system   *actor.ActorSystem
	cluster  *cluster.Cluster // nil unless Config.Cluster
	now      func() time.Time

	bad      *expiring[badKey, struct{}]   // (announcer, key) pairs not to ask again
	failures *expiring[hashing.Key, error] // keys whose last lookup failed
	limiter  *rateLimiter                  // queries per announcer
	inflight chan struct{}                 // semaphore: MaxQueriesInFlight
	backlog  atomic.Int64                  // requests queued for the router
	waiting  atomic.Int64                  // JIDs held by lookups to be told (MaxWaitingJIDs)
	live     atomic.Int64                  // live lookup actors (Gauges)
	queued   atomic.Int64                  // queries waiting for a slot (Gauges)

	ctx     context.Context // cancelled by Close: aborts queries
	queries sync.WaitGroup  // query goroutines, waited for by Close

	arriving arrivingEntries          // cluster mode: entries on their way into the store
	members  atomic.Pointer[[]string] // cluster mode: member addresses (memberAddrs)
	// departures counts the topologies in which members left (cluster
	// mode): a request whose owner is not known yet may have gone to one.
	departures atomic.Uint64
}

// lookupReq: jid announced key (and, in the same presence, others).
type lookupReq struct {
	key    hashing.Key
	others []hashing.Key
	jid    string
	node   string // the XEP-0115 node attribute; "" for XEP-0390 keys
}

// lookupBatch carries one shard batch's lookups to the router.
type lookupBatch struct{ reqs []*lookupReq }

// lookupReqs carries one key's requests from one batch to its lookup actor.
type lookupReqs struct{ reqs []*lookupReq }

// waitReq asks for the outcome of key's lookup.
type waitReq struct {
	key   hashing.Key
	reply chan<- waitResult
}

type waitResult struct {
	key  hashing.Key
	info *hashing.Info
	err  error
}

// waitJID asks jid's shard for the outcome of jid's caps; the shard answers
// or hands a waitReq to the router.
type waitJID struct {
	jid   string
	reply chan<- waitResult
}

type queryDone struct {
	gen    uint64
	jid    string
	info   *hashing.Info
	method hashing.Method
	err    error
}

type lookupDeadline struct{ gen uint64 }

// lookupIdle: a finished lookup actor has been idle for LookupIdle. seen
// lets the router tell whether it forwarded anything the actor had not
// received yet, in which case the actor is not idle after all.
type lookupIdle struct {
	key  hashing.Key
	seen uint64
}

// router owns the per-key lookup actors: it spawns them on demand, forwards
// to them, bounds their number and passivates them. Only it sends them
// requests, which is what makes the seen-count handshake of lookupIdle exact.
type router struct {
	d     *deps
	live  map[hashing.Key]*liveLookup
	byPID map[string]hashing.Key // pid.Id → key, so Terminated costs O(1)
}

type liveLookup struct {
	pid  *actor.PID
	sent uint64
}

func newRouter(d *deps) actor.Actor {
	return &router{d: d, live: make(map[hashing.Key]*liveLookup), byPID: make(map[string]hashing.Key)}
}

func (r *router) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *lookupBatch:
		r.d.backlog.Add(-int64(len(m.reqs)))
		r.route(ctx, m.reqs)
	case *waitReq:
		if l := r.live[m.key]; l != nil {
			l.sent++
			ctx.Send(l.pid, m)
			return
		}
		res := r.d.outcome(m.key)
		res.key = m.key
		m.reply <- res
	case *lookupIdle:
		l := r.live[m.key]
		if l == nil || l.sent != m.seen || !l.pid.Equal(ctx.Sender()) {
			return
		}
		delete(r.live, m.key)
		delete(r.byPID, l.pid.Id)
		// Poison, not Stop: it is queued behind anything already sent, so
		// nothing forwarded before this point is lost.
		ctx.Poison(l.pid)
	case *actor.Terminated:
		// Only a lookup that stopped on its own (a bug, or shutdown) is
		// still registered here; passivated ones were removed above.
		if k, ok := r.byPID[m.Who.Id]; ok {
			delete(r.byPID, m.Who.Id)
			if l := r.live[k]; l != nil && l.pid.Equal(m.Who) {
				delete(r.live, k)
			}
		}
	}
}

// route hands a batch's requests to their lookup actors, one message per
// key, spawning actors as needed and within MaxLookups.
func (r *router) route(ctx actor.Context, reqs []*lookupReq) {
	if len(reqs) == 1 {
		r.forward(ctx, reqs[0].key, reqs)
		return
	}
	groups := make(map[hashing.Key][]*lookupReq, len(reqs))
	order := make([]hashing.Key, 0, len(reqs))
	for _, q := range reqs {
		if _, ok := groups[q.key]; !ok {
			order = append(order, q.key)
		}
		groups[q.key] = append(groups[q.key], q)
	}
	for _, k := range order {
		r.forward(ctx, k, groups[k])
	}
}

func (r *router) forward(ctx actor.Context, k hashing.Key, reqs []*lookupReq) {
	l := r.live[k]
	if l == nil {
		if len(r.live) >= r.d.cfg.MaxLookups {
			r.d.counters.DropLookups.Add(uint64(len(reqs)))
			r.d.failures.put(k, ErrOverloaded)
			for _, q := range reqs {
				r.d.hub.Publish(&messages.CapsFailed{JID: q.jid, Key: k, Err: ErrOverloaded})
			}
			return
		}
		l = &liveLookup{pid: ctx.Spawn(lookupProps(r.d, k))}
		r.live[k] = l
		r.byPID[l.pid.Id] = k
	}
	l.sent++
	ctx.Send(l.pid, &lookupReqs{reqs: reqs})
}

// outcome is what a key without a live lookup resolves to now.
func (d *deps) outcome(k hashing.Key) waitResult {
	if info, err := d.store.Get(k); err == nil {
		return waitResult{info: info}
	}
	if err, ok := d.failures.get(k); ok {
		return waitResult{err: err}
	}
	return waitResult{err: ErrNotFound}
}

func lookupProps(d *deps, k hashing.Key) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &lookupActor{l: newLookup(d, k)}
	}, actor.WithSupervisor(supervisor(d.cfg.Logger)))
}

type lookupState uint8

const (
	stateNew lookupState = iota
	stateQuerying
	stateResolved
	stateFailed
)

// lookup is the per-key state machine, kept apart from the actor plumbing.
type lookup struct {
	d          *deps
	key        hashing.Key
	others     []hashing.Key
	state      lookupState
	info       *hashing.Info
	err        error
	announcers []announcer // not yet asked, in arrival order
	known      map[string]struct{}
	jids       []string // told individually when the lookup ends (MaxWaitingJIDs)
	waiters    []chan<- waitResult
	gen        uint64 // invalidates late query results
	dgen       uint64 // invalidates stopped deadlines
	deadline   *time.Timer
	seen       uint64
}

type announcer struct{ jid, node string }

func newLookup(d *deps, k hashing.Key) *lookup {
	return &lookup{d: d, key: k, known: make(map[string]struct{})}
}

type lookupActor struct {
	l *lookup
}

func (a *lookupActor) Receive(ctx actor.Context) {
	l := a.l
	defer func() {
		// A bug must not strand waiters: fail them, log the stack, and
		// let the actor go on (its state is consistent: failed).
		if p := recover(); p != nil {
			l.d.cfg.Logger.Error("lookup actor panic", "key", l.key.String(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			l.finish(ctx, nil, fmt.Errorf("actors: internal error: %v", p))
		}
	}()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if info, err := l.d.store.Get(l.key); err == nil {
			l.state, l.info = stateResolved, info
			ctx.SetReceiveTimeout(l.d.cfg.LookupIdle)
		}
	case *lookupReqs:
		l.seen++
		for _, q := range m.reqs {
			l.onRequest(ctx, q)
		}
	case *waitReq:
		l.seen++
		switch l.state {
		case stateResolved:
			m.reply <- waitResult{key: l.key, info: l.info}
		case stateFailed:
			m.reply <- waitResult{key: l.key, err: l.err}
		default:
			l.waiters = append(l.waiters, m.reply)
		}
	case *queryDone:
		if m.gen == l.gen && l.state == stateQuerying {
			l.onAnswer(ctx, m)
		}
	case *lookupDeadline:
		if m.gen == l.dgen && l.state == stateQuerying {
			l.gen++ // whatever the query in flight returns is now stale
			l.finish(ctx, nil, ErrLookupTimeout)
		}
	case *actor.ReceiveTimeout:
		if l.state == stateResolved || l.state == stateFailed || l.state == stateNew {
			ctx.Send(ctx.Parent(), &lookupIdle{key: l.key, seen: l.seen})
		}
	case *actor.Stopping:
		if l.state == stateQuerying || len(l.waiters) > 0 {
			l.gen++
			l.end(ErrClosed)
		}
		l.stopDeadline()
	}
}

func (l *lookup) onRequest(ctx actor.Context, m *lookupReq) {
	for _, o := range m.others {
		if len(l.others) < 8 && !containsKey(l.others, o) && o != l.key {
			l.others = append(l.others, o)
		}
	}
	if l.state == stateResolved {
		l.d.counters.DedupJoins.Add(1)
		l.d.hub.Publish(&messages.CapsResolved{JID: m.jid, Key: l.key, Info: l.info, Cached: true})
		return
	}
	if l.d.hub.Wants(messages.KindCapsResolved | messages.KindCapsFailed) {
		if l.d.waiting.Add(1) <= int64(l.d.cfg.MaxWaitingJIDs) {
			l.jids = append(l.jids, m.jid)
		} else {
			l.d.waiting.Add(-1)
			l.d.counters.DropNotify.Add(1)
		}
	}
	max := l.d.cfg.MaxAnnouncersPerKey
	if _, dup := l.known[m.jid]; !dup {
		if len(l.known) < max {
			l.known[m.jid] = struct{}{}
			l.announcers = append(l.announcers, announcer{m.jid, m.node})
		} else {
			l.d.counters.DropAnnounce.Add(1)
		}
	}
	switch l.state {
	case stateQuerying:
		l.d.counters.DedupJoins.Add(1)
	case stateNew, stateFailed:
		l.next(ctx, ErrAnnouncersFailed)
	}
}

// next asks the next announcer worth asking; with none left the lookup
// fails with why.
func (l *lookup) next(ctx actor.Context, why error) {
	for len(l.announcers) > 0 {
		a := l.announcers[0]
		l.announcers = l.announcers[1:]
		if _, bad := l.d.bad.get(badKey{a.jid, l.key}); bad {
			l.d.counters.DropBad.Add(1)
			continue
		}
		if !l.d.limiter.allow(a.jid) {
			l.d.counters.DropRate.Add(1)
			why = ErrRateLimited
			continue
		}
		l.query(ctx, a)
		return
	}
	l.finish(ctx, nil, why)
}

func (l *lookup) query(ctx actor.Context, a announcer) {
	if l.state != stateQuerying {
		ctx.CancelReceiveTimeout()
	}
	l.state = stateQuerying
	l.gen++
	gen := l.gen
	if l.deadline == nil {
		l.dgen++
		self, sys, dgen := ctx.Self(), l.d.system, l.dgen
		l.deadline = time.AfterFunc(l.d.cfg.LookupTimeout, func() {
			sys.Root.Send(self, &lookupDeadline{gen: dgen})
		})
	}
	d, key, others, self := l.d, l.key, append([]hashing.Key(nil), l.others...), ctx.Self()
	d.queries.Add(1)
	go func() {
		defer d.queries.Done()
		var res *queryDone
		if d.cluster != nil {
			res = d.clusterAsk(key, others, a)
		} else {
			res = d.ask(key, others, a)
		}
		res.gen = gen
		d.system.Root.Send(self, res)
	}()
}

// ask runs one query on its own goroutine: wait for a slot, query, verify,
// store. The actor only sees the outcome.
func (d *deps) ask(key hashing.Key, others []hashing.Key, a announcer) *queryDone {
	return d.askWithin(key, others, a, nil)
}

// askWithin is ask that gives up with ErrOverloaded, without querying,
// when no query slot is free before slot fires (nil: wait for one).
func (d *deps) askWithin(key hashing.Key, others []hashing.Key, a announcer, slot <-chan time.Time) *queryDone {
	res := &queryDone{jid: a.jid}
	select {
	case d.inflight <- struct{}{}:
		defer func() { <-d.inflight }()
	case <-slot:
		res.err = ErrOverloaded
		return res
	case <-d.ctx.Done():
		res.err = ErrClosed
		return res
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.QueryTimeout)
	defer cancel()
	d.counters.Queries.Add(1)
	info, err := d.querier.QueryInfo(ctx, a.jid, queryNode(key, a.node))
	switch {
	case err != nil && ctx.Err() == context.DeadlineExceeded:
		d.counters.Timeouts.Add(1)
		res.err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		return res
	case err != nil:
		d.counters.QueryErrors.Add(1)
		res.err = err
		return res
	case info == nil:
		d.counters.QueryErrors.Add(1)
		res.err = errors.New("actors: querier returned no answer")
		return res
	}
	method, err := hashing.Verify(key, info, d.cfg.Verify)
	if err != nil {
		var mm *hashing.MismatchError
		if errors.As(err, &mm) {
			d.counters.Mismatches.Add(1)
		} else {
			d.counters.Rejected.Add(1)
		}
		res.err = err
		return res
	}
	if method != hashing.Strict {
		d.counters.LenientOK.Add(1)
	}
	res.info, res.method = info, method
	d.putVerified(key, others, info, method, a)
	return res
}

// queryNode is where the answer for key lives: node#ver for XEP-0115, and
// urn:xmpp:caps#alg.hash for XEP-0390.
func queryNode(k hashing.Key, node string) string {
	if k.Scheme == hashing.XEP0390 {
		return messages.NSCaps2 + "#" + k.Alg.String() + "." + k.Ver()
	}
	return node + "#" + k.Ver()
}

func (l *lookup) onAnswer(ctx actor.Context, m *queryDone) {
	if m.err == nil {
		l.d.counters.Resolved.Add(1)
		l.finish(ctx, m.info, nil)
		return
	}
	if !errors.Is(m.err, ErrClusterUnavailable) && !errors.Is(m.err, ErrOverloaded) {
		// The announcer's fault, not the cluster's.
		l.d.bad.put(badKey{m.jid, l.key}, struct{}{})
	}
	l.d.cfg.Logger.Debug("announcer failed", "key", l.key.String(), "jid", m.jid, "err", m.err)
	l.next(ctx, fmt.Errorf("%w: last: %w", ErrAnnouncersFailed, m.err))
}

// finish ends the lookup with info or err, tells everyone, and arms
// passivation.
func (l *lookup) finish(ctx actor.Context, info *hashing.Info, err error) {
	l.stopDeadline()
	if err == nil {
		l.state, l.info, l.err = stateResolved, info, nil
		l.d.failures.remove(l.key)
		for _, j := range l.jids {
			l.d.hub.Publish(&messages.CapsResolved{JID: j, Key: l.key, Info: info})
		}
		for _, w := range l.waiters {
			w <- waitResult{key: l.key, info: info}
		}
		l.d.waiting.Add(-int64(len(l.jids)))
		l.jids, l.waiters = nil, nil
	} else {
		l.d.counters.Failed.Add(1)
		l.d.failures.put(l.key, err)
		l.end(err)
	}
	if ctx != nil {
		ctx.SetReceiveTimeout(l.d.cfg.LookupIdle)
	}
}

// end fails every waiter with err. Announcers not yet asked are dropped:
// a later presence brings them back.
func (l *lookup) end(err error) {
	l.state, l.err = stateFailed, err
	for _, j := range l.jids {
		l.d.hub.Publish(&messages.CapsFailed{JID: j, Key: l.key, Err: err})
	}
	for _, w := range l.waiters {
		w <- waitResult{key: l.key, err: err}
	}
	l.d.waiting.Add(-int64(len(l.jids)))
	l.jids, l.waiters, l.announcers = nil, nil, nil
	clear(l.known)
}

func (l *lookup) stopDeadline() {
	if l.deadline != nil {
		l.deadline.Stop()
		l.deadline = nil
	}
}

func containsKey(ks []hashing.Key, k hashing.Key) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}
