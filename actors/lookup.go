package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/capsengine/capsengine/hashing"
)

// A lookup is the life of one key that was not in the store, kept apart
// from the actor that runs it: it decides, its lookupIO does. Its states:
//
//	new ──request──► querying ──verified answer──► resolved ─┐
//	                  │  ▲ │                                  ├─► done: the
//	                  │  └─┘ failed answer, next announcer    │   router stops
//	                  └──── no announcer left ──► failed ─────┘   the actor
//
// A lookup is done as soon as it is resolved or failed and nothing is left
// to settle (settling: its answer's commit, or the answer of a query its
// failure cancelled too late, which resolves it when it comes): the store
// (or the failure table) answers for the key from then on, so live lookups
// are bounded by the keys in flight, not by the keys ever seen. A request that
// reaches a done lookup before the router stopped it is answered at once,
// or, when it brings an announcer not yet tried for a failed key, starts
// querying again.
//
// While querying, a lookup has at most maxOutstanding queries out: the
// first, and hedges — when a query passes the hedge delay unanswered
// (queryQueue) the next announcer is asked too, and the first verified
// answer wins. Each round is bounded by Config.LookupTimeout: when it
// passes, everyone waiting is told ErrLookupTimeout, and the lookup goes on
// with the announcers it has not asked yet (still bounded by
// MaxAnnouncersPerKey) instead of dropping them.
//
// What callers see, at each point (Runtime.Caps and Runtime.Wait agree):
//   - querying: Caps says ErrPending; Wait waits, at most until the round's
//     deadline (then ErrLookupTimeout).
//   - resolved: both return the info (from the store).
//   - failed: both return the failure for Config.FailureTTL. After it, a
//     JID still announcing the key is looked up again on demand (Caps and
//     Wait restart the lookup with that JID; a recently failed announcer is
//     not asked again, so this costs no query until BadAnnouncerTTL).
//   - a presence dropped under load: both say ErrOverloaded.
type lookup struct {
	d      *core
	io     lookupIO
	key    hashing.Key
	others []hashing.Key
	state  lookupState
	info   *hashing.Info
	err    error

	pending []announcer         // not asked yet, in arrival order
	known   map[string]struct{} // pending or outstanding: never queued twice
	out     []outstanding       // queries asked and not answered
	waiters []chan<- waitResult
	// jids asked for the key while this lookup ran and have not been
	// told how it went (within MaxWaitingJIDs across lookups). A
	// verified answer tells every JID announcing the key, through the
	// JID tables; a failure tells these, each in O(1), so that a flood of
	// JIDs announcing a bogus key never walks the whole list again.
	jids    []string
	gen     uint64 // numbers queries; a late answer finds no outstanding one
	round   uint64 // numbers rounds; a stale deadline finds another round
	lastErr error  // why the last announcer failed
	// missed: see lookupReq.missed.
	missed uint64
	// retried are the announcers whose query timed out once and were put
	// back in line (each is retried once per lookup).
	retried map[string]struct{}
	// storing is the query whose verified answer is being committed: the
	// lookup is resolved but stays live until then (0: none).
	storing uint64
	// late are the queries whose answer had verified when a failure
	// cancelled them (too late to stop): that answer still comes, and
	// resolves the key. At most maxLate.
	late []uint64
	// early are the announcers met at first contact (lookupReq.early)
	// whose shard's request has not come yet: that request is the same
	// presence, not a new announcer, and is told how the asking went.
	early map[string]struct{}
	// viaShard are the announcers whose shard's request came first: the
	// caller's early request for one of them, which raced its own
	// presence's shard request here, is that presence again. Asking it
	// anew (an announcer dropped over its rate or as bad leaves known)
	// counted one presence's drop twice. At most MaxAnnouncersPerKey.
	viaShard map[string]struct{}
	// began is when the lookup first had a key to ask about and did not
	// know it: the start of the resolve latency (zero: not measuring).
	began time.Time
}

type lookupState uint8

const (
	stateNew lookupState = iota
	stateQuerying
	stateResolved
	stateFailed
)

func (s lookupState) String() string {
	return [...]string{"new", "querying", "resolved", "failed"}[s]
}

func (s lookupState) done() bool { return s == stateResolved || s == stateFailed }

type announcer struct{ jid, node string }

type outstanding struct {
	a      announcer
	gen    uint64
	cancel func(lost bool) (tooLate bool)
	hedged bool // it passed the hedge delay: the next one may be asked
}

