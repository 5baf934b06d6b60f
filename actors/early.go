package actors

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/hashing"
)

// earlyQuery is a key's first query, sent by the ingesting caller that
// claimed the key (keySet.claim) before any lookup for it exists. Under a
// cold flood the router and a fresh lookup actor each waited for a CPU
// behind the ingest shards' mailbox runs (route and lookup waits of 2.5–10
// ms at p50): the query left 8.6 ms after its presence (p50), against
// 2.5 ms for the baseline that queries from the parsing goroutine. The
// caller is running already, so the query goes out from there and the
// lookup adopts it when the router starts it (lookup.adopt).
//
// One query per key still holds: a claim succeeds only while nothing holds
// the key — no lookup, no request on its way — and every later request for
// it meets the claim (keySet.has) and goes to the router, whose first spawn
// for the key takes the query over (keySet.takeEarly). Only a lookup could
// ask again, and the one that exists has this query as its first.
//
// The query's outcome is for a lookup whose PID does not exist yet: it is
// held here until the lookup binds, then sent in the order it came (a
// stored after its answer, which the lookup needs to end).
type earlyQuery struct {
	job *queryJob
	at  time.Time // the presence's first contact: the start of the resolve latency

	d    *core
	mu   sync.Mutex
	to   *actor.PID
	held []any
	// Waits for the key that reached a shard before the lookup bound:
	// answered here when the query verifies first, else handed to the
	// lookup. answer is the verified info once there is one; dropped, that
	// the router could not start the lookup (abandon).
	waiters []chan<- waitResult
	answer  *hashing.Info
	dropped bool
}

// earlyGen is the generation of a lookup's first query: lookups number
// their queries from 1.
const earlyGen = 1

// newEarlyQuery is the query to jid, caps node node, for k; jid and node
// must be the caller's own copies (not the batch arena's).
func newEarlyQuery(d *core, k hashing.Key, others []hashing.Key, jid, node string) *earlyQuery {
	q := &earlyQuery{at: time.Now(), d: d}
	q.job = &queryJob{
		key: k, others: others, a: announcer{jid: jid, node: node}, gen: earlyGen,
		done:   func(res *queryDone) { q.send(res) },
		slow:   func() { q.send(&querySlow{gen: earlyGen}) },
		stored: func() { q.send(&queryStored{gen: earlyGen}) },
	}
	return q
}

// send delivers m to the lookup, or holds it until the lookup binds. A
// verified answer that comes first is told to the tables at once
// (core.verified): Caps, Supports, a Wait reaching its shard from then on
// and the CapsResolved events need no lookup, whose actor may still be
// waiting for a CPU behind the ingest shards. The lookup answers its own
// waiters when it binds.
func (q *earlyQuery) send(m any) {
	res, _ := m.(*queryDone)
	if res != nil && res.err == nil && !q.bound() {
		// Counted where it is served, and before, not when the lookup
		// hears of it: Counters and /stats read after a Wait this
		// answers agree with it.
		q.d.counters.Resolved.Add(1)
		q.d.latency.resolve.observe(q.d.now().Sub(q.at))
		res.info = q.d.verified(q.job.key, q.job.others, res.info)
		res.settled = true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if res != nil && res.settled && q.to == nil {
		q.answer = res.info
		for _, w := range q.waiters {
			w <- waitResult{key: q.job.key, info: res.info}
		}
		q.waiters = nil
	}
	if q.to == nil {
		q.held = append(q.held, m)
		return
	}
	q.d.system.Root.Send(q.to, m)
}

func (q *earlyQuery) bound() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.to != nil
}

// park keeps a Wait for the key until the query verifies or the lookup
// binds, so that it needs neither the router nor the lookup to be
// scheduled; false once the lookup is bound (ask it instead).
func (q *earlyQuery) park(w chan<- waitResult) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.to != nil:
		return false
	case q.answer != nil:
		w <- waitResult{key: q.job.key, info: q.answer}
	case q.dropped:
		w <- waitResult{key: q.job.key, err: ErrOverloaded}
	default:
		q.waiters = append(q.waiters, w)
	}
	return true
}

// bind makes pid the receiver of the query's outcome and sends what came
// before (under the lock, which keeps the order against send). It returns
// the Waits parked meanwhile, for the lookup to take.
func (q *earlyQuery) bind(pid *actor.PID) []chan<- waitResult {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.to = pid
	for _, m := range q.held {
		q.d.system.Root.Send(pid, m)
	}
	q.held = nil
	w := q.waiters
	q.waiters = nil
	return w
}

// abandon cancels the query of a lookup the router could not start (its
// queue was full): unsent if still queued, and the Waits parked on it are
// told ErrOverloaded, as the presence's shard request will be.
func (q *earlyQuery) abandon() {
	q.job.Cancel(false)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dropped = true
	for _, w := range q.waiters {
		w <- waitResult{key: q.job.key, err: ErrOverloaded}
	}
	q.waiters = nil
}

// startEarly claims k for the query to jid (node), which it queues, when
// the key's first contact is this caller's and the announcer may be
// asked; it reports whether it did. Otherwise the caller counts its
// request in looking as before and the lookup asks (or skips) the
// announcer. jid and node are the caller's own copies; missed is the
// writes stamp taken before the caller's store read missed k.
func (d *core) startEarly(k hashing.Key, jid, node string, others []hashing.Key, missed uint64) bool {
	if d.cluster != nil {
		// A cluster's owner runs the query: the lookup asks it.
		return false
	}
	if _, bad := d.bad.get(badKey{jid, k}); bad {
		return false
	}
	if !d.limiter.allow(jid) {
		// Over its rate: the lookup skips it and counts the drop.
		return false
	}
	q := newEarlyQuery(d, k, others, jid, node)
	if !d.looking.claim(k, q, d.writes, missed) {
		// Another caller came first, a moment ago, or k was written
		// since the caller's store read: a lookup started without a
		// query reads the store again. The token spent is this
		// presence's: its JID joins that lookup.
		return false
	}
	d.counters.EarlyQueries.Add(1)
	d.queries.push(q.job)
	return true
}
