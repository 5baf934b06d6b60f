package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	"slices"
	"time"

	"github.com/capsengine/capsengine/hashing"
)

// lookupReq: jid announced key (and, in the same presence, others).
type lookupReq struct {
	at     time.Time // when the shard or the first-contact path made it (Latencies.Waits)
	key    hashing.Key
	others []hashing.Key
	jid    string
	node   string // the XEP-0115 node attribute; "" for XEP-0390 keys
	// missed is the storeWrites stamp taken before the shard's store read
	// missed key; 0 when the shard did not read the store.
	missed uint64
	// inFlight: the shard counted this request in core.looking; the
	// router uncounts it once routed.
	inFlight bool
	// early: sent by the ingesting caller at first contact (first.go),
	// before the presence reached its shard: the JID is an announcer to
	// ask, not yet one to tell — its shard's own request follows.
	early bool
}

// lookupBatch carries one shard batch's lookups to the router, or one
// caller batch's first contacts.
type lookupBatch struct{ reqs []*lookupReq }

// backlog is what b counts in core.backlog: the shards' requests. First
// contacts are not counted: each stands for a presence its caller is
// about to queue for a shard, so ShardQueue bounds them, and counting
// them would have the shards drop the very presences they announce.
func (b *lookupBatch) backlog() int64 {
	if len(b.reqs) > 0 && b.reqs[0].early {
		return 0
	}
	return int64(len(b.reqs))
}

// lookupReqs carries one key's requests from one batch to its lookup actor.
type lookupReqs struct{ reqs []*lookupReq }

// waitReq asks for the outcome of key's lookup. retry, when set, is the
// JID that waits and announces key: with no lookup under way and no
// outcome known, the router starts one from it.
type waitReq struct {
	key   hashing.Key
	reply chan<- waitResult
	retry *lookupReq
}

type waitResult struct {
	key  hashing.Key
	info *hashing.Info
	err  error
}

// lookupIdle: a lookup actor is done (resolved or failed) after seeing
// seen of the router's messages. The router stops it only if it sent no
// more since: otherwise the actor has requests to handle first, and says
// so again after them.
type lookupIdle struct {
	key  hashing.Key
	seen uint64
	pid  *actor.PID
}

// router owns the per-key lookup actors: it spawns them on demand, forwards
// to them, bounds their number and stops them when they are done. Only it
// sends them requests, which is what makes the seen-count handshake of
// lookupIdle exact.
//
// At MaxLookups, requests for new keys wait in a FIFO (at most RouterQueue
// of them) until lookups end; past that they are dropped, counted
// (DropLookups), and their JIDs told ErrOverloaded.
type router struct {
	d        *core
	live     map[hashing.Key]*liveLookup
	byPID    map[string]hashing.Key // pid.Id → key, so Terminated costs O(1)
	overflow []parked
	head     int // overflow[head:] wait
	// stopping: the engine is closing. protoactor still delivers the
	// mailbox's user messages to a stopping actor, and under a flood
	// that backlog would start lookups only to stop them: they are
	// refused instead, so that the stop is prompt.
	stopping bool
}

// parked is a request, or a Wait, for a lookup that could not start yet.
type parked struct {
	req  *lookupReq
	wait *waitReq
}

type liveLookup struct {
	pid  *actor.PID
	sent uint64
}

func newRouter(d *core) actor.Actor {
	return &router{d: d, live: make(map[hashing.Key]*liveLookup), byPID: make(map[string]hashing.Key)}
}

func (r *router) Receive(ctx actor.Context) {
	if r.stopping {
		switch m := ctx.Message().(type) {
		case *lookupBatch:
			r.d.backlog.Add(-m.backlog())
		case *waitReq:
			m.reply <- waitResult{key: m.key, err: ErrClosed}
		}
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Stopping:
		r.stopping = true
		for _, p := range r.overflow[r.head:] {
			if p.wait != nil {
				p.wait.reply <- waitResult{key: p.wait.key, err: ErrClosed}
			}
		}
		r.overflow, r.head = nil, 0
	case *lookupBatch:
		r.d.backlog.Add(-m.backlog())
		r.route(ctx, m.reqs)
		// After route: a key whose lookup started now stays counted.
		for _, q := range m.reqs {
			if q.inFlight {
				r.d.looking.remove(q.key)
			}
		}
	case *waitReq:
		r.wait(ctx, m)
	case *lookupIdle:
		l := r.live[m.key]
		if l == nil || l.sent != m.seen || !l.pid.Equal(m.pid) {
			return
		}
		r.remove(m.key, l)
		// Poison, not Stop: it is queued behind anything already sent, so
		// nothing forwarded before this point is lost.
		ctx.Poison(l.pid)
		r.drain(ctx)
	case *actor.Terminated:
		// Only a lookup that stopped on its own (a bug, or shutdown) is
		// still registered here; passivated ones were removed above.
		if k, ok := r.byPID[m.Who.Id]; ok {
			if l := r.live[k]; l != nil && l.pid.Equal(m.Who) {
				r.remove(k, l)
				r.drain(ctx)
			} else {
				delete(r.byPID, m.Who.Id)
			}
		}
	}
}

// lateAfterFailure reports whether q, a first contact, reached the router
// after its shard's own request (the caller queues the presence first),
// whose lookup failed and ended already: started again, it would ask
// nobody new and overwrite the cause on record. (After a success, a late
// request finds the key in the store.)
func (r *router) lateAfterFailure(q *lookupReq) bool {
	_, failed := r.d.failures.get(q.key)
	return r.live[q.key] == nil && failed && r.d.toldOf(q.jid, q.key)
}

