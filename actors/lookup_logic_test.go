package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
)

// fakeIO records what a lookup asks for, so its logic is scripted without
// an actor system, timers or goroutines.
type fakeIO struct {
	log       []string
	cancelled map[uint64]bool
	// verified are the queries whose answer verified already: a cancel
	// comes too late for them (queryJob.serve).
	verified map[uint64]bool
	dones    int
	// onCancel, when set, sees each cancel as it is made.
	onCancel func(gen uint64)
}

func (f *fakeIO) ask(a announcer, gen uint64) func(bool) bool {
	f.log = append(f.log, fmt.Sprintf("ask %s #%d", a.jid, gen))
	return func(bool) bool { return f.cancel(gen, fmt.Sprintf("cancel #%d", gen)) }
}

// cancel cancels query gen, logged as line, and reports whether it came
// too late.
func (f *fakeIO) cancel(gen uint64, line string) (tooLate bool) {
	if f.onCancel != nil {
		f.onCancel(gen)
	}
	if f.verified[gen] {
		f.log = append(f.log, line+": too late")
		return true
	}
	f.cancelled[gen] = true
	f.log = append(f.log, line)
	return false
}

func (f *fakeIO) deadline(d time.Duration, round uint64) {
	f.log = append(f.log, fmt.Sprintf("deadline round %d", round))
}

func (f *fakeIO) done() { f.dones++; f.log = append(f.log, "done") }

func (f *fakeIO) take() string {
	s := strings.Join(f.log, "; ")
	f.log = nil
	return s
}

// logicDeps is a core with the shared tables and no actor system: enough
// for a lookup's decisions. now is the test's clock.
func logicDeps(cfg Config, now *time.Time) *core {
	cfg.setDefaults()
	clock := func() time.Time { return *now }
	c := &Counters{}
	d := &core{cfg: cfg, log: slog.New(slog.DiscardHandler), store: newMemStore(), hub: &Hub{counters: c}, counters: c, now: clock, infos: newInfoSet(), writes: newStoreWrites()}
	d.bad = newExpiring[badKey, struct{}](1000, cfg.BadAnnouncerTTL, clock)
	d.failures = newExpiring[hashing.Key, error](1000, cfg.FailureTTL, clock)
	d.limiter = newRateLimiter(cfg.AnnouncerRate, cfg.AnnouncerBurst, 1000, clock)
	return d
}

