package actors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// Unhashed entities (Config.QueryUnhashed): available presences with no
// verifiable hash — no caps at all, legacy XEP-0115 v1.0 caps (node, ver
// and ext, no hash attribute), an algorithm we do not implement, or a
// hash that does not decode. Gateways, bots and old clients send these.
// With nothing to verify, an answer proves nothing about anyone else, so
// each full JID is asked once, on its own, and its answer is kept for it
// alone: in its shard's table, in memory, never in the store, never in the
// shared infos, and forgotten when the JID goes offline (Conversations
// #1643 and dino #259 asked for exactly this).
//
// Which node is asked: none. XEP-0115 1.6's "Legacy Format" section gives
// two ways with caps that have no hash attribute: an application that
// supports the legacy format checks the node#ver and node#ext
// combinations of the archived version 1.3 (one query for the base set
// and one per ext bundle, the union being the entity's features); one
// that does not SHOULD ignore ver and SHOULD NOT cache it. The engine
// takes the second way, and asks the full JID a disco#info without a
// node, which XEP-0030 answers with everything the entity supports now:
// the same union in one round trip, where the bundle route costs
// 1 + len(ext) queries. Bundles exist so that answers can be cached
// across entities running the same software — exactly what an answer no
// hash checks must never be — so they buy nothing here. ver and ext are
// therefore not queried; the answer is the JID's alone.
//
// A JID that has announced a verifiable hash keeps it: a later presence
// without one (some clients leave caps out of presences after the first)
// does not replace it and asks nothing. A verifiable hash announced later
// replaces the JID's unhashed entry.
//
// Queries are bounded engine-wide by a token bucket (UnhashedRate,
// UnhashedBurst) and by MaxUnhashedInFlight; entries by MaxUnhashed. Each
// drop is counted, and the JID hears CapsFailed (ErrRateLimited or
// ErrOverloaded) and is asked again on its next presence, or by Caps or
// Wait once the failure is stale.

// unhashedEntry is one unhashed JID. Its fields are guarded by its table's
// lock.
type unhashedEntry struct {
	jid     string        // the table's own copy, which events carry
	gen     uint64        // the query whose outcome counts
	done    bool          // an outcome is known: info, or err
	info    *hashing.Info // the JID's own answer
	err     error
	exp     time.Time // when the outcome goes stale and is asked again
	asked   bool      // Caps asked the shard to ask again (once per staleness)
	waiters []chan<- waitResult
}

// maxUnhashedWaiters bounds the Waits held by one pending entry; past it
// a Wait returns ErrPending rather than hold memory a caller controls.
const maxUnhashedWaiters = 1024

// refreshUnhashed asks a shard to query a stale unhashed JID again (sent
// by Caps, which runs outside the shard).
type refreshUnhashed struct{ jid string }

// applyUnhashedLocked handles an available presence of jid without a
// verifiable hash.
func (d *core) applyUnhashedLocked(t *table, jid string) {
	if _, ok := t.jids.get(fingerprintOf(jid)); ok {
		return // a verifiable hash is better than any unverified answer
	}
	e := t.unhashed[jid]
	now := d.now()
	if e != nil {
		if !e.done {
			return // asked already
		}
		// A presence retries a JID dropped under load at once (the bucket
		// says whether it may); other outcomes hold until they are stale.
		if now.Before(e.exp) && !errors.Is(e.err, ErrRateLimited) && !errors.Is(e.err, ErrOverloaded) {
			return
		}
	} else {
		if !t.roomUnhashedLocked(now, d.unhashedPerShard) {
			d.counters.UnhashedDropFull.Add(1)
			return
		}
		// jid may point into a batch's arena: the entry keeps a copy.
		e = &unhashedEntry{jid: strings.Clone(jid)}
		if t.unhashed == nil {
			t.unhashed = make(map[string]*unhashedEntry)
		}
		t.unhashed[e.jid] = e
	}
	d.queryUnhashedLocked(t, e)
}

// roomUnhashedLocked makes room for one more entry if the table is full,
// by forgetting a few stale ones nobody waits for; false when there is
// none to forget (the new JID is then not asked, counted).
func (t *table) roomUnhashedLocked(now time.Time, max int) bool {
	if len(t.unhashed) < max {
		return true
	}
	seen := 0
	for jid, e := range t.unhashed {
		if e.done && len(e.waiters) == 0 && !now.Before(e.exp) {
			delete(t.unhashed, jid)
			t.unhashed = compact(t.unhashed, &t.unhashedDeletes)
			return true
		}
		if seen++; seen == 16 {
			break
		}
	}
	return false
}

