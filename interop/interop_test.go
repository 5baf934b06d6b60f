package interop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/xmpptest"
	"github.com/capsengine/capsengine/messages"
)

const (
	nSlix = 12 // honest slixmpp peers, each with a ver of its own
	nAio  = 12 // honest aioxmpp peers
	room  = "lobby"
)

// group returns n identical specs (one ver for all), named prefix1..n.
func group(prefix string, n, profileIndex int, behaviors ...string) []xmpptest.PeerSpec {
	var out []xmpptest.PeerSpec
	for i := range n {
		name := fmt.Sprintf("%s%d", prefix, i+1)
		s := profile(prefix, name+"@localhost", profileIndex) // same unique feature for the group
		s.Name, s.Password = name, name+"-pw"
		if i < len(behaviors) {
			s.Behavior = behaviors[i]
		}
		out = append(out, s)
	}
	return out
}

func names(specs []xmpptest.PeerSpec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.Name)
	}
	return out
}

// TestInterop runs the engine as a client of a real Prosody (STARTTLS,
// SCRAM) against real slixmpp and aioxmpp peers that subscribe to it, and
// checks every guarantee of issue 6 on the wire: see interop/doc.go.
func TestInterop(t *testing.T) {
	began := time.Now()
	bin := buildCapsengine(t) // for the fault scenario; builds while the rest starts
	srv := xmpptest.StartProsody(t, xmpptest.Options{TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var slix, aio []xmpptest.PeerSpec
	for i := range nSlix {
		n := fmt.Sprintf("s%02d", i)
		slix = append(slix, profile(n, n+"@localhost", i))
	}
	for i := range nAio {
		n := fmt.Sprintf("a%02d", i)
		aio = append(aio, profile(n, n+"@localhost", i+2))
	}
	// Reliability peers: groups share one ver; the first of each group
	// misbehaves. Errors and lies come after a delay, so that the honest
	// peer is already waiting in the lookup's announcer list; a delay
	// short of the hedge delay (at least 250 ms), or the honest peer is
	// asked as a hedge and the error or lie is never heard.
	liarSlix := profile("xliar", "xliar@localhost", 5)
	liarSlix.Behavior = xmpptest.Liar
	liarAio := profile("yliar", "yliar@localhost", 6)
	liarAio.Behavior = xmpptest.Liar
	silentGroup := group("fs", 2, 7, xmpptest.Silent)
	errorGroup := group("fe", 2, 8, xmpptest.Error)
	errorGroup[0].Delay = 0.1
	liarGroup := group("fl", 2, 9, xmpptest.Liar)
	liarGroup[0].Delay = 0.1
	dedupSlix := group("ds", 4, 10)
	dedupAio := group("da", 4, 11)
	flood := profile("flood", "flood@localhost", 12)
	mucSlix := profile("ms", "ms@localhost", 13)
	mucAio := profile("ma", "ma@localhost", 1)
	// Restart peers ask for a fixed resource and log in again after the
	// restart with the same full JID.
	restart := group("rs", 3, 4)
	for i := range restart {
		restart[i].JID += "/interop"
		restart[i].Features = append(restart[i].Features, "urn:capsengine:interop:restart:"+restart[i].Name)
		restart[i].Delay = 0.5
		restart[i].Reconnect = true
	}

	slixAll := append(append([]xmpptest.PeerSpec{}, slix...), liarSlix)
	slixAll = append(slixAll, silentGroup...)
	slixAll = append(slixAll, errorGroup...)
	slixAll = append(slixAll, liarGroup...)
	slixAll = append(slixAll, dedupSlix...)
	slixAll = append(slixAll, flood, mucSlix)
	slixAll = append(slixAll, restart...)
	aioAll := append(append([]xmpptest.PeerSpec{}, aio...), liarAio)
	aioAll = append(aioAll, dedupAio...)
	aioAll = append(aioAll, mucAio)
	faults := faultGroups()
	for _, g := range faults {
		if g.lib == xmpptest.Slixmpp {
			slixAll = append(slixAll, g.specs...)
		} else {
			aioAll = append(aioAll, g.specs...)
		}
	}

	post := []xmpptest.PeerSpec{profile("p01", "p01@localhost", 20), profile("s00", "p02@localhost", 0)}
	post[1].Name, post[1].Password = "p02", "p02-pw" // s00's ver: resolved from the cache after the restart
	comp := []xmpptest.PeerSpec{profile("c01", "c01@localhost", 21), profile("c02", "c02@localhost", 22)}

	accounts := map[string]string{"observer": "observer-pw", "skipper": "skipper-pw"}
	for _, specs := range [][]xmpptest.PeerSpec{slixAll, aioAll, post, comp} {
		for _, s := range specs {
			accounts[strings.Split(s.JID, "@")[0]] = s.Password
		}
	}
	srv.Register(t, accounts)
	t.Logf("prosody up, %d accounts: %v", len(accounts), time.Since(began))

	ob := startObserver(t, srv, "observer", observerOpts{rooms: []string{room + "@" + srv.MUC}})
	skipper := startObserver(t, srv, "skipper", observerOpts{rooms: []string{room + "@" + srv.MUC},
		tuning: capsengine.Tuning{SkipMUC: true}})
	obJID := "observer@localhost"
	sp := xmpptest.StartPeers(t, xmpptest.Slixmpp, srv, obJID, slixAll)
	ap := xmpptest.StartPeers(t, xmpptest.Aioxmpp, srv, obJID, aioAll)
	sp.WaitAll(ctx, "ready", names(slixAll))
	ap.WaitAll(ctx, "ready", names(aioAll))
	t.Logf("%d slixmpp and %d aioxmpp peers subscribed: %v", len(slixAll), len(aioAll), time.Since(began))
	local := ob.local()

	t.Run("every peer resolved and verified", func(t *testing.T) {
		for _, s := range slix {
			sp.Command(map[string]any{"cmd": "announce", "peer": s.Name})
		}
		for _, s := range aio {
			ap.Command(map[string]any{"cmd": "announce", "peer": s.Name})
		}
		announced := sp.WaitAll(ctx, "announced", names(slix))
		for k, v := range ap.WaitAll(ctx, "announced", names(aio)) {
			announced[k] = v
		}
		for name, ev := range announced {
			info := ob.waitInfo(ctx, ev.JID)
			if d := sameInfo(info, ev.Info); d != "" {
				t.Errorf("%s (%s): %s", name, ev.JID, d)
			}
			key, err := ob.eng.Key(ev.JID)
			if err != nil {
				t.Errorf("%s: Key: %v", name, err)
			} else if want := wantVer(ev, key); key.Ver() != want {
				t.Errorf("%s: engine key %s, peer announced %q", name, key, want)
			}
		}
		// Each peer was asked exactly once, by us.
		sp.Sync(ctx)
		ap.Sync(ctx)
		for _, s := range slix {
			if q := sp.Queries(s.Name, local); len(q) != 1 {
				t.Errorf("%s was queried %d times, want 1", s.Name, len(q))
			}
		}
		for _, s := range aio {
			if q := ap.Queries(s.Name, local); len(q) != 1 {
				t.Errorf("%s was queried %d times, want 1", s.Name, len(q))
			}
		}
	})

	t.Run("liars rejected", func(t *testing.T) {
		before := ob.eng.Counters()["Mismatches"]
		sp.Command(map[string]any{"cmd": "announce", "peer": liarSlix.Name})
		ap.Command(map[string]any{"cmd": "announce", "peer": liarAio.Name})
		for _, jid := range []string{
			sp.Wait(ctx, "liar announced", func(e xmpptest.Event) bool { return e.Ev == "announced" && e.Peer == liarSlix.Name }).JID,
			ap.Wait(ctx, "liar announced", func(e xmpptest.Event) bool { return e.Ev == "announced" && e.Peer == liarAio.Name }).JID,
		} {
			info, err := ob.waitCaps(ctx, jid)
			if err == nil {
				t.Errorf("%s: lying answer accepted: %v", jid, info.Features)
			} else if !errors.Is(err, capsengine.ErrAnnouncersFailed) {
				t.Errorf("%s: got %v, want ErrAnnouncersFailed", jid, err)
			}
			if _, ok := ob.ev.wait(ctx, func(e messages.Event) bool {
				f, ok := e.(*messages.CapsFailed)
				return ok && f.JID == jid
			}); !ok {
				t.Errorf("%s: no CapsFailed event", jid)
			}
		}
		if got := ob.eng.Counters()["Mismatches"] - before; got != 2 {
			t.Errorf("Mismatches went up by %d, want 2", got)
		}
	})

	// fallback: the first announcer of a ver misbehaves; the second one,
	// honest, is asked next, and the verified answer applies to both JIDs.
	// The counter named by moves goes up; those named by still do not.
	fallback := func(t *testing.T, specs []xmpptest.PeerSpec, moves string, still ...string) {
		before := ob.eng.Counters()
		bad, good := specs[0], specs[1]
		sp.Command(map[string]any{"cmd": "announce", "peer": bad.Name})
		sp.Wait(ctx, bad.Name+" queried", func(e xmpptest.Event) bool {
			return e.Ev == "query" && e.Peer == bad.Name && e.From == local
		})
		sp.Command(map[string]any{"cmd": "announce", "peer": good.Name})
		evs := sp.WaitAll(ctx, "announced", []string{bad.Name, good.Name})
		want := ob.waitInfo(ctx, evs[good.Name].JID)
		if d := sameInfo(want, evs[good.Name].Info); d != "" {
			t.Errorf("%s: %s", good.Name, d)
		}
		if evs[bad.Name].Ver != evs[good.Name].Ver {
			t.Fatalf("group vers differ: %s %s", evs[bad.Name].Ver, evs[good.Name].Ver)
		}
		got := ob.waitInfo(ctx, evs[bad.Name].JID)
		if d := sameInfo(got, evs[good.Name].Info); d != "" {
			t.Errorf("%s (first announcer): %s", bad.Name, d)
		}
		sp.Sync(ctx)
		for _, s := range specs {
			if q := sp.Queries(s.Name, local); len(q) != 1 {
				t.Errorf("%s was queried %d times, want 1", s.Name, len(q))
			}
		}
		after := ob.eng.Counters()
		if after[moves] == before[moves] {
			t.Errorf("counter %s did not move", moves)
		}
		for _, c := range still {
			if after[c] != before[c] {
				t.Errorf("counter %s went up by %d, want 0", c, after[c]-before[c])
			}
		}
	}
	// The silent one is not waited for until the query timeout: past the
	// hedge delay the honest one is asked too, and the silent query is
	// cancelled when it answers.
	t.Run("fallback after a silent first announcer", func(t *testing.T) { fallback(t, silentGroup, "Hedges", "Timeouts") })
	t.Run("fallback after an IQ error", func(t *testing.T) { fallback(t, errorGroup, "QueryErrors") })
	t.Run("liar sharing an honest ver", func(t *testing.T) { fallback(t, liarGroup, "Mismatches") })

	t.Run("fault scenario: every entity resolved", func(t *testing.T) {
		testFaults(t, ctx, faultEnv{srv: srv, ob: ob, password: accounts["observer"],
			peers: map[xmpptest.Library]*xmpptest.Peers{xmpptest.Slixmpp: sp, xmpptest.Aioxmpp: ap}, groups: faults, bin: bin})
	})

	t.Run("one query per ver", func(t *testing.T) {
		for _, s := range dedupSlix {
			sp.Command(map[string]any{"cmd": "announce", "peer": s.Name})
		}
		for _, s := range dedupAio {
			ap.Command(map[string]any{"cmd": "announce", "peer": s.Name})
		}
		for _, g := range []struct {
			p     *xmpptest.Peers
			specs []xmpptest.PeerSpec
		}{{sp, dedupSlix}, {ap, dedupAio}} {
			evs := g.p.WaitAll(ctx, "announced", names(g.specs))
			for _, s := range g.specs {
				info := ob.waitInfo(ctx, evs[s.Name].JID)
				if d := sameInfo(info, evs[s.Name].Info); d != "" {
					t.Errorf("%s: %s", s.Name, d)
				}
			}
			g.p.Sync(ctx)
			total := 0
			for _, s := range g.specs {
				total += len(g.p.Queries(s.Name, local))
			}
			if total != 1 {
				t.Errorf("%s group: %d disco#info queries for one ver, want 1", g.p.Lib, total)
			}
		}
	})

	t.Run("MUC occupants", func(t *testing.T) {
		roomJID := room + "@" + srv.MUC
		sp.Command(map[string]any{"cmd": "join", "peer": mucSlix.Name, "room": roomJID})
		ap.Command(map[string]any{"cmd": "join", "peer": mucAio.Name, "room": roomJID})
		occ := []string{
			sp.Wait(ctx, "ms joined", func(e xmpptest.Event) bool { return e.Ev == "joined" && e.Peer == mucSlix.Name }).Occupant,
			ap.Wait(ctx, "ma joined", func(e xmpptest.Event) bool { return e.Ev == "joined" && e.Peer == mucAio.Name }).Occupant,
		}
		for _, o := range occ {
			info := ob.waitInfo(ctx, o)
			if !info.HasFeature("urn:capsengine:interop:" + strings.TrimPrefix(o, roomJID+"/")) {
				t.Errorf("%s: features %q", o, info.Features)
			}
		}
		skipper.waitFor(ctx, "the skipper to drop both occupants", func() bool {
			return skipper.eng.Counters()["DropMUC"] >= 2
		})
		for _, o := range occ {
			if _, err := skipper.eng.Caps(o); !errors.Is(err, capsengine.ErrUnknownJID) {
				t.Errorf("skipper: %s: got %v, want ErrUnknownJID", o, err)
			}
		}
	})

	t.Run("flood rate limited and counted", func(t *testing.T) {
		const n = 300
		beforeRate, beforeQ := ob.eng.Counters()["DropRate"], len(sp.Queries(flood.Name, local))
		began := time.Now()
		sp.Command(map[string]any{"cmd": "flood", "peer": flood.Name, "n": n})
		sp.Wait(ctx, "flooded", func(e xmpptest.Event) bool { return e.Ev == "flooded" })
		ob.waitFor(ctx, "the flood to be rate limited", func() bool {
			c := ob.eng.Counters()
			return c["DropRate"]-beforeRate+uint64(len(sp.Queries(flood.Name, local))-beforeQ) >= n
		})
		queries := len(sp.Queries(flood.Name, local)) - beforeQ
		// AnnouncerBurst 10 at 1/s: everything else is skipped and counted.
		if limit := 10 + int(time.Since(began).Seconds()) + 1; queries > limit {
			t.Errorf("flooding peer got %d queries, want at most %d", queries, limit)
		}
		t.Logf("flood of %d presences: %d queries, %d rate-limited", n, queries, ob.eng.Counters()["DropRate"]-beforeRate)
	})

	t.Run("server restart", func(t *testing.T) {
		for _, s := range restart {
			sp.Command(map[string]any{"cmd": "announce", "peer": s.Name})
		}
		// Kill the server while queries are in flight (the peers answer
		// after half a second).
		sp.Wait(ctx, "a restart peer queried", func(e xmpptest.Event) bool {
			return e.Ev == "query" && strings.HasPrefix(e.Peer, "rs")
		})
		connects := ob.conn.Stats().Connects
		srv.Kill()
		srv.Start(t)
		ob.waitFor(ctx, "the observer to reconnect", func() bool { return ob.conn.Stats().Connects > connects })
		// The peers log in again with the same full JIDs and announce
		// again; the queries our restart cut are sent again, and every
		// lookup finishes.
		for _, s := range restart {
			jid := s.JID
			if d := sameInfo(ob.waitInfo(ctx, jid), sp.Wait(ctx, "announced", func(e xmpptest.Event) bool {
				return e.Ev == "announced" && e.Peer == s.Name
			}).Info); d != "" {
				t.Errorf("%s: %s", s.Name, d)
			}
		}
		if ob.conn.Stats().Resent == 0 {
			t.Errorf("no query was sent again after the reconnect")
		}
		// New peers after the restart; p02 announces s00's ver, which the
		// engine still knows: resolved without a query.
		pp := xmpptest.StartPeers(t, xmpptest.Slixmpp, srv, obJID, post)
		pp.WaitAll(ctx, "ready", names(post))
		for _, s := range post {
			pp.Command(map[string]any{"cmd": "announce", "peer": s.Name})
		}
		evs := pp.WaitAll(ctx, "announced", names(post))
		for _, s := range post {
			if d := sameInfo(ob.waitInfo(ctx, evs[s.Name].JID), evs[s.Name].Info); d != "" {
				t.Errorf("%s: %s", s.Name, d)
			}
		}
		local := ob.local()
		pp.Sync(ctx)
		if q := pp.Queries("p02", local); len(q) != 0 {
			t.Errorf("p02 announced a known ver but was queried %d times", len(q))
		}
		if q := pp.Queries("p01", local); len(q) != 1 {
			t.Errorf("p01 was queried %d times, want 1", len(q))
		}
	})

	t.Run("component with probes", func(t *testing.T) {
		co := startObserver(t, srv, "", observerOpts{component: true})
		cp := xmpptest.StartPeers(t, xmpptest.Slixmpp, srv, srv.Component, comp)
		cp.WaitAll(ctx, "ready", names(comp))
		cp.Command(map[string]any{"cmd": "announce", "peer": "*"})
		evs := cp.WaitAll(ctx, "announced", names(comp))
		for _, s := range comp {
			if d := sameInfo(co.waitInfo(ctx, evs[s.Name].JID), evs[s.Name].Info); d != "" {
				t.Errorf("%s: %s", s.Name, d)
			}
		}
		contacts := co.conn.Contacts()
		co.stop()
		// A fresh engine sees the peers that are already online through
		// its probes alone.
		co2 := startObserver(t, srv, "", observerOpts{component: true, probe: contacts})
		for _, s := range comp {
			if d := sameInfo(co2.waitInfo(ctx, evs[s.Name].JID), evs[s.Name].Info); d != "" {
				t.Errorf("%s after probe: %s", s.Name, d)
			}
		}
		if got := co2.conn.Stats().Probes; got < uint64(len(comp)) {
			t.Errorf("probes sent: %d, want %d", got, len(comp))
		}
		cp.Sync(ctx)
		for _, s := range comp {
			if q := cp.Queries(s.Name, srv.Component); len(q) != 2 {
				t.Errorf("%s: %d queries from the component, want 2 (one per engine)", s.Name, len(q))
			}
		}
	})

	t.Logf("interop suite: %v; observer counters: %v; transport: %+v", time.Since(began), ob.eng.Counters(), ob.conn.Stats())
}

// wantVer is the announced hash matching key: the XEP-0115 ver, or the
// XEP-0390 hash of key's algorithm.
func wantVer(ev xmpptest.Event, key hashing.Key) string {
	if key.Scheme == hashing.XEP0390 {
		return ev.Caps2[key.Alg.String()]
	}
	return ev.Ver
}
