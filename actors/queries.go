package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capsengine/capsengine/hashing"
)

// The query path. Lookups do not run queries themselves: they queue jobs,
// and a bounded pool of workers pulls them, so a query waiting for its
// turn costs a queue entry, not a goroutine, and one whose lookup ended
// meanwhile is dropped unsent.
//
// A worker holds one of MaxQueriesInFlight slots while its query is
// young. A query still unanswered after the hedge delay gives its slot up
// and finishes as a "slow" query (at most MaxSlowQueries of them; past
// that it is abandoned as timed out): a flood of announcers that never
// answer then costs each slot the hedge delay, not the whole query
// timeout, and honest peers' queries behind them go out within seconds.
// The same moment tells the lookup that it may hedge (ask its next
// announcer too).

// queryJob is one disco#info query, from queueing to its outcome.
type queryJob struct {
	queued time.Time // when it was pushed (Latencies.Waits)
	key    hashing.Key
	others []hashing.Key
	a      announcer
	gen    uint64
	// done receives the outcome (exactly once, unless the job was
	// cancelled before it started); slow, when non-nil, is called once
	// when the query passes the hedge delay unanswered.
	done   func(*queryDone)
	slow   func()
	stored func() // called once a verified answer is durable (or failed to be)
	// expires, when non-zero, drops the job unsent if it is still queued
	// then (a cluster owner waits for the answer only so long).
	expires time.Time
	// forOwner: the job is a query a cluster owner granted this member's
	// lookup, which serves and stores the answer itself (clusterAsk's
	// caller); storing it here too would write it twice.
	forOwner bool

	mu        sync.Mutex
	cancelled bool
	lost      bool               // cancelled because another answer won
	cancel    context.CancelFunc // set while running
	// serving: its answer verified before any Cancel, and is being
	// served; a Cancel from then on is too late to stop it.
	serving bool
}

// Cancel drops the job if it has not started and aborts its query if it
// has; lost says another answer won. A cancelled job reports nothing. It
// returns whether the cancel came too late: the job's answer had verified
// already and is being served (its done still comes). Safe to call more
// than once and from any goroutine.
func (j *queryJob) Cancel(lost bool) (tooLate bool) {
	j.mu.Lock()
	if j.serving {
		j.mu.Unlock()
		return true
	}
	j.cancelled, j.lost = true, lost
	c := j.cancel
	j.mu.Unlock()
	if c != nil {
		c()
	}
	return false
}

// serve marks the job's verified answer as being served, unless the job
// was cancelled first; then it reports whether another answer had won.
func (j *queryJob) serve() (ok, lost bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cancelled {
		return false, j.lost
	}
	j.serving = true
	return true, false
}

// start marks the job running with cancel; false when it was cancelled.
func (j *queryJob) start(cancel context.CancelFunc) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cancelled {
		return false
	}
	j.cancel = cancel
	return true
}

func (j *queryJob) isCancelled() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cancelled
}

// queryQueue is the FIFO of jobs and the pool of workers that run them.
type queryQueue struct {
	d *core

	mu    sync.Mutex
	jobs  []*queryJob // jobs[head:] are queued
	head  int
	fresh int // workers holding a slot (≤ MaxQueriesInFlight)
	// idle are the workers waiting for a job, each on its own channel,
	// the most recent last. A job wakes the most recent: under a steady
	// trickle of jobs the same few workers take them all, and the rest,
	// left over from a burst, time out and exit. (sync.Cond wakes the
	// longest waiting: each of the burst's workers was woken in turn, none
	// ever idled out, and a soak kept 550 of them for good.)
	idle []chan struct{}
	// idleAfter is how long an idle worker waits for a job before it
	// exits: idleWorker, shorter in tests.
	idleAfter time.Duration
	closed    bool
	slow      atomic.Int64 // queries past the hedge delay (≤ MaxSlowQueries)
	puts      atomic.Int64 // verified answers not yet committed (Flush waits for none)
	running   atomic.Int64 // queries being asked now, slow ones included
	alive     atomic.Int64 // worker goroutines, idle ones included
	workers   sync.WaitGroup
}

func newQueryQueue(d *core) *queryQueue {
	return &queryQueue{d: d, idleAfter: idleWorker}
}

// idleWorker is how long a worker with nothing to do stays: long enough
// not to churn goroutines between bursts, short enough that a quiet
// engine holds none.
const idleWorker = 10 * time.Second

// push queues j and makes sure a worker will take it.
func (q *queryQueue) push(j *queryJob) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		j.done(&queryDone{gen: j.gen, jid: j.a.jid, err: ErrClosed})
		return
	}
	j.queued = time.Now()
	q.jobs = append(q.jobs, j)
	q.d.queued.Add(1)
	q.d.counters.QueriesQueued.Add(1)
	q.spawnLocked()
	q.mu.Unlock()
}

