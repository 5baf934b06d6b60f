package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/internal/xmpptest"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
	"github.com/capsengine/capsengine/transport"
)

const (
	privUsers    = 50 // per library
	privProfiles = 10 // distinct honest vers per library: 5 users each
)

// privilegedSpecs are one library's users for the privileged scenario:
// privUsers honest ones sharing privProfiles vers, and a liar with a ver
// of its own. None subscribes to anything.
func privilegedSpecs(prefix string, offset int) (honest []xmpptest.PeerSpec, liar xmpptest.PeerSpec) {
	for i := range privUsers {
		name := fmt.Sprintf("%s%02d", prefix, i)
		p := i % privProfiles
		s := profile(fmt.Sprintf("%sprof%d", prefix, p), name+"@localhost", offset+p)
		s.Name, s.Password = name, name+"-pw"
		honest = append(honest, s)
	}
	liar = profile(prefix+"liar", prefix+"liar@localhost", offset+privProfiles)
	liar.Behavior = xmpptest.Liar
	return honest, liar
}

// privilegedServers are the servers the privileged scenario runs on, and
// what each advertises: Prosody 0.12 with prosody-modules' mod_privilege
// speaks version 2 and sends the presence of the users already online
// when the component connects; ejabberd 23.01's built-in mod_privilege
// speaks version 1 and does not, so there the users online before the
// component's (re)connect announce once more to be seen.
var privilegedServers = []struct {
	kind        xmpptest.Kind
	namespace   string
	sendsOnline bool
}{
	{xmpptest.Prosody, transport.NSPrivilege2, true},
	{xmpptest.Ejabberd, transport.NSPrivilege1, false},
}

// onlineWarning is the /healthz warning of a server that does not send
// the users already online (privilegeWarnings in cmd/capsengine).
const onlineWarning = "does not send the presence of users already online"

// TestPrivilegedComponent runs the engine as a XEP-0356 privileged
// component (presence permission managed_entity) of a real Prosody and a
// real ejabberd: it sees every presence of the server's users, none of
// whom subscribed to anything of ours — half of them online before it
// connects, half after. See docs/server.md.
func TestPrivilegedComponent(t *testing.T) {
	bin := buildCapsengine(t)
	for _, sv := range privilegedServers {
		t.Run(string(sv.kind), func(t *testing.T) {
			testPrivilegedComponent(t, bin, sv.kind, sv.namespace, sv.sendsOnline)
		})
	}
}

