package actors

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/datadriven"

	"github.com/capsengine/capsengine/hashing"
)

// TestOwnerScripts drives a cluster owner through the scripts in
// testdata/owner, without an actor system, a cluster or timers. Members
// are named by their address (m1, m2, ...); this owner lives on m1. Each
// command is one message or timer the owner receives; its output is what
// the owner sends (to a member's cache or probe actor, or to a
// requester's future: its result, or the grant of its query), the timer
// it sets, whether it may passivate, the counters that moved, and its
// state.
//
// Commands:
//
//	new members=m1,m2,... [past=m3,m2] [stored]
//	                                    an owner on m1 (past: the key's past
//	                                    owners, newest first; stored: m1
//	                                    holds the entry)
//	members m1,m2,...                   the membership changes
//	resolve from=M jid=J [req=N]        M's request N for the key, J its announcer
//	probe-entry from=M [liar]           M answers the probe: it has the entry
//	probe-miss from=M                   M answers the probe: it has not
//	answer seq=S [result=honest|liar|error|timeout]  the granted member answers
//	probe-timeout                       the probe's timer fires
//	owner-timeout seq=S                 the query's poll timer fires
//	tick d=DURATION                     the clock moves on
//	idle-tick                           the idle period passed in silence
//	stop                                the owner is stopped
func TestOwnerScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/owner", func(t *testing.T, path string) {
		s := &ownerScript{now: time.Unix(1_700_000_000, 0)}
		s.info, s.key, _ = client(t, "owner", nil)
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return s.run(t, td)
		})
	})
}

type ownerScript struct {
	now    time.Time
	info   *hashing.Info
	key    hashing.Key
	d      *core
	o      *owner
	io     *fakeOwnerIO
	before map[string]uint64
}

type fakeOwnerIO struct {
	log   []string
	ms    []string // the members
	past  []string // the key's past owners
	armed string
}

func (f *fakeOwnerIO) send(to *actor.PID, tag byte, m *wireMsg) {
	f.log = append(f.log, "send "+pidName(to)+": "+describe(tag, m))
}

func (f *fakeOwnerIO) request(to *actor.PID, tag byte, m *wireMsg) {
	f.log = append(f.log, "request "+pidName(to)+": "+describe(tag, m))
}

func (f *fakeOwnerIO) arm(d time.Duration, ev any) {
	switch e := ev.(type) {
	case *probeTimeout:
		f.armed = fmt.Sprintf("probe-timeout in %v", d)
	case *ownerTimeout:
		f.armed = fmt.Sprintf("owner-timeout seq=%d in %v", e.seq, d)
	}
	f.log = append(f.log, "timer: "+f.armed)
}

func (f *fakeOwnerIO) stop() {
	if f.armed != "" {
		f.log = append(f.log, "timer stopped")
		f.armed = ""
	}
}

func (f *fakeOwnerIO) idle(on bool) {
	if on {
		f.log = append(f.log, "idle")
	}
}

func (f *fakeOwnerIO) self() string         { return "m1" }
func (f *fakeOwnerIO) selfID() string       { return "owner" }
func (f *fakeOwnerIO) members() []string    { return f.ms }
func (f *fakeOwnerIO) pastOwners() []string { return f.past }

func pidName(p *actor.PID) string {
	if p.Address == "" {
		return p.Id
	}
	return p.Id + "@" + p.Address
}

func describe(tag byte, m *wireMsg) string {
	var b strings.Builder
	b.WriteString(map[byte]string{tagResolve: "resolve", tagResult: "result", tagGrant: "grant",
		tagAnswer: "answer", tagEntry: "entry", tagProbe: "probe"}[tag])
	if m.JID != "" {
		fmt.Fprintf(&b, " jid=%s", m.JID)
	}
	if m.Seq != 0 {
		fmt.Fprintf(&b, " seq=%d", m.Seq)
	}
	if m.Info != nil {
		b.WriteString(" with the entry")
	}
	if m.Err != "" {
		fmt.Fprintf(&b, " error %q", m.Err)
	}
	return b.String()
}

// clusterStub gives the owner its timeouts.
type clusterStub struct{ Cluster }

func (clusterStub) RequestTimeout() time.Duration { return 5 * time.Second }
func (clusterStub) ProbeTimeout() time.Duration   { return 500 * time.Millisecond }

