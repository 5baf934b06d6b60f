package interop

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/internal/xmpptest"
	"github.com/capsengine/capsengine/messages"
)

// resolveBound is how soon after the honest announcer's presence a ver
// whose first announcers misbehave must be resolved (issue 11). The
// observers' query timeout is 8 s: only hedging meets it when a silent
// announcer's query is still out.
const resolveBound = 2 * time.Second

// honestLag is how long after the misbehaving announcers have been asked
// the honest ones announce: past the engine's least hedge delay (250 ms),
// so that every silent query out has already been hedged when the honest
// announcer arrives, as when the honest peers come online later.
const honestLag = time.Second

// faultGroup is one ver announced first by misbehaving peers (silent,
// iq-error, liar), in the order of specs, and then by honest ones.
type faultGroup struct {
	lib   xmpptest.Library
	specs []xmpptest.PeerSpec
}

// faultGroups: 18 peers, 6 vers; 4 silent, 4 erroring and 3 lying
// announcers ahead of 7 honest ones.
func faultGroups() []faultGroup {
	return []faultGroup{
		{xmpptest.Slixmpp, group("qs", 4, 14, xmpptest.Silent, xmpptest.Silent)},
		{xmpptest.Slixmpp, group("qe", 3, 15, xmpptest.Error, xmpptest.Error)},
		{xmpptest.Slixmpp, group("ql", 2, 16, xmpptest.Liar)},
		{xmpptest.Slixmpp, group("qm", 4, 17, xmpptest.Liar, xmpptest.Silent, xmpptest.Error)},
		{xmpptest.Aioxmpp, group("ra", 2, 18, xmpptest.Silent)},
		{xmpptest.Aioxmpp, group("rb", 3, 19, xmpptest.Error, xmpptest.Liar)},
	}
}

func misbehaves(s xmpptest.PeerSpec) bool { return s.Behavior != "" && s.Behavior != xmpptest.Honest }

// bad and honest split the group into its misbehaving announcers (first)
// and its honest ones.
func (g faultGroup) bad() []xmpptest.PeerSpec {
	return slices.DeleteFunc(slices.Clone(g.specs), func(s xmpptest.PeerSpec) bool { return !misbehaves(s) })
}

func (g faultGroup) honest() []xmpptest.PeerSpec {
	return slices.DeleteFunc(slices.Clone(g.specs), misbehaves)
}

func (g faultGroup) silentFirst() bool {
	return slices.ContainsFunc(g.specs, func(s xmpptest.PeerSpec) bool { return s.Behavior == xmpptest.Silent })
}

// toldFailed reports whether the lookup of s's ver must have failed (and
// told s so) before the honest announcers came: s errs or lies and no
// silent query of its group is out, which would keep the lookup going.
func (g faultGroup) toldFailed(s xmpptest.PeerSpec) bool {
	for _, o := range g.specs {
		if o.Name == s.Name {
			return misbehaves(s) && s.Behavior != xmpptest.Silent
		}
		if o.Behavior == xmpptest.Silent {
			return false
		}
	}
	return false
}

// stamped is an event and when the subscriber got it.
type stamped struct {
	at time.Time
	ev messages.Event
}

// journal keeps, per JID, the CapsResolved and CapsFailed events of an
// engine with their arrival times: the stream "observe --dump" builds its
// document from.
type journal struct {
	sub     *capsengine.Subscription
	mu      sync.Mutex
	byJID   map[string][]stamped
	changed chan struct{}
	done    chan struct{}
}

func newJournal(eng *capsengine.Engine) *journal {
	j := &journal{sub: eng.Subscribe(messages.KindCapsResolved|messages.KindCapsFailed, 1<<14),
		byJID: map[string][]stamped{}, changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(j.done)
		for ev := range j.sub.Events() {
			at := time.Now()
			j.mu.Lock()
			switch ev := ev.(type) {
			case *messages.CapsResolved:
				j.byJID[ev.JID] = append(j.byJID[ev.JID], stamped{at, ev})
			case *messages.CapsFailed:
				j.byJID[ev.JID] = append(j.byJID[ev.JID], stamped{at, ev})
			}
			close(j.changed)
			j.changed = make(chan struct{})
			j.mu.Unlock()
		}
	}()
	return j
}

func (j *journal) close() {
	j.sub.Close()
	<-j.done
}

// history returns jid's events so far.
func (j *journal) history(jid string) []stamped {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.byJID[jid])
}

// until waits for cond, checked on every event; false when ctx ends first.
func (j *journal) until(ctx context.Context, cond func() bool) bool {
	for {
		j.mu.Lock()
		ch := j.changed
		j.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cond()
		}
	}
}