// spawnLocked wakes an idle worker for the queued jobs, or starts one
// while fewer than MaxQueriesInFlight hold a slot.
func (q *queryQueue) spawnLocked() {
	if len(q.jobs)-q.head == 0 {
		return
	}
	if n := len(q.idle); n > 0 {
		// Buffered: the worker takes the token when it next looks.
		q.idle[n-1] <- struct{}{}
		q.idle[n-1] = nil
		q.idle = q.idle[:n-1]
		return
	}
	if q.fresh < q.d.cfg.MaxQueriesInFlight {
		q.fresh++
		q.workers.Add(1)
		q.alive.Add(1)
		go q.work()
	}
}

// pop takes the next job, waiting up to idleAfter for one; nil means the
// worker should exit (and has given its slot up).
func (q *queryQueue) pop() *queryJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	var wake chan struct{}
	var timer *time.Timer
	for len(q.jobs)-q.head == 0 && !q.closed {
		if wake == nil {
			wake = make(chan struct{}, 1)
			timer = time.NewTimer(q.idleAfter)
			defer timer.Stop()
		}
		q.idle = append(q.idle, wake)
		q.mu.Unlock()
		timedOut := false
		select {
		case <-wake:
		case <-timer.C:
			timedOut = true
		}
		q.mu.Lock()
		if timedOut {
			if i := slices.Index(q.idle, wake); i >= 0 {
				// Nobody woke it: it leaves.
				q.idle = slices.Delete(q.idle, i, i+1)
				q.fresh--
				return nil
			}
			// Woken as the timer fired: the token is its.
			<-wake
		}
		// Woken by a push, or by close: a job may be there, or may have
		// been taken by a worker that was running already. Look again,
		// with a fresh idle timeout.
		timer.Reset(q.idleAfter)
	}
	if len(q.jobs)-q.head == 0 || q.closed {
		q.fresh--
		return nil
	}
	j := q.jobs[q.head]
	q.jobs[q.head] = nil
	q.head++
	if q.head == len(q.jobs) {
		q.jobs, q.head = q.jobs[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.jobs) {
		// Keep the backing array bounded by what is queued.
		q.jobs = slices.Clone(q.jobs[q.head:])
		q.head = 0
	}
	q.d.queued.Add(-1)
	return j
}

func (q *queryQueue) work() {
	defer q.workers.Done()
	defer q.alive.Add(-1)
	for {
		j := q.pop()
		if j == nil {
			return
		}
		if !q.run(j) && !q.rejoin() {
			// The query went slow, or waited for its answer's commit,
			// and gave its slot to another worker; no slot is free now.
			return
		}
	}
}

// rejoin takes a slot back for a worker whose query gave its own away,
// if one is free. A worker that goes on keeps its grown stack: starting a
// fresh goroutine for every verified answer had each grow its stack again
// in the verifier, 4% of the engine's CPU in a cold flood.
func (q *queryQueue) rejoin() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.fresh >= q.d.cfg.MaxQueriesInFlight {
		return false
	}
	q.fresh++
	return true
}