// queryUnhashedLocked starts a query for e's JID, whose entry is in t, or
// records why it cannot.
func (d *core) queryUnhashedLocked(t *table, e *unhashedEntry) {
	t.unhashedGen++
	e.gen, e.done, e.asked, e.info, e.err = t.unhashedGen, false, false, nil, nil
	if !d.unhashedRate.allow("") {
		d.counters.UnhashedDropRate.Add(1)
		d.unhashedOutcomeLocked(t, e, nil, ErrRateLimited)
		return
	}
	select {
	case d.unhashedSlots <- struct{}{}:
	default:
		d.counters.UnhashedDropBusy.Add(1)
		d.unhashedOutcomeLocked(t, e, nil, ErrOverloaded)
		return
	}
	d.counters.UnhashedQueries.Add(1)
	// Only the shard actors start these (Caps sends its shard a
	// refreshUnhashed), and Close stops them before it waits for tasks.
	d.tasks.Add(1)
	go d.runUnhashed(t, e.jid, e.gen)
}

// runUnhashed asks jid and records the outcome, unless jid went offline
// or was asked again meanwhile.
func (d *core) runUnhashed(t *table, jid string, gen uint64) {
	defer d.tasks.Done()
	info, err := d.askUnhashed(jid)
	<-d.unhashedSlots
	t.mu.Lock()
	defer t.mu.Unlock()
	defer t.flushLocked()
	e := t.unhashed[jid]
	if e == nil || e.gen != gen {
		return
	}
	d.unhashedOutcomeLocked(t, e, info, err)
}

// askUnhashed sends the query: to the full JID, no node (see above).
// Everything but a usable answer is a counted failure, whatever the
// querier does — a panic included: it parses what a peer sent.
func (d *core) askUnhashed(jid string) (info *hashing.Info, err error) {
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.QueryTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			d.counters.Panics.Add(1)
			d.log.Error("unhashed query panicked", "jid", jid, "panic", p)
			info, err = nil, fmt.Errorf("actors: unhashed query panicked: %v", p)
		}
		if err != nil {
			if d.ctx.Err() != nil {
				err = ErrClosed
				return
			}
			d.counters.UnhashedFailures.Add(1)
			return
		}
		d.counters.UnhashedAnswers.Add(1)
	}()
	info, err = d.querier.QueryInfo(ctx, jid, "")
	switch {
	case err != nil && ctx.Err() == context.DeadlineExceeded:
		return nil, fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	case err != nil:
		return nil, err
	case info == nil:
		return nil, errNoAnswer
	}
	if err := checkUnhashedAnswer(info, d.cfg.Limits); err != nil {
		return nil, err
	}
	return info, nil
}

var errNoAnswer = errors.New("actors: querier returned no answer")

// checkUnhashedAnswer holds an answer to the limits a decoded one meets
// (messages.Limits): a Querier that does not decode with them, or builds
// answers itself, must not make a JID's entry larger than the decoder
// would have let in. The answer is not §5.4-validated: with no hash,
// nothing depends on its canonical form.
func checkUnhashedAnswer(info *hashing.Info, lim messages.Limits) error {
	def := messages.DefaultLimits()
	get := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	fields, values, size := 0, 0, len(info.Node)
	for _, id := range info.Identities {
		size += len(id.Category) + len(id.Type) + len(id.Lang) + len(id.Name)
	}
	for _, f := range info.Features {
		size += len(f)
	}
	for _, f := range info.Forms {
		fields += len(f.Fields)
		size += len(f.Type)
		for _, fl := range f.Fields {
			values += len(fl.Values)
			size += len(fl.Var) + len(fl.Type)
			for _, v := range fl.Values {
				size += len(v)
			}
		}
	}
	tooMany := func(what string, n, max int) error {
		return fmt.Errorf("actors: unhashed answer: %w: %d %s (limit %d)", messages.ErrTooMany, n, what, max)
	}
	switch {
	case len(info.Identities) > get(lim.MaxIdentities, def.MaxIdentities):
		return tooMany("identities", len(info.Identities), get(lim.MaxIdentities, def.MaxIdentities))
	case len(info.Features) > get(lim.MaxFeatures, def.MaxFeatures):
		return tooMany("features", len(info.Features), get(lim.MaxFeatures, def.MaxFeatures))
	case len(info.Forms) > get(lim.MaxForms, def.MaxForms):
		return tooMany("forms", len(info.Forms), get(lim.MaxForms, def.MaxForms))
	case fields > get(lim.MaxFields, def.MaxFields):
		return tooMany("fields", fields, get(lim.MaxFields, def.MaxFields))
	case values > get(lim.MaxValues, def.MaxValues):
		return tooMany("values", values, get(lim.MaxValues, def.MaxValues))
	case size > get(lim.MaxDiscoInfoBytes, def.MaxDiscoInfoBytes):
		return fmt.Errorf("actors: unhashed answer: %w: %d bytes of text (limit %d)", messages.ErrTooLarge,
			size, get(lim.MaxDiscoInfoBytes, def.MaxDiscoInfoBytes))
	}
	return nil
}