// maxOutstanding bounds one lookup's queries out at once: the first and
// two hedges. More would spend the announcers of a key on one slow moment.
const maxOutstanding = 3

// maxLate bounds the late answers a lookup waits for (lookup.late): those
// of one failure's queries, and of another's.
const maxLate = 2 * maxOutstanding

// lookupIO is what a lookup asks its runner to do.
type lookupIO interface {
	// ask queues a query to a for the lookup's key; its outcome comes
	// back as onAnswer(gen, ...), and its passing the hedge delay as
	// onSlow(gen). The returned function cancels it; lost says another
	// answer won. Cancel reports whether it came too late: the query's
	// answer verified already, and its onAnswer still comes.
	ask(a announcer, gen uint64) (cancel func(lost bool) (tooLate bool))
	// deadline delivers onDeadline(round) after d.
	deadline(d time.Duration, round uint64)
	// done says the lookup is resolved or failed: its actor may stop.
	done()
}

func newLookup(d *core, io lookupIO, k hashing.Key) *lookup {
	return &lookup{d: d, io: io, key: k, known: make(map[string]struct{})}
}

// onStart looks in the store once: another lookup may have verified the
// key since the request was routed.
func (l *lookup) onStart() {
	// Most often it was, a moment ago: requests that crossed the end of
	// its lookup start another. The tables' copy saves a store read.
	if info := l.d.infos.get(l.key); info != nil {
		l.state, l.info = stateResolved, info
		return
	}
	// A shard's store read missed the key, and nothing was written to the
	// store for it since: a read now would miss again.
	if l.d.writes.unchanged(l.key, l.missed) {
		return
	}
	if info, err := l.d.store.Get(l.key); err == nil {
		l.state, l.info = stateResolved, info
	}
}

// onRequest: jid announced the key (with others in the same presence).
func (l *lookup) onRequest(m *lookupReq) {
	_, metEarly := l.early[m.jid]
	_, metViaShard := l.viaShard[m.jid]
	if (metEarly || metViaShard) && m.early {
		// The caller's own first-contact request for a JID this
		// lookup has met already — the announcer of the query it
		// adopted, whose outcome may have come first, or one whose
		// shard's request overtook it. Nothing new: above all not an
		// announcer to ask (or count as dropped) again.
		if l.state.done() && !l.settling() {
			l.io.done()
		}
		return
	}
	if l.state == stateFailed {
		if info := l.d.infos.get(l.key); info != nil {
			// Verified since by another route — the late answer of a
			// query this lookup gave up on (queryQueue.run), a cluster
			// member's entry: nobody is asked again.
			l.state, l.info, l.err = stateResolved, info, nil
			l.d.failures.remove(l.key)
		}
	}
	if l.began.IsZero() && l.state != stateResolved {
		l.began = l.d.now()
	}
	for _, o := range m.others {
		if len(l.others) < maxKeys-1 && !slices.Contains(l.others, o) && o != l.key {
			l.others = append(l.others, o)
		}
	}
	if _, ok := l.early[m.jid]; ok && !m.early {
		// The shard's request for a presence first met early: the JID
		// was asked (or is in line) already.
		delete(l.early, m.jid)
		switch l.state {
		case stateResolved:
			l.d.tell(m.jid, l.key, l.info, nil)
		case stateFailed:
			l.d.tell(m.jid, l.key, nil, l.err)
		default:
			l.hold(m.jid)
			return
		}
		if !l.settling() {
			l.io.done()
		}
		return
	}
	switch {
	case l.state == stateResolved:
		if !m.early {
			l.d.counters.DedupJoins.Add(1)
			l.d.tell(m.jid, l.key, l.info, nil)
		}
		if !l.settling() {
			l.io.done()
		}
		return
	case l.state == stateQuerying && !m.early:
		l.d.counters.DedupJoins.Add(1)
	}
	if m.early {
		if l.add(announcer{m.jid, m.node}) {
			if l.early == nil {
				l.early = make(map[string]struct{})
			}
			l.early[m.jid] = struct{}{}
		}
	} else {
		l.hold(m.jid)
		if l.add(announcer{m.jid, m.node}) && len(l.viaShard) < l.d.cfg.MaxAnnouncersPerKey {
			if l.viaShard == nil {
				l.viaShard = make(map[string]struct{})
			}
			l.viaShard[m.jid] = struct{}{}
		}
	}
	switch l.state {
	case stateNew, stateFailed:
		l.next()
	case stateQuerying:
		if l.wantMore() {
			// Nothing is out (earlier announcers were skipped), or
			// every query out is past the hedge delay already: the
			// new announcer is asked now, not when those time out.
			l.next()
		}
	}
}