// run asks j's announcer. It reports whether this worker still holds its
// slot (false: the query went slow and the slot was handed on).
func (q *queryQueue) run(j *queryJob) (kept bool) {
	d := q.d
	d.latency.queued.since(j.queued)
	if !j.expires.IsZero() && d.now().After(j.expires) {
		d.counters.QueriesCancelled.Add(1)
		if !j.isCancelled() {
			j.done(&queryDone{gen: j.gen, jid: j.a.jid, err: ErrOverloaded})
		}
		return true
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.QueryTimeout)
	defer cancel()
	if !j.start(cancel) {
		d.counters.QueriesCancelled.Add(1)
		return true
	}
	kept = true
	var mu sync.Mutex // orders the hedge timer against the answer
	answered := false
	hedge := time.AfterFunc(d.hedgeDelay(), func() {
		mu.Lock()
		defer mu.Unlock()
		if answered {
			return
		}
		kept = false
		// Give the slot to a new worker; this query finishes as a
		// slow one, if there is room for one.
		q.mu.Lock()
		q.fresh--
		q.spawnLocked()
		q.mu.Unlock()
		if q.slow.Add(1) > int64(d.cfg.MaxSlowQueries) {
			d.counters.SlowAbandoned.Add(1)
			cancel()
		}
		if j.slow != nil {
			j.slow()
		}
	})
	q.running.Add(1)
	var wasKept bool
	// The peer's answer stops the clock: verifying and storing it are
	// our own time, and a slow disk must not look like a silent peer.
	res := d.ask(ctx, j, func() {
		mu.Lock()
		answered = true
		wasKept = kept
		mu.Unlock()
		hedge.Stop()
		q.running.Add(-1)
	})
	if !wasKept {
		q.slow.Add(-1)
	}
	if res.err != nil {
		if !j.isCancelled() {
			j.done(res)
		}
		return wasKept
	}
	if ok, lost := j.serve(); !ok {
		if lost {
			// Another answer won: this honest one is a hedge's cost.
			d.counters.DuplicateAnswers.Add(1)
			return wasKept
		}
		// Its lookup failed (timed out) or ended while the peer
		// answered. A verified answer is never thrown away: the key's
		// JIDs are told, as from any other route, and it is stored, so
		// that nobody asks for it again.
		if d.ctx.Err() == nil {
			d.counters.LateAnswers.Add(1)
			q.serveThenStore(j.key, j.others, res.info, res.proof, j.a, func() {
				d.verified(j.key, j.others, res.info)
				d.failures.remove(j.key)
			}, nil, func() {})
		}
		return wasKept
	}
	if j.forOwner {
		j.done(res)
		return wasKept
	}
	// The verified answer is served at once; the durable write follows
	// (the store commits in groups, one fsync for many). The lookup stays
	// live until stored says so, and the shards send its key's presences
	// to it meanwhile, so nobody asks again for a key on its way to disk.
	// A crash before the commit loses only entries not yet committed,
	// which are asked again: never a wrong one.
	q.serveThenStore(j.key, j.others, res.info, res.proof, j.a, func() { j.done(res) }, func() {
		if wasKept && q.puts.Load() <= int64(d.cfg.MaxQueriesInFlight) {
			// The disk is not a peer: the slot goes to the next query
			// while this goroutine waits for the commit.
			wasKept = false
			q.mu.Lock()
			q.fresh--
			q.spawnLocked()
			q.mu.Unlock()
		}
	}, func() {
		if j.stored != nil {
			j.stored()
		}
	})
	return wasKept
}

// serveThenStore serves a verified answer (serve), then stores its
// entries and calls stored once they are durable (or refused). The answer
// counts in puts from before it is served until then, so that Flush,
// called once the answer is known, waits for its commit. An AsyncStore
// takes the entries without the caller waiting; with another Store the
// caller waits, and beforeWait, when set, runs first.
func (q *queryQueue) serveThenStore(key hashing.Key, others []hashing.Key, info *hashing.Info, proof hashing.Proof, a announcer, serve, beforeWait, stored func()) {
	d := q.d
	q.puts.Add(1)
	serve()
	done := func() {
		q.puts.Add(-1)
		stored()
	}
	if as, ok := d.store.(AsyncStore); ok {
		d.putVerifiedAsync(as, key, others, info, proof, a, done)
		return
	}
	if beforeWait != nil {
		beforeWait()
	}
	d.putVerified(key, others, info, proof, a)
	done()
}

// close stops the workers once their current queries return; queued jobs
// get ErrClosed.
func (q *queryQueue) close() {
	q.mu.Lock()
	q.closed = true
	rest := q.jobs[q.head:]
	q.jobs, q.head = nil, 0
	for _, w := range q.idle {
		w <- struct{}{}
	}
	q.idle = nil
	q.mu.Unlock()
	for _, j := range rest {
		q.d.queued.Add(-1)
		if !j.isCancelled() {
			j.done(&queryDone{gen: j.gen, jid: j.a.jid, err: ErrClosed})
		}
	}
}

// ask runs one query on a worker: query and verify; run stores a verified
// answer.
//
// answered is called once the querier has returned, before the answer is
// verified and stored.
func (d *core) ask(ctx context.Context, j *queryJob, answered func()) *queryDone {
	res := &queryDone{gen: j.gen, jid: j.a.jid}
	d.counters.Queries.Add(1)
	began := d.now()
	info, err := d.querier.QueryInfo(ctx, j.a.jid, j.key.QueryNode(j.a.node))
	took := d.now().Sub(began)
	res.at = time.Now()
	answered()
	if err == nil {
		d.latency.query.observe(took)
	}
	switch {
	case err != nil && ctx.Err() == context.DeadlineExceeded:
		d.counters.Timeouts.Add(1)
		res.err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		return res
	case err != nil && d.ctx.Err() != nil:
		res.err = ErrClosed
		return res
	case err != nil && ctx.Err() == context.Canceled:
		res.err = errCancelled
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
	proof, err := hashing.Prove(j.key, info, d.cfg.Verify)
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
	// Only honest answers teach the hedge delay: a liar's speed says
	// nothing about how long an honest peer takes.
	d.answers.observe(took)
	if proof.Method() != hashing.Strict {
		d.counters.LenientOK.Add(1)
	}
	res.info, res.proof = info, proof
	return res
}

// errCancelled: the query was aborted because its lookup no longer needs
// it. The lookup never sees it (a cancelled job reports nothing).
var errCancelled = errors.New("actors: query cancelled")