// unhashedOutcomeLocked records the outcome of e's JID, tells its waiters
// and queues its event (marked Unverified; the Key is zero: there is
// none).
func (d *core) unhashedOutcomeLocked(t *table, e *unhashedEntry, info *hashing.Info, err error) {
	now := d.now()
	e.done, e.info, e.err = true, info, err
	switch {
	case err == nil:
		e.exp = now.Add(d.cfg.UnhashedTTL)
	case errors.Is(err, ErrRateLimited) || errors.Is(err, ErrOverloaded):
		// About when the bucket has a token again: Caps polling a
		// dropped JID asks no faster than the bucket refills. (The float
		// is clamped before its conversion, which could overflow.)
		e.exp = now.Add(time.Duration(min(float64(time.Second)/d.cfg.UnhashedRate, float64(d.cfg.FailureTTL))))
	default:
		e.exp = now.Add(d.cfg.FailureTTL)
	}
	for _, w := range e.waiters {
		w <- waitResult{info: info, err: err}
	}
	e.waiters = nil
	if err == nil {
		if d.hub.Wants(messages.KindCapsResolved) {
			t.emitLocked(&messages.CapsResolved{JID: e.jid, Info: info, Unverified: true})
		}
	} else if d.hub.Wants(messages.KindCapsFailed) {
		t.emitLocked(&messages.CapsFailed{JID: e.jid, Err: err})
	}
}

// removeUnhashedLocked forgets jid's unhashed entry, if any, and returns
// its waiters, which the caller answers or re-routes; ok says there was
// one.
func (t *table) removeUnhashedLocked(jid string) (waiters []chan<- waitResult, ok bool) {
	if len(t.unhashed) == 0 { // the common case: hashing the JID costs more than this
		return nil, false
	}
	e, ok := t.unhashed[jid]
	if !ok {
		return nil, false
	}
	delete(t.unhashed, jid)
	t.unhashed = compact(t.unhashed, &t.unhashedDeletes)
	return e.waiters, true
}

// unhashedState is what Caps says for an unhashed JID: the outcome, or
// ErrPending; found is false for a JID with no entry. A stale outcome is
// asked again (by the shard) and reported as ErrPending.
func (r *Runtime) unhashedState(sh *shard, jid string) (info *hashing.Info, found bool, err error) {
	t := sh.table
	t.mu.RLock()
	e, ok := t.unhashed[jid]
	if !ok {
		t.mu.RUnlock()
		return nil, false, nil
	}
	if !e.done {
		t.mu.RUnlock()
		return nil, true, ErrPending
	}
	if r.d.now().Before(e.exp) {
		info, err = e.info, e.err
		t.mu.RUnlock()
		return info, true, err
	}
	t.mu.RUnlock()
	t.mu.Lock()
	if e, ok := t.unhashed[jid]; ok && e.done && !e.asked && !r.closed.Load() {
		e.asked = true
		r.d.system.Root.Send(sh.pid, &refreshUnhashed{jid: jid})
	}
	t.mu.Unlock()
	return nil, true, ErrPending
}

// refreshUnhashed asks a stale unhashed JID again (from Caps).
func (a *shardActor) refreshUnhashed(jid string) {
	t := a.sh.table
	t.mu.Lock()
	defer t.mu.Unlock()
	defer t.flushLocked()
	if e, ok := t.unhashed[jid]; ok && e.done && !a.d.now().Before(e.exp) {
		a.d.queryUnhashedLocked(t, e)
	}
}

// waitUnhashed answers a Wait for an unhashed JID, or holds it until its
// query ends; false when jid has no unhashed entry.
func (a *shardActor) waitUnhashed(m *waitJID) bool {
	t := a.sh.table
	t.mu.Lock()
	defer t.mu.Unlock()
	defer t.flushLocked()
	e, ok := t.unhashed[m.jid]
	if !ok {
		return false
	}
	if e.done && a.d.now().Before(e.exp) {
		m.reply <- waitResult{info: e.info, err: e.err}
		return true
	}
	if len(e.waiters) >= maxUnhashedWaiters {
		m.reply <- waitResult{err: ErrPending}
		return true
	}
	e.waiters = append(e.waiters, m.reply)
	if e.done { // stale: ask again; the waiter hears the new outcome
		a.d.queryUnhashedLocked(t, e)
	}
	return true
}

// UnhashedJIDs calls f for every JID kept without a verifiable hash
// (Config.QueryUnhashed), answered or not. f must not call back into the
// Runtime.
func (r *Runtime) UnhashedJIDs(f func(jid string)) {
	for _, sh := range r.shards {
		t := sh.table
		t.mu.RLock()
		for jid := range t.unhashed {
			f(jid)
		}
		t.mu.RUnlock()
	}
}

// unhashedLen is the number of unhashed JIDs kept.
func (t *table) unhashedLen() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.unhashed)
}
