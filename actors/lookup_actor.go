package actors

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/supervise"
)

// lookupActor runs one lookup: it turns messages into the lookup's events
// and the lookup's requests (ask, deadline, done) into queued jobs, timers
// and a word to the router. The decisions are the lookup's.
type lookupActor struct {
	l        *lookup
	d        *core
	self     *actor.PID
	seen     uint64 // router messages handled
	finished bool   // the lookup said done during this message
	timer    *time.Timer
	idleT    idleTimer
	early    *earlyQuery // adopted on start
}

type queryDone struct {
	at    time.Time // when the querier returned (Latencies.Waits)
	gen   uint64
	jid   string
	info  *hashing.Info
	proof hashing.Proof // of info: how it verified, and that the store need not hash it again
	err   error
	// settled: info was told to the tables (core.verified) before the
	// lookup heard of it.
	settled bool
}

// querySlow: query gen passed the hedge delay unanswered.
type querySlow struct{ gen uint64 }

// queryStored: query gen's verified answer is durable.
type queryStored struct{ gen uint64 }

type lookupDeadline struct{ round uint64 }

// earlyGrace is how long a failed lookup waits for the shard requests of
// announcers it met at first contact: about the longest the shards run
// behind their callers under a flood (a full ShardQueue).
const earlyGrace = 500 * time.Millisecond

// lookupProps makes k's lookup actor; early, when not nil, is the key's
// first query, sent by an ingesting caller, for the lookup to adopt.
func lookupProps(d *core, k hashing.Key, missed uint64, early *earlyQuery) *actor.Props {
	var once atomic.Pointer[earlyQuery]
	once.Store(early)
	return actor.PropsFromProducer(func() actor.Actor {
		// A restarted actor (after a panic its recover missed) must not
		// adopt the query twice.
		a := &lookupActor{d: d, early: once.Swap(nil)}
		a.l = newLookup(d, a, k)
		a.l.missed = missed
		return a
	}, actor.WithDispatcher(d.dispatcher)) // supervised by the router
}

func (a *lookupActor) Receive(ctx actor.Context) {
	l := a.l
	defer func() {
		// A bug must not strand waiters: fail them, log the stack, and
		// let the actor go on (its state is consistent: failed).
		// The key is formatted only for a panic: every message runs this.
		if p := recover(); p != nil && supervise.Recovered(l.d.log, &l.d.counters.Panics, "lookup actor", p, "key", l.key.String()) {
			l.finish(nil, fmt.Errorf("actors: internal error: %v", p))
		}
		// A message may end the lookup and start it again: a batch of
		// requests whose first finds only failed announcers and whose
		// next brings a new one. Only a lookup still done once the whole
		// message is handled may go idle — telling the router otherwise
		// had it stop a querying lookup, whose query was cancelled and
		// whose key was left unresolved.
		if a.finished && l.state.done() && !l.settling() {
			a.stopTimer()
			if idle := a.d.cfg.LookupIdle; idle > 0 || l.awaitsShards() {
				if l.awaitsShards() {
					idle = max(idle, earlyGrace)
				}
				a.idleT.arm(a.d.system, a.self, idle)
			} else {
				a.idle(ctx)
			}
		}
		a.finished = false
	}()
	if _, tick := ctx.Message().(*idleTick); !tick {
		a.idleT.touch()
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.self = ctx.Self()
		q := a.early
		if q == nil {
			l.onStart()
			break
		}
		// The key's first query is out: its caller missed the key in
		// the store a moment ago, and its answer may be in the tables
		// already (earlyQuery.send) — which must not make it look
		// known to a lookup that has yet to count it resolved.
		a.early = nil
		l.adopt(q.job.a, q.job.gen, q.job.Cancel, q.at)
		for _, w := range q.bind(a.self) {
			l.onWait(w)
		}
	case *lookupReqs:
		a.seen++
		for _, q := range m.reqs {
			a.d.latency.lookup.since(q.at)
			l.onRequest(q)
		}
	case *waitReq:
		a.seen++
		l.onWait(m.reply)
	case *queryDone:
		a.d.latency.answering.since(m.at)
		l.onAnswer(m)
	case *querySlow:
		l.onSlow(m.gen)
	case *queryStored:
		l.onStored(m.gen)
	case *lookupDeadline:
		l.onDeadline(m.round)
	case *idleTick:
		if a.idleT.expired(m) && l.state.done() {
			a.idle(ctx)
		}
	case *actor.Stopping:
		l.onStop()
		a.finished = false
		a.stopTimer()
		a.idleT.stop()
	}
}

func (a *lookupActor) idle(ctx actor.Context) {
	ctx.Send(ctx.Parent(), &lookupIdle{key: a.l.key, seen: a.seen, pid: a.self})
}

func (a *lookupActor) stopTimer() {
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
}

// ask queues a query (lookupIO).
func (a *lookupActor) ask(an announcer, gen uint64) func(lost bool) bool {
	d, self, key := a.d, a.self, a.l.key
	others := slices.Clone(a.l.others)
	send := func(m any) { d.system.Root.Send(self, m) }
	if d.cluster != nil {
		// In a cluster the key's owner runs the query (and its own
		// fallbacks); this goroutine waits on the owner, bounded by
		// LookupTimeout, and there is one per lookup at most.
		d.tasks.Add(1)
		go func() {
			defer d.tasks.Done()
			res := d.clusterAsk(key, others, an)
			res.gen = gen
			if res.err != nil {
				send(res)
				return
			}
			// Served before its commit; the lookup stays live until
			// stored, as with a single process's queries.
			d.queries.serveThenStore(key, others, res.info, res.proof, an, func() { send(res) }, nil,
				func() { send(&queryStored{gen: gen}) })
		}()
		return nil
	}
	j := &queryJob{
		key: key, others: others, a: an, gen: gen,
		done:   func(res *queryDone) { send(res) },
		slow:   func() { send(&querySlow{gen: gen}) },
		stored: func() { send(&queryStored{gen: gen}) },
	}
	d.queries.push(j)
	return j.Cancel
}

// deadline arms the round's deadline (lookupIO).
func (a *lookupActor) deadline(after time.Duration, round uint64) {
	a.stopTimer()
	sys, self := a.d.system, a.self
	a.timer = time.AfterFunc(after, func() { sys.Root.Send(self, &lookupDeadline{round: round}) })
}

// done notes that the lookup is finished (lookupIO); the actor tells the
// router once the message at hand is handled.
func (a *lookupActor) done() { a.finished = true }