// The lookup's life, step by step: each step is an event and what the
// lookup asks its runner to do in answer.
func TestLookupLogic(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	info, k, _ := client(t, "logic", nil)
	req := func(jid string) *lookupReq { return &lookupReq{key: k, jid: jid, node: "n"} }
	type step struct {
		name  string
		do    func(l *lookup)
		want  string
		state lookupState
	}
	for _, tc := range []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name: "fallback, round, resolve",
			cfg:  Config{MaxAnnouncersPerKey: 8},
			steps: []step{
				{"first announcer", func(l *lookup) { l.onRequest(req("a")) }, "deadline round 1; ask a #1", stateQuerying},
				{"second joins", func(l *lookup) { l.onRequest(req("b")) }, "", stateQuerying},
				{"third joins", func(l *lookup) { l.onRequest(req("c")) }, "", stateQuerying},
				{"a lies", func(l *lookup) {
					l.onAnswer(&queryDone{gen: 1, jid: "a", err: &hashing.MismatchError{Key: k}})
				}, "ask b #2", stateQuerying},
				{"round ends, c untried", func(l *lookup) { l.onDeadline(1) }, "deadline round 2", stateQuerying},
				{"stale deadline", func(l *lookup) { l.onDeadline(1) }, "", stateQuerying},
				{"b slow: hedge", func(l *lookup) { l.onSlow(2) }, "ask c #3", stateQuerying},
				{"c answers: served, not yet durable", func(l *lookup) { l.onAnswer(&queryDone{gen: 3, jid: "c", info: info}) }, "cancel #2", stateResolved},
				{"b answers late", func(l *lookup) { l.onAnswer(&queryDone{gen: 2, jid: "b", info: info}) }, "", stateResolved},
				{"joiner while storing: told, lookup stays", func(l *lookup) { l.onRequest(req("d")) }, "", stateResolved},
				{"stale stored", func(l *lookup) { l.onStored(2) }, "", stateResolved},
				{"c's answer durable", func(l *lookup) { l.onStored(3) }, "done", stateResolved},
				{"late joiner", func(l *lookup) { l.onRequest(req("e")) }, "done", stateResolved},
			},
		},
		{
			name: "no one left: fail, then a new announcer",
			cfg:  Config{},
			steps: []step{
				{"only announcer", func(l *lookup) { l.onRequest(req("a")) }, "deadline round 1; ask a #1", stateQuerying},
				{"errors", func(l *lookup) {
					l.onAnswer(&queryDone{gen: 1, jid: "a", err: errors.New("service-unavailable")})
				}, "done", stateFailed},
				{"a again: remembered as bad", func(l *lookup) { l.onRequest(req("a")) }, "done", stateFailed},
				{"b arrives before the router stopped it", func(l *lookup) { l.onRequest(req("b")) }, "deadline round 2; ask b #2", stateQuerying},
				{"b answers", func(l *lookup) { l.onAnswer(&queryDone{gen: 2, jid: "b", info: info}) }, "", stateResolved},
				{"stored", func(l *lookup) { l.onStored(2) }, "done", stateResolved},
			},
		},
		{
			name: "deadline with nobody untried cancels the query",
			cfg:  Config{},
			steps: []step{
				{"announcer", func(l *lookup) { l.onRequest(req("a")) }, "deadline round 1; ask a #1", stateQuerying},
				{"deadline", func(l *lookup) { l.onDeadline(1) }, "cancel #1; done", stateFailed},
				{"an answer of the cancelled query changes nothing", func(l *lookup) { l.onAnswer(&queryDone{gen: 1, jid: "a", info: info}) }, "", stateFailed},
			},
		},
		{
			name: "a timed-out announcer is asked once more, after the others",
			cfg:  Config{MaxAnnouncersPerKey: 8},
			steps: []step{
				{"a", func(l *lookup) { l.onRequest(req("a")) }, "deadline round 1; ask a #1", stateQuerying},
				{"b joins", func(l *lookup) { l.onRequest(req("b")) }, "", stateQuerying},
				{"a times out: b first, a back in line", func(l *lookup) {
					l.onAnswer(&queryDone{gen: 1, jid: "a", err: fmt.Errorf("%w: %w", context.DeadlineExceeded, errors.New("no answer"))})
				}, "ask b #2", stateQuerying},
				{"b times out too", func(l *lookup) {
					l.onAnswer(&queryDone{gen: 2, jid: "b", err: fmt.Errorf("%w: %w", context.DeadlineExceeded, errors.New("no answer"))})
				}, "ask a #3", stateQuerying},
				{"a answers its second query", func(l *lookup) { l.onAnswer(&queryDone{gen: 3, jid: "a", info: info}) }, "", stateResolved},
			},
		},
		{
			name: "a second timeout fails the announcer",
			cfg:  Config{},
			steps: []step{
				{"a", func(l *lookup) { l.onRequest(req("a")) }, "deadline round 1; ask a #1", stateQuerying},
				{"times out", func(l *lookup) {
					l.onAnswer(&queryDone{gen: 1, jid: "a", err: context.DeadlineExceeded})
				}, "ask a #2", stateQuerying},
				{"times out again", func(l *lookup) {
					l.onAnswer(&queryDone{gen: 2, jid: "a", err: context.DeadlineExceeded})
				}, "done", stateFailed},
			},
		},
		{
			name: "hedges are bounded",
			cfg:  Config{MaxAnnouncersPerKey: 8},
			steps: []step{
				{"a", func(l *lookup) { l.onRequest(req("a")) }, "deadline round 1; ask a #1", stateQuerying},
				{"b, c, d, e join", func(l *lookup) {
					for _, j := range []string{"b", "c", "d", "e"} {
						l.onRequest(req(j))
					}
				}, "", stateQuerying},
				{"a slow", func(l *lookup) { l.onSlow(1) }, "ask b #2", stateQuerying},
				{"b slow", func(l *lookup) { l.onSlow(2) }, "ask c #3", stateQuerying},
				{"c slow: three out, no more", func(l *lookup) { l.onSlow(3) }, "", stateQuerying},
				{"a times out: room again", func(l *lookup) {
					l.onAnswer(&queryDone{gen: 1, jid: "a", err: errors.New("timeout")})
				}, "ask d #4", stateQuerying},
			},
		},
		{
			name: "an announcer joining after the hedge delay is asked at once",
			cfg:  Config{},
			steps: []step{
				{"a", func(l *lookup) { l.onRequest(req("a")) }, "deadline round 1; ask a #1", stateQuerying},
				{"a slow, nobody else yet", func(l *lookup) { l.onSlow(1) }, "", stateQuerying},
				{"b joins", func(l *lookup) { l.onRequest(req("b")) }, "ask b #2", stateQuerying},
				{"c joins while b is young", func(l *lookup) { l.onRequest(req("c")) }, "", stateQuerying},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := logicDeps(tc.cfg, &now)
			io := &fakeIO{cancelled: map[uint64]bool{}}
			l := newLookup(d, io, k)
			l.onStart()
			for _, s := range tc.steps {
				s.do(l)
				if got := io.take(); got != s.want {
					t.Fatalf("%s: got %q, want %q", s.name, got, s.want)
				}
				if l.state != s.state {
					t.Fatalf("%s: state %v, want %v", s.name, l.state, s.state)
				}
			}
		})
	}
}