// adopt takes a query already out as the lookup's first: the one the
// ingesting caller sent to a at the key's first contact (early.go), at
// time at, numbered gen. Its outcome comes back like any other's. A lookup
// that is not new (it found the key on start) cancels it instead.
func (l *lookup) adopt(a announcer, gen uint64, cancel func(lost bool) bool, at time.Time) {
	if l.state != stateNew || l.gen != 0 {
		// Not counted as a duplicate if too late: the answer the
		// lookup found may be this query's own (earlyQuery.send).
		cancel(l.state == stateResolved)
		return
	}
	l.known[a.jid] = struct{}{}
	// The caller's own early request, and then its shard's, follow:
	// the JID is asked already and, once its shard has applied the
	// presence, held to be told.
	if l.early == nil {
		l.early = make(map[string]struct{})
	}
	l.early[a.jid] = struct{}{}
	l.began = at
	l.state = stateQuerying
	l.d.failures.remove(l.key)
	l.round++
	l.io.deadline(l.d.cfg.LookupTimeout, l.round)
	l.gen = gen
	l.out = append(l.out, outstanding{a: a, gen: gen, cancel: cancel})
}

// hold keeps jid to be told how the lookup ends, within MaxWaitingJIDs.
func (l *lookup) hold(jid string) {
	if l.d.waiting.Add(1) <= int64(l.d.cfg.MaxWaitingJIDs) {
		l.jids = append(l.jids, jid)
		return
	}
	l.d.waiting.Add(-1)
	l.d.counters.DropNotify.Add(1)
}

// tellHeld tells the held JIDs that the key failed with err, and lets
// them go.
func (l *lookup) tellHeld(err error) {
	for _, j := range l.jids {
		l.d.tell(j, l.key, nil, err)
	}
	l.release()
}

func (l *lookup) release() {
	l.d.waiting.Add(-int64(len(l.jids)))
	clear(l.jids)
	l.jids = l.jids[:0]
}

// add remembers a as an announcer to ask, within MaxAnnouncersPerKey, and
// reports whether it is new.
func (l *lookup) add(a announcer) bool {
	if _, dup := l.known[a.jid]; dup {
		return false
	}
	if len(l.known) >= l.d.cfg.MaxAnnouncersPerKey {
		l.d.counters.DropAnnounce.Add(1)
		return false
	}
	l.known[a.jid] = struct{}{}
	l.pending = append(l.pending, a)
	return true
}

// awaitsShards reports whether an announcer met early has yet to be
// announced through its shard: a failed lookup waits a moment for it
// (earlyGrace), so that the JID is told this outcome instead of starting
// a lookup of its own that would ask it again.
func (l *lookup) awaitsShards() bool { return len(l.early) > 0 && l.state == stateFailed }

// onWait: someone waits for the outcome.
func (l *lookup) onWait(reply chan<- waitResult) {
	switch l.state {
	case stateResolved:
		reply <- waitResult{key: l.key, info: l.info}
		if !l.settling() {
			l.io.done()
		}
	case stateFailed:
		reply <- waitResult{key: l.key, err: l.err}
		l.io.done()
	case stateNew:
		// Nothing to ask and nothing asked: a lookup spawned only to
		// be waited on.
		reply <- waitResult{key: l.key, err: ErrNotFound}
		l.io.done()
	default:
		l.waiters = append(l.waiters, reply)
	}
}

// next asks announcers until maxOutstanding are out or none is left worth
// asking; with nothing out and nothing left, the lookup fails.
func (l *lookup) next() {
	why := l.lastErr
	if why == nil {
		why = ErrAnnouncersFailed
	} else {
		why = fmt.Errorf("%w: last: %w", ErrAnnouncersFailed, why)
	}
	droppedBad := false
	for len(l.pending) > 0 && l.wantMore() {
		a := l.pending[0]
		l.pending = l.pending[1:]
		if _, bad := l.d.bad.get(badKey{a.jid, l.key}); bad {
			delete(l.known, a.jid)
			l.d.counters.DropBad.Add(1)
			droppedBad = true
			continue
		}
		if !l.d.limiter.allow(a.jid) {
			delete(l.known, a.jid)
			l.d.counters.DropRate.Add(1)
			why = ErrRateLimited
			continue
		}
		l.ask(a)
	}
	if len(l.out) > 0 {
		return
	}
	if droppedBad && why == ErrAnnouncersFailed {
		// Having asked nobody, this lookup has no cause of its own: the
		// failure on record for the key, which made its announcers bad,
		// has it (a lie, say).
		if prev, ok := l.d.failures.get(l.key); ok && errors.Is(prev, ErrAnnouncersFailed) {
			why = prev
		}
	}
	l.finish(nil, why)
}