func testPrivilegedComponent(t *testing.T, bin func() (string, error), kind xmpptest.Kind, namespace string, sendsOnline bool) {
	began := time.Now()
	srv := xmpptest.StartServer(t, kind, xmpptest.Options{Privilege: "managed_entity"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	slix, slixLiar := privilegedSpecs("ps", 0)
	aio, aioLiar := privilegedSpecs("pa", 3)
	accounts := map[string]string{}
	for _, s := range append(append(append([]xmpptest.PeerSpec{}, slix...), aio...), slixLiar, aioLiar) {
		accounts[strings.Split(s.JID, "@")[0]] = s.Password
	}
	srv.Register(t, accounts)
	// Half of each library, and the liars, online and announcing before
	// the component connects.
	half := privUsers / 2
	early := func(specs []xmpptest.PeerSpec, liar xmpptest.PeerSpec) []xmpptest.PeerSpec {
		return append(append([]xmpptest.PeerSpec{}, specs[:half]...), liar)
	}
	sp1 := xmpptest.StartPeers(t, xmpptest.Slixmpp, srv, "", early(slix, slixLiar))
	ap1 := xmpptest.StartPeers(t, xmpptest.Aioxmpp, srv, "", early(aio, aioLiar))
	announced := map[string]xmpptest.Event{}
	announce := func(p *xmpptest.Peers, specs []xmpptest.PeerSpec) {
		p.WaitAll(ctx, "ready", names(specs))
		for _, s := range specs {
			p.Command(map[string]any{"cmd": "announce", "peer": s.Name})
		}
		for k, v := range p.WaitAll(ctx, "announced", names(specs)) {
			announced[k] = v
		}
	}
	announce(sp1, early(slix, slixLiar))
	announce(ap1, early(aio, aioLiar))
	// reannounce has the peers of p in specs send their presence again
	// and returns their new "announced" events.
	reannounce := func(p *xmpptest.Peers, specs []xmpptest.PeerSpec) map[string]xmpptest.Event {
		t0 := time.Now()
		for _, s := range specs {
			p.Command(map[string]any{"cmd": "announce", "peer": s.Name})
		}
		out := map[string]xmpptest.Event{}
		for _, s := range specs {
			out[s.Name] = p.Wait(ctx, "the new announce of "+s.Name, func(e xmpptest.Event) bool {
				return e.Ev == "announced" && e.Peer == s.Name && !e.At.Before(t0)
			})
		}
		return out
	}
	t.Logf("%d users online before the component: %v", len(announced), time.Since(began))

	dataDir := t.TempDir()
	connected := time.Now()
	// Every user here answers at once: a query is hedged (a second user
	// of the ver asked too) only when the machine is too loaded to carry
	// an answer within the least hedge delay, which would break the count
	// of one query per ver for nothing. 2 s keeps hedging for a query
	// lost, well within the 8 s query timeout.
	ob := startObserver(t, srv, "", observerOpts{component: true, privileged: true,
		dataDir: storage.Layout{Dir: dataDir}.User(), tuning: capsengine.Tuning{HedgeMin: 2 * time.Second}})
	var priv transport.Privileges
	ob.waitFor(ctx, "the privilege advertisement", func() bool {
		var ok bool
		priv, ok = ob.conn.Privileges()
		return ok
	})
	if priv.Namespace != namespace || priv.Presence != "managed_entity" || priv.SendsOnlineUsers() != sendsOnline {
		t.Fatalf("privileges %+v, want %s with presence=managed_entity", priv, namespace)
	}

	var latMu sync.Mutex
	var lat []time.Duration
	resolve := func(evs map[string]xmpptest.Event, since func(xmpptest.Event) time.Time) {
		var wg sync.WaitGroup
		for n, ev := range evs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				info, err := ob.waitCaps(ctx, ev.JID)
				if err != nil {
					t.Errorf("%s (%s): %v", n, ev.JID, err)
					return
				}
				d := time.Since(since(ev))
				if diff := sameInfo(info, ev.Info); diff != "" {
					t.Errorf("%s (%s): %s", n, ev.JID, diff)
				}
				latMu.Lock()
				lat = append(lat, d)
				latMu.Unlock()
			}()
		}
		wg.Wait()
	}

	t.Run("users online before it connected", func(t *testing.T) {
		evs := map[string]xmpptest.Event{}
		since := func(xmpptest.Event) time.Time { return connected }
		if !sendsOnline {
			// The server did not send them (docs/server.md says so: a
			// server that starts to must fail here)...
			time.Sleep(time.Second)
			for _, s := range append(append([]xmpptest.PeerSpec{}, slix[:half]...), aio[:half]...) {
				if _, err := ob.eng.Key(announced[s.Name].JID); err == nil {
					t.Errorf("%s, online before the component, seen without a new presence", s.Name)
				}
			}
			// ...they are seen at their next presence, from which their
			// latency counts.
			for k, v := range reannounce(sp1, early(slix, slixLiar)) {
				evs[k] = v
			}
			for k, v := range reannounce(ap1, early(aio, aioLiar)) {
				evs[k] = v
			}
			delete(evs, slixLiar.Name)
			delete(evs, aioLiar.Name)
			since = func(ev xmpptest.Event) time.Time { return ev.At }
		} else {
			for _, s := range append(append([]xmpptest.PeerSpec{}, slix[:half]...), aio[:half]...) {
				evs[s.Name] = announced[s.Name]
			}
		}
		resolve(evs, since)
	})

	// Started on the test, not the subtest: they stay online until the
	// end (the restart rounds count them).
	sp2 := xmpptest.StartPeers(t, xmpptest.Slixmpp, srv, "", slix[half:])
	ap2 := xmpptest.StartPeers(t, xmpptest.Aioxmpp, srv, "", aio[half:])
	t.Run("users coming online after", func(t *testing.T) {
		var wg sync.WaitGroup
		for _, g := range []peerGroup{{sp2, slix[half:]}, {ap2, aio[half:]}} {
			g.p.WaitAll(ctx, "ready", names(g.specs))
			for _, s := range g.specs {
				g.p.Command(map[string]any{"cmd": "announce", "peer": s.Name})
			}
			evs := g.p.WaitAll(ctx, "announced", names(g.specs))
			for k, v := range evs {
				announced[k] = v
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				resolve(evs, func(ev xmpptest.Event) time.Time { return ev.At })
			}()
		}
		wg.Wait()
	})

	latMu.Lock()
	slices.Sort(lat)
	if len(lat) > 0 {
		p50, p99 := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
		t.Logf("%s: %d users resolved; from their presence (or the component's connect): p50 %v, p99 %v, max %v",
			kind, len(lat), p50.Round(time.Millisecond), p99.Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
		if p99 > 5*time.Second {
			t.Errorf("p99 %v: users must resolve within 5 s of their presence", p99)
		}
	}
	if len(lat) != 2*privUsers {
		t.Errorf("%d users resolved, want %d", len(lat), 2*privUsers)
	}
	latMu.Unlock()

	t.Run("one query per distinct ver, liars rejected", func(t *testing.T) {
		for _, liar := range []string{slixLiar.Name, aioLiar.Name} {
			if _, err := ob.waitCaps(ctx, announced[liar].JID); err == nil {
				t.Errorf("%s's lying answer was accepted", liar)
			}
		}
		for _, g := range []struct {
			specs []xmpptest.PeerSpec
			liar  string
		}{{slix, slixLiar.Name}, {aio, aioLiar.Name}} {
			total := 0
			for _, s := range g.specs {
				total += len(queriesOf(s.Name, srv.Component, sp1, ap1, sp2, ap2))
			}
			if total != privProfiles {
				t.Errorf("%d queries for %d distinct vers (engine counters: %d hedges, %d timeouts)",
					total, privProfiles, ob.eng.Counters()["Hedges"], ob.eng.Counters()["Timeouts"])
			}
			if q := queriesOf(g.liar, srv.Component, sp1, ap1, sp2, ap2); len(q) != 1 {
				t.Errorf("liar %s queried %d times, want 1", g.liar, len(q))
			}
		}
	})

	t.Run("users going offline", func(t *testing.T) {
		gone := []string{slix[0].Name, aio[0].Name}
		sp1.Command(map[string]any{"cmd": "unavailable", "peer": slix[0].Name})
		ap1.Command(map[string]any{"cmd": "unavailable", "peer": aio[0].Name})
		for _, n := range gone {
			jid := announced[n].JID
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			_, ok := ob.ev.wait(wctx, func(ev messages.Event) bool {
				g, isGone := ev.(*messages.EntityGone)
				return isGone && g.JID == jid
			})
			cancel()
			if !ok {
				t.Errorf("no EntityGone for %s (%s)", n, jid)
			}
		}
	})
	online := 2*privUsers + 2 - 2 // everyone, the liars included, but the two gone
	ob.stop()
	// Who is online now, by peer script, for the servers that do not send
	// them to a (re)connected component.
	gone := map[string]bool{slix[0].Name: true, aio[0].Name: true}
	var onlineGroups []peerGroup
	for _, g := range []peerGroup{{sp1, early(slix, slixLiar)}, {ap1, early(aio, aioLiar)}, {sp2, slix[half:]}, {ap2, aio[half:]}} {
		g.specs = slices.DeleteFunc(slices.Clone(g.specs), func(s xmpptest.PeerSpec) bool { return gone[s.Name] })
		onlineGroups = append(onlineGroups, g)
	}

	// The service as an operator runs it: capsengine observe --privileged
	// on the same store, then killed with SIGKILL and started again. Each
	// time Prosody sends it the presence of every user online (on
	// ejabberd, they announce once more), and every honest one resolves
	// from the store, without a query. (The liars' vers are not in the
	// store: a restarted service asks them again.)
	honestQueries := func() int {
		n := 0
		for _, ev := range allQueries(srv.Component, sp1, ap1, sp2, ap2) {
			if ev.Peer != slixLiar.Name && ev.Peer != aioLiar.Name {
				n++
			}
		}
		return n
	}
	before := honestQueries()
	t.Run("restart and kill -9", func(t *testing.T) {
		for round := range 2 {
			p := startPrivileged(t, ctx, bin, srv, dataDir)
			if p == nil {
				return
			}
			var h struct {
				Privileges *transport.Privileges `json:"privileges"`
				Warnings   []string              `json:"warnings"`
				JIDs       int                   `json:"jids"`
			}
			healthz := func(until func() bool) {
				deadline := time.Now().Add(30 * time.Second)
				for time.Now().Before(deadline) {
					resp, err := http.Get("http://" + p.api + "/healthz")
					if err == nil {
						// A fresh value each time: decoding into the last
						// one would keep the warnings an answer omits.
						h.Privileges, h.Warnings, h.JIDs = nil, nil, 0
						_ = json.NewDecoder(resp.Body).Decode(&h)
						resp.Body.Close()
					}
					if until() {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			if !sendsOnline {
				// Once the server has granted its permissions, the users
				// online announce again: the restarted service sees them
				// then.
				healthz(func() bool { return h.Privileges != nil })
				if h.JIDs != 0 {
					t.Errorf("round %d: %d JIDs online before anyone announced again", round, h.JIDs)
				}
				for _, g := range onlineGroups {
					reannounce(g.p, g.specs)
				}
			}
			healthz(func() bool { return h.Privileges != nil && h.JIDs >= online })
			if h.Privileges == nil || h.Privileges.Namespace != namespace || h.Privileges.Presence != "managed_entity" {
				t.Errorf("round %d: /healthz privileges %+v, want %s with presence=managed_entity", round, h.Privileges, namespace)
			}
			// The gap is reported where the operator looks, and only
			// where there is one.
			if sendsOnline && len(h.Warnings) != 0 {
				t.Errorf("round %d: /healthz warnings %q, want none", round, h.Warnings)
			}
			if !sendsOnline && (len(h.Warnings) != 1 || !strings.Contains(h.Warnings[0], onlineWarning)) {
				t.Errorf("round %d: /healthz warnings %q, want one saying that the server %s", round, h.Warnings, onlineWarning)
			}
			if h.JIDs < online {
				t.Errorf("round %d: /healthz says %d JIDs online, want %d", round, h.JIDs, online)
			}
			for name, ev := range announced {
				if name == slix[0].Name || name == aio[0].Name || name == slixLiar.Name || name == aioLiar.Name {
					continue
				}
				wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				status := p.waitResolved(wctx, ev.JID)
				cancel()
				if status != "resolved" {
					t.Errorf("round %d: %s (%s) is %q", round, name, ev.JID, status)
				}
			}
			// What the operator sees of its users' software: every honest
			// user online, under the software its XEP-0232 form or its
			// identity names.
			var sw []struct {
				Name string `json:"name"`
				JIDs int    `json:"jids"`
			}
			if resp, err := http.Get("http://" + p.api + "/software"); err == nil {
				_ = json.NewDecoder(resp.Body).Decode(&sw)
				resp.Body.Close()
			}
			total := 0
			for _, e := range sw {
				total += e.JIDs
				if e.Name == "" {
					t.Errorf("round %d: %d JIDs name no software", round, e.JIDs)
				}
			}
			if total != online-2 {
				t.Errorf("round %d: /software counts %d JIDs, want %d (the honest users online): %+v", round, total, online-2, sw)
			}
			if n := honestQueries(); n != before {
				t.Errorf("round %d: %d new queries; every ver was in the store", round, n-before)
			}
			_ = p.cmd.Process.Kill() // SIGKILL: no goodbye, no flush
			p.exited <- <-p.exited   // for the cleanup, which waits for it too
		}
	})
}

// TestPrivilegedComponentRefused: a server that grants no presence
// permission gets a clear error and exit status 1, not a service that
// looks healthy and sees nothing. Prosody advertises a privilege without
// presence; ejabberd, granting nothing, advertises nothing at all.
func TestPrivilegedComponentRefused(t *testing.T) {
	bin := buildCapsengine(t)
	for _, sv := range []struct {
		kind xmpptest.Kind
		says string // why, in the error
	}{
		{xmpptest.Prosody, "the server granted " + transport.NSPrivilege2},
		{xmpptest.Ejabberd, "no privilege advertisement arrived"},
	} {
		t.Run(string(sv.kind), func(t *testing.T) {
			srv := xmpptest.StartServer(t, sv.kind, xmpptest.Options{Privilege: "none"})
			path, err := bin()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(path, "observe", "--privileged", "--jid", srv.Component, "--component-secret", srv.ComponentSecret,
				"--addr", srv.ComponentAddr, "--in-memory", "--privilege-wait", "3s", "--timeout", "1m")
			out, err := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 1 {
				t.Fatalf("exit %d (%v), want 1:\n%s", code, err, out)
			}
			if !strings.Contains(string(out), "no XEP-0356 presence permission") || !strings.Contains(string(out), sv.says) {
				t.Errorf("no clear error (want %q):\n%s", sv.says, out)
			}
		})
	}
}

// peerGroup is some of the peers of one script.
type peerGroup struct {
	p     *xmpptest.Peers
	specs []xmpptest.PeerSpec
}

func queriesOf(peer, from string, ps ...*xmpptest.Peers) []xmpptest.Event {
	var out []xmpptest.Event
	for _, p := range ps {
		out = append(out, p.Queries(peer, from)...)
	}
	return out
}

func allQueries(from string, ps ...*xmpptest.Peers) []xmpptest.Event {
	var out []xmpptest.Event
	for _, p := range ps {
		for _, ev := range p.Events() {
			if ev.Ev == "query" && ev.From == from {
				out = append(out, ev)
			}
		}
	}
	return out
}

// startPrivileged starts capsengine observe as the privileged component
// on dataDir and waits for its session and HTTP API; nil (with the test
// failed) when it cannot.
func startPrivileged(t *testing.T, ctx context.Context, bin func() (string, error), srv *xmpptest.Server, dataDir string) *dumpObserver {
	t.Helper()
	return startObserve(t, ctx, bin, "observe", "--privileged", "--jid", srv.Component,
		"--component-secret", srv.ComponentSecret, "--addr", srv.ComponentAddr,
		"--data", dataDir, "--http", "127.0.0.1:0", "--query-timeout", "8s", "--timeout", "3m")
}