// lastResolved reports whether jid's last event is a CapsResolved.
func (j *journal) lastResolved(jid string) bool {
	h := j.history(jid)
	if len(h) == 0 {
		return false
	}
	_, ok := h[len(h)-1].ev.(*messages.CapsResolved)
	return ok
}

// describe is jid's history, for failure messages.
func (j *journal) describe(jid string, since time.Time) string {
	var parts []string
	for _, s := range j.history(jid) {
		switch ev := s.ev.(type) {
		case *messages.CapsResolved:
			parts = append(parts, fmt.Sprintf("%+.3fs resolved", s.at.Sub(since).Seconds()))
		case *messages.CapsFailed:
			parts = append(parts, fmt.Sprintf("%+.3fs failed (%v)", s.at.Sub(since).Seconds(), ev.Err))
		}
	}
	if len(parts) == 0 {
		return "no event"
	}
	return strings.Join(parts, ", ")
}

// faultEnv is what the fault scenario needs from TestInterop.
type faultEnv struct {
	srv      *xmpptest.Server
	ob       *observer
	password string // the observer account's, for capsengine observe
	peers    map[xmpptest.Library]*xmpptest.Peers
	groups   []faultGroup
	bin      func() (string, error) // the capsengine binary, built
}

// testFaults plays the fault scenario of issue 11 on the real server. The
// misbehaving announcers of every group announce first, in waves (the
// first of every group, then the second, ...); a wave starts once the
// previous one was asked by both observers, and its erring and lying
// announcers whose lookup had nobody else to ask were told CapsFailed.
// honestLag later the honest peers announce, all at once. Every JID, the
// misbehaving ones included (they announce the honest ver), must end
// resolved with the honest info: in the engine's event stream (its last
// event a CapsResolved), in Caps, and in "capsengine observe --dump" — and
// within resolveBound of the honest announcer's presence.
func testFaults(t *testing.T, ctx context.Context, env faultEnv) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	ob := env.ob
	local := ob.local()
	j := newJournal(ob.eng)
	defer j.close()
	before := ob.eng.Counters()
	dump := startDumpObserver(t, ctx, env)
	bare, _, _ := strings.Cut(local, "/")
	fromDumper := func(from string) bool { return from != local && strings.HasPrefix(from, bare+"/") }

	announced := map[string]xmpptest.Event{}
	announce := func(lib xmpptest.Library, s xmpptest.PeerSpec) {
		env.peers[lib].Command(map[string]any{"cmd": "announce", "peer": s.Name})
	}
	hasFailed := func(jid string) func() bool {
		return func() bool {
			return slices.ContainsFunc(j.history(jid), func(s stamped) bool {
				_, ok := s.ev.(*messages.CapsFailed)
				return ok
			})
		}
	}
	for wave := 0; ; wave++ {
		type member struct {
			g faultGroup
			s xmpptest.PeerSpec
		}
		var in []member
		for _, g := range env.groups {
			if b := g.bad(); wave < len(b) {
				in = append(in, member{g, b[wave]})
			}
		}
		if len(in) == 0 {
			break
		}
		for _, m := range in {
			announce(m.g.lib, m.s)
		}
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		for _, m := range in {
			p, name := env.peers[m.g.lib], m.s.Name
			ev := p.Wait(wctx, name+" announced", func(e xmpptest.Event) bool { return e.Ev == "announced" && e.Peer == name })
			announced[name] = ev
			p.Wait(wctx, name+" asked by the observer", func(e xmpptest.Event) bool {
				return e.Ev == "query" && e.Peer == name && e.From == local
			})
			if dump != nil {
				p.Wait(wctx, name+" asked by capsengine observe", func(e xmpptest.Event) bool {
					return e.Ev == "query" && e.Peer == name && fromDumper(e.From)
				})
			}
			if m.g.toldFailed(m.s) && !j.until(wctx, hasFailed(ev.JID)) {
				wcancel()
				t.Fatalf("%s (%s, %s): never told CapsFailed: %s", name, ev.JID, m.s.Behavior, j.describe(ev.JID, ev.At))
			}
		}
		wcancel()
	}
	select {
	case <-time.After(honestLag):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	for _, g := range env.groups {
		for _, s := range g.honest() {
			announce(g.lib, s)
		}
	}
	honestAt := map[string]time.Time{} // by the group's first peer
	var jids []string
	for _, g := range env.groups {
		for _, s := range g.honest() {
			ev := env.peers[g.lib].Wait(ctx, s.Name+" announced", func(e xmpptest.Event) bool {
				return e.Ev == "announced" && e.Peer == s.Name
			})
			announced[s.Name] = ev
			if at, ok := honestAt[g.specs[0].Name]; !ok || ev.At.Before(at) {
				honestAt[g.specs[0].Name] = ev.At
			}
		}
		for _, s := range g.specs {
			jids = append(jids, announced[s.Name].JID)
		}
	}

	// Every JID ends resolved; give a lookup stuck behind a silent query
	// time to show how late it is (the query timeout is 8 s).
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	j.until(wctx, func() bool {
		for _, jid := range jids {
			if !j.lastResolved(jid) {
				return false
			}
		}
		return true
	})
	wcancel()

	for _, g := range env.groups {
		first := g.specs[0].Name
		since := honestAt[first]
		want := announced[g.honest()[0].Name]
		var took time.Duration
		var who []string
		for _, s := range g.specs {
			ev := announced[s.Name]
			who = append(who, s.Name+":"+cmp.Or(s.Behavior, xmpptest.Honest))
			if ev.Ver != want.Ver {
				t.Errorf("%s announced ver %s, its group %s: the group must share one ver", s.Name, ev.Ver, want.Ver)
			}
			h := j.history(ev.JID)
			if !j.lastResolved(ev.JID) {
				t.Errorf("%s (%s, %s): not resolved in the end: %s", s.Name, ev.JID, cmp.Or(s.Behavior, xmpptest.Honest),
					j.describe(ev.JID, since))
				continue
			}
			res := h[len(h)-1].ev.(*messages.CapsResolved)
			if d := sameInfo(res.Info, want.Info); d != "" {
				t.Errorf("%s (%s): CapsResolved: %s", s.Name, ev.JID, d)
			}
			if w := wantVer(want, res.Key); res.Key.Ver() != w {
				t.Errorf("%s: resolved key %s, the group announced %q", s.Name, res.Key, w)
			}
			if info, err := ob.eng.Caps(ev.JID); err != nil {
				t.Errorf("%s: Caps: %v", s.Name, err)
			} else if d := sameInfo(info, want.Info); d != "" {
				t.Errorf("%s: Caps: %s", s.Name, d)
			}
			// When the JID was first told the honest answer.
			for _, st := range h {
				if _, ok := st.ev.(*messages.CapsResolved); ok && st.at.After(since) {
					took = max(took, st.at.Sub(since))
					break
				}
			}
		}
		t.Logf("ver of %s: every JID resolved %v after the honest presence (%s)",
			strings.Join(who, " "), took.Round(time.Millisecond), env.peers[g.lib].Lib)
		if took >= resolveBound {
			t.Errorf("ver of %s (silent first: %v): resolved %v after the honest announcer's presence, want < %v",
				strings.Join(who, " "), g.silentFirst(), took.Round(time.Millisecond), resolveBound)
		}
	}

	// Each misbehaving announcer was asked once; the silent ones cost
	// hedges, not timeouts.
	var liars, errs uint64
	for _, g := range env.groups {
		p := env.peers[g.lib]
		p.Sync(ctx)
		for _, s := range g.bad() {
			if q := p.Queries(s.Name, local); len(q) != 1 {
				t.Errorf("%s (%s) was asked %d times, want 1", s.Name, s.Behavior, len(q))
			}
			switch s.Behavior {
			case xmpptest.Liar:
				liars++
			case xmpptest.Error:
				errs++
			}
		}
	}
	after := ob.eng.Counters()
	delta := func(c string) uint64 { return after[c] - before[c] }
	if delta("Hedges") == 0 {
		t.Errorf("Hedges did not move: no silent query was hedged")
	}
	if got := delta("Timeouts"); got != 0 {
		t.Errorf("Timeouts went up by %d: a silent query ran to the query timeout instead of being hedged", got)
	}
	if got := delta("Mismatches"); got != liars {
		t.Errorf("Mismatches went up by %d, want %d (one per liar)", got, liars)
	}
	if got := delta("QueryErrors"); got != errs {
		t.Errorf("QueryErrors went up by %d, want %d (one per erring peer)", got, errs)
	}
	if got := delta("EventDrops"); got != 0 {
		t.Errorf("EventDrops went up by %d: a subscriber, maybe the journal, lost events", got)
	}
	t.Logf("fault scenario counters: Hedges +%d, QueryErrors +%d, Mismatches +%d, Timeouts +%d, QueriesCancelled +%d, LookupRounds +%d",
		delta("Hedges"), delta("QueryErrors"), delta("Mismatches"), delta("Timeouts"), delta("QueriesCancelled"), delta("LookupRounds"))

	if dump != nil {
		dump.check(t, ctx, env, announced)
	}
}