func (s *ownerScript) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd != "new" && s.o == nil {
		td.Fatalf(t, "%s before new", td.Cmd)
	}
	members := func(arg string) []string { return strings.Split(arg, ",") }
	switch td.Cmd {
	case "new":
		var ms string
		td.ScanArgs(t, "members", &ms)
		s.d = logicDeps(Config{MaxAnnouncersPerKey: 4, LookupTimeout: 20 * time.Second}, &s.now)
		s.d.cluster = clusterStub{}
		if td.HasArg("stored") {
			_ = s.d.store.Put(context.Background(), s.key, s.info, Verified{})
		}
		s.io = &fakeOwnerIO{ms: members(ms)}
		if td.HasArg("past") {
			var past string
			td.ScanArgs(t, "past", &past)
			s.io.past = members(past)
		}
		s.o = &owner{d: s.d, io: s.io}
		s.before = s.d.counters.Snapshot()
	case "members":
		s.io.ms = members(td.CmdArgs[0].Key)
	case "resolve":
		var from, jid string
		req := 1
		td.ScanArgs(t, "from", &from)
		td.ScanArgs(t, "jid", &jid)
		td.MaybeScanArgs(t, "req", &req)
		s.o.onResolve(actor.NewPID(from, fmt.Sprintf("future%d", req)),
			&wireMsg{Key: toWire(s.key), JID: jid, Node: "https://example.org/owner", Origin: from})
	case "probe-entry":
		var from string
		td.ScanArgs(t, "from", &from)
		info := s.info
		if td.HasArg("liar") {
			info = &hashing.Info{Features: []string{"urn:lie"}}
		}
		s.o.onProbeEntry(&wireMsg{Key: toWire(s.key), Origin: from, Info: info})
	case "probe-miss":
		var from string
		td.ScanArgs(t, "from", &from)
		s.o.onProbeResult(&wireMsg{Key: toWire(s.key), Origin: from})
	case "answer":
		var seq uint64
		result := "honest"
		td.ScanArgs(t, "seq", &seq)
		td.MaybeScanArgs(t, "result", &result)
		m := &wireMsg{Key: toWire(s.key), Seq: seq}
		switch result {
		case "honest":
			m.Info = s.info
		case "liar":
			m.Info = &hashing.Info{Features: []string{"urn:lie"}}
		case "error":
			m.Err, m.Code = "service-unavailable", codeOther
		case "timeout":
			m.Err, m.Code = "no answer", codeTimeout
		default:
			td.Fatalf(t, "unknown result %q", result)
		}
		s.o.onQueryAnswer(m)
	case "probe-timeout":
		if strings.HasPrefix(s.io.armed, "probe-timeout") {
			s.io.armed = ""
		}
		s.o.onProbeTimeout()
	case "owner-timeout":
		var seq uint64
		td.ScanArgs(t, "seq", &seq)
		if strings.HasPrefix(s.io.armed, fmt.Sprintf("owner-timeout seq=%d ", seq)) {
			s.io.armed = "" // it fired; a stale one fires beside it
		}
		s.o.onOwnerTimeout(seq)
	case "tick":
		var d string
		td.ScanArgs(t, "d", &d)
		dur, err := time.ParseDuration(d)
		if err != nil {
			td.Fatalf(t, "%v", err)
		}
		s.now = s.now.Add(dur)
	case "idle-tick":
		if s.o.onIdle() {
			s.io.log = append(s.io.log, "passivate")
		}
	case "stop":
		s.o.failAll(ErrClosed)
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	return s.report()
}

func (s *ownerScript) report() string {
	var b strings.Builder
	for _, e := range s.io.log {
		fmt.Fprintln(&b, e)
	}
	s.io.log = nil
	now := s.d.counters.Snapshot()
	b.WriteString(counterMoves(s.before, now))
	s.before = now
	o := s.o
	state := "waiting"
	switch {
	case o.info != nil:
		state = "resolved"
	case o.probing:
		state = "probing"
	case o.querying:
		state = fmt.Sprintf("querying seq=%d", o.seq)
	}
	fmt.Fprintf(&b, "state: %s, %d waiting", state, len(o.pending))
	return b.String()
}