// wantMore: nothing is out, or every query out has passed the hedge delay
// and there is room for a hedge.
func (l *lookup) wantMore() bool {
	if len(l.out) >= maxOutstanding {
		return false
	}
	for _, o := range l.out {
		if !o.hedged {
			return false
		}
	}
	return true
}

func (l *lookup) ask(a announcer) {
	if l.state != stateQuerying {
		// The key is pending again: an earlier failure no longer
		// answers for it.
		l.d.failures.remove(l.key)
		l.state = stateQuerying
		l.round++
		l.io.deadline(l.d.cfg.LookupTimeout, l.round)
	}
	if len(l.out) > 0 {
		l.d.counters.Hedges.Add(1)
	}
	l.gen++
	l.out = append(l.out, outstanding{a: a, gen: l.gen, cancel: l.io.ask(a, l.gen)})
}

// onSlow: query gen passed the hedge delay unanswered.
func (l *lookup) onSlow(gen uint64) {
	i := l.find(gen)
	if i < 0 || l.state != stateQuerying || l.d.cfg.HedgeMin < 0 {
		return
	}
	l.out[i].hedged = true
	if len(l.pending) > 0 {
		l.next()
	}
}

func (l *lookup) find(gen uint64) int {
	for i, o := range l.out {
		if o.gen == gen {
			return i
		}
	}
	return -1
}

// onAnswer: query gen to jid ended with info or err.
func (l *lookup) onAnswer(m *queryDone) {
	i := l.find(m.gen)
	if i < 0 || l.state != stateQuerying {
		// A late answer: its query was cancelled, and one that had
		// verified by then was counted where it was (finish). One that
		// verified as the lookup failed (its cancel came too late) is
		// as good as any other: the JIDs told of the failure are told
		// of it.
		j := slices.Index(l.late, m.gen)
		if j < 0 {
			return
		}
		l.late = slices.Delete(l.late, j, j+1)
		if m.err == nil && l.state != stateResolved {
			l.d.counters.LateAnswers.Add(1)
			l.resolve(m)
			return
		}
		// Resolved meanwhile by another route: the answer it waited
		// for has come, and it may end.
		if l.state.done() && !l.settling() {
			l.io.done()
		}
		return
	}
	a := l.out[i].a
	l.out = slices.Delete(l.out, i, i+1)
	delete(l.known, a.jid)
	if m.err == nil {
		l.resolve(m)
		return
	}
	if errors.Is(m.err, context.DeadlineExceeded) && l.retry(a) {
		// An announcer that did not answer in time may be slow, not
		// silent — a lost packet, a loaded host (ours or theirs). It is
		// asked once more, after everyone else in line, before it counts
		// as failed: with a single honest announcer, one late answer
		// would otherwise leave its key unresolved until someone else
		// announced it.
		l.lastErr = m.err
		l.next()
		return
	}
	if !errors.Is(m.err, ErrClusterUnavailable) && !errors.Is(m.err, ErrOverloaded) && !errors.Is(m.err, ErrClosed) &&
		!unreachable(m.err) {
		// The announcer's fault, not ours.
		l.d.bad.put(badKey{m.jid, l.key}, struct{}{})
	}
	if errors.Is(m.err, ErrClosed) {
		l.finish(nil, ErrClosed)
		return
	}
	l.d.log.Debug("announcer failed", "key", l.key.String(), "jid", m.jid, "err", m.err)
	l.lastErr = m.err
	l.next()
}

// resolve ends the lookup with m's verified answer.
func (l *lookup) resolve(m *queryDone) {
	if m.settled {
		// Counted, and its latency taken, by the early query where it
		// was served: nothing to measure here.
		l.began = time.Time{}
	} else {
		l.d.counters.Resolved.Add(1)
	}
	// Every verified answer is being committed (serveThenStore): the
	// lookup stays until queryStored.
	l.storing = m.gen
	info := m.info
	if !m.settled {
		// The shards learn the answer before the waiters do, so that
		// Caps and Supports, asked by a waiter just answered, agree with
		// it while the store has yet to commit it. (An answer the early
		// query's caller settled is there already.)
		info = l.d.verified(l.key, l.others, info)
	}
	l.finish(info, nil)
}

