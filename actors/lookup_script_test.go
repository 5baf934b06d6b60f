package actors

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/capsengine/capsengine/hashing"
)

// TestLookupScripts drives a lookup, without an actor system, timers or
// goroutines, through the scripts in testdata/lookup: each command is one
// event the lookup actor would receive, and its output is what the lookup
// asks its runner to do (ask an announcer, cancel a query, set a deadline,
// report done), the waiters it answers, the counters that moved, and its
// state. Run with -rewrite to update the expected outputs after a
// deliberate change, and read the diff.
//
// Commands:
//
//	new [announcers=N] [stored] [again]
//	                               a lookup for the key (stored: the store has
//	                               it; again: the engine of the last lookup, with
//	                               the announcers it marked as failed)
//	overrate jid=J                 J used up its query rate (on other keys)
//	request jid=J [early]          J announced the key (early: met at first
//	                               contact, before its shard applied it)
//	adopt jid=J                    on start, the lookup takes over query #1 to J,
//	                               sent by the ingesting caller (early.go)
//	verified gen=G                 query G's answer verified: a cancel comes too
//	                               late to stop it, and its answer still comes
//	answer gen=G jid=J result=R    query G came back: honest, liar, error, timeout, cancelled
//	slow gen=G                     query G passed the hedge delay
//	stored gen=G                   query G's verified answer is durable
//	deadline round=N               the lookup timeout of round N fired
//	elsewhere                      another route verified the key (a late
//	                               answer the lookup gave up on, a member's entry)
//	wait                           a Wait for the key arrived
//	tick d=DURATION                the clock moves on
func TestLookupScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/lookup", func(t *testing.T, path string) {
		s := &lookupScript{now: time.Unix(1_700_000_000, 0)}
		s.info, s.key, _ = client(t, "script", nil)
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return s.run(t, td)
		})
	})
}

// offline is a Querier error for an announcer that was not reached.
type offline struct{}

func (offline) Error() string     { return "recipient offline" }
func (offline) Unreachable() bool { return true }

type lookupScript struct {
	now     time.Time
	info    *hashing.Info
	key     hashing.Key
	d       *core
	io      *fakeIO
	l       *lookup
	waiters []chan waitResult
	before  map[string]uint64
}

func (s *lookupScript) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd != "new" && s.l == nil {
		td.Fatalf(t, "%s before new", td.Cmd)
	}
	switch td.Cmd {
	case "new":
		var cfg Config
		td.MaybeScanArgs(t, "announcers", &cfg.MaxAnnouncersPerKey)
		cfg.AnnouncerRate, cfg.AnnouncerBurst = 0.001, 8 // no token comes back within a script
		if !td.HasArg("again") || s.d == nil {
			s.d = logicDeps(cfg, &s.now)
		}
		if td.HasArg("stored") {
			_ = s.d.store.Put(context.Background(), s.key, s.info, Verified{})
		}
		s.io = &fakeIO{cancelled: map[uint64]bool{}, verified: map[uint64]bool{}}
		s.l = newLookup(s.d, s.io, s.key)
		s.waiters, s.before = nil, s.d.counters.Snapshot()
		s.l.onStart()
	case "request":
		var jid string
		td.ScanArgs(t, "jid", &jid)
		s.l.onRequest(&lookupReq{key: s.key, jid: jid, node: "https://example.org/script", early: td.HasArg("early")})
	case "overrate":
		var jid string
		td.ScanArgs(t, "jid", &jid)
		for s.d.limiter.allow(jid) {
		}
	case "adopt":
		var jid string
		td.ScanArgs(t, "jid", &jid)
		s.l.adopt(announcer{jid: jid, node: "https://example.org/script"}, earlyGen, func(lost bool) bool {
			return s.io.cancel(earlyGen, fmt.Sprintf("cancel #%d (lost: %v)", earlyGen, lost))
		}, s.now)
	case "elsewhere":
		s.d.verified(s.key, nil, s.info)
	case "verified":
		// The query's answer verified, and is on its way: a cancel
		// from now on comes too late to stop it.
		var gen uint64
		td.ScanArgs(t, "gen", &gen)
		s.io.verified[gen] = true
	case "answer":
		var gen uint64
		var jid, result string
		td.ScanArgs(t, "gen", &gen)
		td.ScanArgs(t, "jid", &jid)
		td.ScanArgs(t, "result", &result)
		m := &queryDone{gen: gen, jid: jid}
		switch result {
		case "honest":
			m.info = s.info
		case "liar":
			m.err = &hashing.MismatchError{Key: s.key}
		case "error":
			m.err = errors.New("service-unavailable")
		case "unreachable":
			m.err = fmt.Errorf("asking %s: %w", jid, offline{})
		case "timeout":
			m.err = fmt.Errorf("%w: no answer", context.DeadlineExceeded)
		case "cancelled":
			m.err = errCancelled
		default:
			td.Fatalf(t, "unknown result %q", result)
		}
		s.l.onAnswer(m)
	case "slow":
		var gen uint64
		td.ScanArgs(t, "gen", &gen)
		s.l.onSlow(gen)
	case "stored":
		var gen uint64
		td.ScanArgs(t, "gen", &gen)
		s.l.onStored(gen)
	case "deadline":
		var round uint64
		td.ScanArgs(t, "round", &round)
		s.l.onDeadline(round)
	case "wait":
		ch := make(chan waitResult, 1)
		s.waiters = append(s.waiters, ch)
		s.l.onWait(ch)
	case "tick":
		var d string
		td.ScanArgs(t, "d", &d)
		dur, err := time.ParseDuration(d)
		if err != nil {
			td.Fatalf(t, "%v", err)
		}
		s.now = s.now.Add(dur)
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	return s.report()
}

// report is what the last event made the lookup do.
func (s *lookupScript) report() string {
	var b strings.Builder
	for _, e := range s.io.log {
		fmt.Fprintln(&b, e)
	}
	s.io.log = nil
	for i, ch := range s.waiters {
		select {
		case r := <-ch:
			if r.err != nil {
				fmt.Fprintf(&b, "wait %d answered: %v\n", i+1, r.err)
			} else {
				fmt.Fprintf(&b, "wait %d answered: resolved\n", i+1)
			}
		default:
		}
	}
	now := s.d.counters.Snapshot()
	b.WriteString(counterMoves(s.before, now))
	s.before = now
	fmt.Fprintf(&b, "state: %v", s.l.state)
	if s.l.awaitsShards() {
		b.WriteString(", awaiting shards")
	}
	return b.String()
}

// counterMoves is a script's line on the counters that moved between two
// snapshots, "" when none did.
func counterMoves(before, now map[string]uint64) string {
	var moved []string
	for name, v := range now {
		if v != before[name] {
			moved = append(moved, fmt.Sprintf("%s+%d", name, v-before[name]))
		}
	}
	if len(moved) == 0 {
		return ""
	}
	sort.Strings(moved)
	return "counters: " + strings.Join(moved, " ") + "\n"
}