// A failed lookup puts its failure on record before it cancels its
// queries: one whose true answer comes all the same takes the failure off
// (queryQueue.run), and could not before the put.
func TestLookupFailureOnRecordBeforeItsCancels(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	_, k, _ := client(t, "order", nil)
	d := logicDeps(Config{}, &now)
	io := &fakeIO{cancelled: map[uint64]bool{}}
	l := newLookup(d, io, k)
	l.onStart()
	l.onRequest(&lookupReq{key: k, jid: "a", node: "n"})
	var onRecord bool
	io.onCancel = func(uint64) { _, onRecord = d.failures.get(k) }
	l.onDeadline(1)
	if l.state != stateFailed || !onRecord {
		t.Errorf("state %v, failure on record at the cancel: %v; want failed, true", l.state, onRecord)
	}
}

// A new lookup skips the store read its shard has just missed, unless the
// key's bucket was written since; then it reads, and finds the entry.
func TestLookupStartSkipsAMissThatStillHolds(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	info, k, _ := client(t, "skip", nil)
	d := logicDeps(Config{}, &now)
	stamp := d.writes.stamp(k)
	// Put behind the engine's back, as if by a lookup racing the stamp
	// but without telling storeWrites: the skip is visible.
	_ = d.store.Put(context.Background(), k, info, Verified{})
	l := newLookup(d, &fakeIO{cancelled: map[uint64]bool{}}, k)
	l.missed = stamp
	l.onStart()
	if l.state != stateNew {
		t.Fatalf("state %v after a miss that still holds: the store was read", l.state)
	}
	// The engine's writes tell storeWrites: the same stamp is stale.
	d.writes.wrote(k)
	l = newLookup(d, &fakeIO{cancelled: map[uint64]bool{}}, k)
	l.missed = stamp
	l.onStart()
	if l.state != stateResolved || l.info != info {
		t.Fatalf("state %v, info %v after a write since the miss: want resolved from the store", l.state, l.info)
	}
	// No stamp (the shard did not read the store): read.
	l = newLookup(d, &fakeIO{cancelled: map[uint64]bool{}}, k)
	l.onStart()
	if l.state != stateResolved {
		t.Fatalf("state %v without a stamp: want resolved from the store", l.state)
	}
}

// A lookup whose only announcer lied before asks nobody; it fails with
// the cause on record (the lie), not a bare ErrAnnouncersFailed.
func TestLookupWithOnlyBadAnnouncersKeepsTheCause(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	_, k, _ := client(t, "cause", nil)
	d := logicDeps(Config{}, &now)
	l := newLookup(d, &fakeIO{cancelled: map[uint64]bool{}}, k)
	l.onStart()
	l.onRequest(&lookupReq{key: k, jid: "liar@x/r", node: "n"})
	l.onAnswer(&queryDone{gen: 1, jid: "liar@x/r", err: &hashing.MismatchError{Key: k}})
	var mm *hashing.MismatchError
	if l.state != stateFailed || !errors.As(l.err, &mm) {
		t.Fatalf("first lookup: %v, %v; want failed with the mismatch", l.state, l.err)
	}
	again := newLookup(d, &fakeIO{cancelled: map[uint64]bool{}}, k)
	again.onStart()
	again.onRequest(&lookupReq{key: k, jid: "liar@x/r", node: "n", early: true})
	if again.state != stateFailed || !errors.Is(again.err, ErrAnnouncersFailed) || !errors.As(again.err, &mm) {
		t.Fatalf("second lookup: %v, %v; want failed with the first one's cause", again.state, again.err)
	}
}

// A lookup remembers the announcers whose shard request came first (to
// know a late early request for one as the same presence), but no more
// of them than MaxAnnouncersPerKey, however many it meets: here 1,000
// announcers all over their rate, each dropped and forgotten in turn.
func TestLookupViaShardBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	_, k, _ := client(t, "bounded", nil)
	d := logicDeps(Config{MaxAnnouncersPerKey: 4, AnnouncerRate: 0.001, AnnouncerBurst: 1}, &now)
	l := newLookup(d, &fakeIO{cancelled: map[uint64]bool{}}, k)
	l.onStart()
	const n = 1000
	for i := range n {
		jid := fmt.Sprintf("u%d@x/r", i)
		d.limiter.allow(jid) // its one token, spent elsewhere
		l.onRequest(&lookupReq{key: k, jid: jid, node: "n"})
	}
	if got := d.counters.DropRate.Load(); got != n {
		t.Fatalf("%d rate drops, want %d: the test no longer drives the lookup past its bound", got, n)
	}
	if len(l.viaShard) > 4 {
		t.Errorf("%d announcers remembered, want at most MaxAnnouncersPerKey (4)", len(l.viaShard))
	}
}