// retry puts a back in line after a timeout, once per lookup.
func (l *lookup) retry(a announcer) bool {
	if _, again := l.retried[a.jid]; again {
		return false
	}
	if l.retried == nil {
		l.retried = make(map[string]struct{})
	}
	l.retried[a.jid] = struct{}{}
	l.known[a.jid] = struct{}{}
	l.pending = append(l.pending, a)
	l.d.counters.Retries.Add(1)
	return true
}

// onDeadline: round's LookupTimeout passed.
func (l *lookup) onDeadline(round uint64) {
	if round != l.round || l.state != stateQuerying {
		return
	}
	if len(l.pending) == 0 {
		// Nobody left to ask: the queries out (queued or running) are
		// cancelled with the lookup, so none goes out after it ended.
		l.finish(nil, ErrLookupTimeout)
		return
	}
	// Everyone waiting has waited a whole round: tell them, and go on
	// with who is left to ask — they would otherwise need to announce
	// again to be asked at all. The queries out go on too: an answer
	// from them is as good as any.
	l.d.counters.LookupRounds.Add(1)
	for _, w := range l.waiters {
		w <- waitResult{key: l.key, err: ErrLookupTimeout}
	}
	l.waiters = nil
	l.tellHeld(ErrLookupTimeout)
	l.round++
	l.io.deadline(l.d.cfg.LookupTimeout, l.round)
	if len(l.out) == 0 {
		l.next()
	}
}

// onStop: the engine is closing.
func (l *lookup) onStop() {
	if !l.state.done() {
		l.finish(nil, ErrClosed)
	}
}

// finish ends the lookup with info — which onAnswer has told the tables —
// or err, and tells everyone.
func (l *lookup) finish(info *hashing.Info, err error) {
	if err != nil && !errors.Is(err, ErrClosed) {
		// On record before the queries are cancelled: a cancelled one
		// whose true answer comes all the same takes it off again
		// (queryQueue.run), which it could not do before the put.
		l.d.failures.put(l.key, err)
	}
	for _, o := range l.out {
		// A query whose answer verified before the cancel is served
		// all the same. When another answer won, that is a hedge's
		// cost, counted here: its onAnswer may come after the lookup
		// has ended, or never reach it. When the lookup failed, that
		// answer resolves the key once it comes.
		if o.cancel == nil || !o.cancel(err == nil) {
			continue
		}
		if err == nil {
			l.d.counters.DuplicateAnswers.Add(1)
		} else if !errors.Is(err, ErrClosed) {
			if len(l.late) == maxLate {
				l.late = l.late[1:]
			}
			l.late = append(l.late, o.gen)
		}
	}
	l.out = nil
	if err == nil {
		l.late = nil
		l.state, l.info, l.err = stateResolved, info, nil
		l.d.failures.remove(l.key)
		if !l.began.IsZero() {
			l.d.latency.resolve.observe(l.d.now().Sub(l.began))
		}
		for _, w := range l.waiters {
			w <- waitResult{key: l.key, info: info}
		}
		l.release()
	} else {
		l.state, l.err = stateFailed, err
		l.d.counters.Failed.Add(1)
		for _, w := range l.waiters {
			w <- waitResult{key: l.key, err: err}
		}
		l.tellHeld(err)
		// Whoever was not asked is dropped with the lookup: they were
		// skipped (bad, rate-limited) or the engine is closing.
		l.pending = nil
		clear(l.known)
	}
	l.waiters = nil
	l.lastErr = nil
	l.began = time.Time{}
	clear(l.retried)
	if !l.settling() {
		l.io.done()
	}
}

// settling: an answer is still to come or to be committed — its write
// (storing), or a late one (late) — and the lookup must not end before.
func (l *lookup) settling() bool { return l.storing != 0 || len(l.late) > 0 }

// onStored: query gen's answer is durable; a resolved lookup can end.
func (l *lookup) onStored(gen uint64) {
	if gen != l.storing {
		return
	}
	l.storing = 0
	if l.state.done() && !l.settling() {
		l.io.done()
	}
}