func (r *router) remove(k hashing.Key, l *liveLookup) {
	r.d.looking.remove(k)
	delete(r.live, k)
	delete(r.byPID, l.pid.Id)
	r.d.live.Store(int64(len(r.live)))
}

func (r *router) wait(ctx actor.Context, m *waitReq) {
	if l := r.live[m.key]; l != nil {
		l.sent++
		ctx.Send(l.pid, m)
		return
	}
	res := r.d.outcome(m.key)
	if res.err == nil || m.retry == nil || !errorsIsNotFound(res.err) {
		res.key = m.key
		m.reply <- res
		return
	}
	// Nothing under way and nothing known (a failure that expired, or
	// the JID's request is parked): look again, from the JID that waits.
	if !r.forward(ctx, m.key, []*lookupReq{m.retry}, false) {
		if len(r.overflow)-r.head >= r.d.cfg.RouterQueue {
			m.reply <- waitResult{key: m.key, err: ErrOverloaded}
			return
		}
		r.overflow = append(r.overflow, parked{wait: m})
		r.d.parked.Store(int64(len(r.overflow) - r.head))
		return
	}
	l := r.live[m.key]
	l.sent++
	ctx.Send(l.pid, m)
}

// route hands a batch's requests to their lookup actors, one message per
// key, spawning actors as needed and within MaxLookups.
func (r *router) route(ctx actor.Context, reqs []*lookupReq) {
	// First-contact requests come in batches of their own, and are
	// never parked: the shard's request for the same presence follows,
	// and waits or is dropped and told as the limits say.
	queue := !reqs[0].early
	for _, q := range reqs {
		r.d.latency.routing.since(q.at)
	}
	if !queue {
		// The batch's slice is the caller's, walked again by Receive:
		// filter a copy.
		reqs = slices.DeleteFunc(slices.Clone(reqs), r.lateAfterFailure)
		if len(reqs) == 0 {
			return
		}
	}
	if len(reqs) == 1 {
		r.forward(ctx, reqs[0].key, reqs, queue)
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
		r.forward(ctx, k, groups[k], queue)
	}
}

// forward sends reqs to k's lookup, spawning it within MaxLookups. At the
// limit, queue (when allowed) keeps the requests until a lookup ends;
// otherwise they are refused. It reports whether k's lookup has them.
func (r *router) forward(ctx actor.Context, k hashing.Key, reqs []*lookupReq, queue bool) bool {
	l := r.live[k]
	if l == nil {
		if len(r.live) >= r.d.cfg.MaxLookups {
			// A first contact whose query is out already waits too:
			// dropped, its answer would be lost and the key asked again.
			if queue || r.d.looking.earlyOf(k) != nil {
				r.park(reqs)
			}
			return false
		}
		var missed uint64
		for _, q := range reqs {
			missed = max(missed, q.missed) // stamps only grow: the latest
		}
		l = &liveLookup{pid: ctx.Spawn(lookupProps(r.d, k, missed, r.d.looking.takeEarly(k)))}
		r.d.looking.add(k)
		r.live[k] = l
		r.byPID[l.pid.Id] = k
		r.d.live.Store(int64(len(r.live)))
	}
	l.sent++
	ctx.Send(l.pid, &lookupReqs{reqs: reqs})
	return true
}

// park queues requests for lookups that cannot start yet, within
// RouterQueue; the rest are dropped and their JIDs told.
func (r *router) park(reqs []*lookupReq) {
	for _, q := range reqs {
		if len(r.overflow)-r.head >= r.d.cfg.RouterQueue {
			if !q.early { // the shard's request follows, and is told
				r.d.counters.DropLookups.Add(1)
				r.d.tell(q.jid, q.key, nil, ErrOverloaded)
			} else if e := r.d.looking.takeEarly(q.key); e != nil {
				// Its answer has nobody to go to: not sent if not out
				// yet (counted in QueriesCancelled).
				e.abandon()
			}
			continue
		}
		r.overflow = append(r.overflow, parked{req: q})
	}
	r.d.parked.Store(int64(len(r.overflow) - r.head))
}

// drain starts lookups for parked requests while there is room.
func (r *router) drain(ctx actor.Context) {
	for r.head < len(r.overflow) && len(r.live) < r.d.cfg.MaxLookups {
		p := r.overflow[r.head]
		r.overflow[r.head] = parked{}
		r.head++
		if p.wait != nil {
			r.wait(ctx, p.wait)
		} else {
			r.forward(ctx, p.req.key, []*lookupReq{p.req}, false)
		}
	}
	switch {
	case r.head == len(r.overflow):
		r.overflow, r.head = r.overflow[:0], 0
	case r.head > 1024 && 2*r.head > len(r.overflow):
		r.overflow = append([]parked(nil), r.overflow[r.head:]...)
		r.head = 0
	}
	r.d.parked.Store(int64(len(r.overflow) - r.head))
}

// outcome is what a key without a live lookup resolves to now.
func (d *core) outcome(k hashing.Key) waitResult {
	if info, err := d.store.Get(k); err == nil {
		return waitResult{info: info}
	}
	if err, ok := d.failures.get(k); ok {
		return waitResult{err: err}
	}
	return waitResult{err: ErrNotFound}
}

func errorsIsNotFound(err error) bool { return err == ErrNotFound }

// waitJID asks jid's shard for the outcome of jid's caps; the shard answers
// or hands a waitReq to the router.
type waitJID struct {
	jid   string
	reply chan<- waitResult
}
