package transport_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/transport"
)

func TestQueryInfo(t *testing.T) {
	f := newFakeServer(t)
	conn, _, fc := start(t, f, transport.Config{})
	ctx := testCtx(t)

	type result struct {
		info *hashing.Info
		err  error
	}
	ask := func(ctx context.Context, jid, node string) <-chan result {
		ch := make(chan result, 1)
		go func() {
			info, err := conn.QueryInfo(ctx, jid, node)
			ch <- result{info, err}
		}()
		return ch
	}

	t.Run("answer", func(t *testing.T) {
		res := ask(ctx, "juliet@capulet.lit/balcony", "http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w=")
		iq := fc.readIQ(ctx, "get")
		if iq.attr("to") != "juliet@capulet.lit/balcony" || iq.attr("from") != "caps.example.org" ||
			!has(iq.Inner, "disco#info", "http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w=") {
			t.Fatalf("query: %+v", iq)
		}
		// Prosody stamps xml:lang on the iq: the first identity must not
		// inherit it.
		fc.send(discoResult(iq.attr("id"), "juliet@capulet.lit/balcony", "caps.example.org", "http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w=",
			"<identity category='client' type='pc' name='Psi'/><identity category='client' type='pc' xml:lang='de' name='Psi &amp; Co'/>"+
				"<feature var='urn:xmpp:ping'/><x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:x</value></field></x>"))
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		ids := r.info.Identities
		if len(ids) != 2 || ids[0].Lang != "" || ids[1].Lang != "de" || ids[1].Name != "Psi & Co" {
			t.Errorf("identities: %+v", ids)
		}
		if len(r.info.Features) != 1 || len(r.info.Forms) != 1 {
			t.Errorf("info: %+v", r.info)
		}
	})

	t.Run("IQ error", func(t *testing.T) {
		res := ask(ctx, "romeo@montague.lit/x", "n#v")
		iq := fc.readIQ(ctx, "get")
		fc.send("<iq type='error' id='" + iq.attr("id") + "' from='romeo@montague.lit/x' to='caps.example.org'>" +
			"<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" +
			"<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no such node</text></error></iq>")
		r := <-res
		var se *transport.StanzaError
		if !errors.As(r.err, &se) || !errors.Is(r.err, transport.ErrIQError) {
			t.Fatalf("got %v, want a *StanzaError", r.err)
		}
		if se.Condition != "item-not-found" || se.Type != "cancel" || se.Text != "no such node" || se.Node != "n#v" {
			t.Errorf("got %+v", se)
		}
	})

	t.Run("spoofed", func(t *testing.T) {
		res := ask(ctx, "romeo@montague.lit/x", "n#v")
		iq := fc.readIQ(ctx, "get")
		fc.send(discoResult(iq.attr("id"), "mallory@evil.lit/x", "caps.example.org", "n#v", "<feature var='a'/>"))
		if r := <-res; !errors.Is(r.err, transport.ErrSpoofed) {
			t.Errorf("got %v, want ErrSpoofed", r.err)
		}
	})

	t.Run("not disco#info", func(t *testing.T) {
		res := ask(ctx, "romeo@montague.lit/x", "n#v")
		iq := fc.readIQ(ctx, "get")
		fc.send("<iq type='result' id='" + iq.attr("id") + "' from='romeo@montague.lit/x'/>")
		if r := <-res; !errors.Is(r.err, messages.ErrNoQuery) {
			t.Errorf("got %v, want messages.ErrNoQuery", r.err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		res := ask(qctx, "silent@example.org/x", "n#v")
		fc.readIQ(ctx, "get")
		if r := <-res; !errors.Is(r.err, context.DeadlineExceeded) {
			t.Errorf("got %v, want DeadlineExceeded", r.err)
		}
		if conn.Stats().QueryTimeouts == 0 {
			t.Error("timeout not counted")
		}
	})
}

// TestIngestAndAnswer: presence reaches the engine, the engine's query
// goes out through the Conn, and disco#info for our own node is answered.
func TestIngestAndAnswer(t *testing.T) {
	f := newFakeServer(t)
	var mu sync.Mutex
	var seen []string
	conn, eng, fc := start(t, f, transport.Config{OnPresence: func(p *messages.Presence) {
		mu.Lock()
		seen = append(seen, p.From)
		mu.Unlock()
	}})
	ctx := testCtx(t)
	gone := eng.Subscribe(messages.KindEntityGone, 4)
	defer gone.Close()

	info := &hashing.Info{Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "Exodus"}},
		Features: []string{"http://jabber.org/protocol/disco#info", "urn:xmpp:ping"}}
	ver, err := hashing.Ver(hashing.SHA1, info)
	if err != nil {
		t.Fatal(err)
	}
	fc.send("<presence from='juliet@capulet.lit/balcony' to='caps.example.org' xml:lang='en'>" +
		"<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://exodus' ver='" + ver + "'/></presence>")
	iq := fc.readIQ(ctx, "get")
	if iq.attr("to") != "juliet@capulet.lit/balcony" || !has(iq.Inner, "https://exodus#"+ver) {
		t.Fatalf("engine query: %+v", iq)
	}
	fc.send(discoResult(iq.attr("id"), "juliet@capulet.lit/balcony", "caps.example.org", "https://exodus#"+ver,
		"<identity category='client' type='pc' name='Exodus'/><feature var='urn:xmpp:ping'/><feature var='http://jabber.org/protocol/disco#info'/>"))
	// The engine sends a new key's first query from the ingesting
	// goroutine before it hands the presence to the JID's shard: a Wait
	// made as soon as the query is seen can reach the shard first and
	// find the JID unknown. Once Key knows it, the presence is applied.
	for {
		if _, err := eng.Key("juliet@capulet.lit/balcony"); !errors.Is(err, capsengine.ErrUnknownJID) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("juliet's presence never reached the engine's table")
		}
		time.Sleep(time.Millisecond)
	}
	got, err := eng.Wait(ctx, "juliet@capulet.lit/balcony")
	if err != nil {
		t.Fatal(err)
	}
	if !got.HasFeature("urn:xmpp:ping") {
		t.Errorf("resolved to %+v", got)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != "juliet@capulet.lit/balcony" {
		t.Errorf("OnPresence saw %q", seen)
	}
	mu.Unlock()
	if got := conn.Contacts(); len(got) != 1 || got[0] != "juliet@capulet.lit" {
		t.Errorf("contacts: %q", got)
	}

	ann, ok := eng.Announcement()
	if !ok {
		t.Fatal("no announcement")
	}
	t.Run("our node", func(t *testing.T) {
		fc.send("<iq type='get' id='q1' from='romeo@montague.lit/x' to='caps.example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='" +
			ann.Caps.Node + "#" + ann.Caps.Ver + "'/></iq>")
		r := fc.readIQ(ctx, "result")
		if r.attr("id") != "q1" || r.attr("to") != "romeo@montague.lit/x" || !has(r.Inner, "urn:xmpp:caps", "component", ann.Caps.Ver) {
			t.Errorf("answer: %+v", r)
		}
		// The answer hashes to what we announce.
		got, err := messages.ParseDiscoInfo([]byte("<iq type='result'>" + r.Inner + "</iq>"))
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := hashing.Ver(hashing.SHA1, got); v != ann.Caps.Ver {
			t.Errorf("our answer hashes to %s, we announce %s", v, ann.Caps.Ver)
		}
	})
	t.Run("unknown node", func(t *testing.T) {
		fc.send("<iq type='get' id='q2' from='romeo@montague.lit/x' to='caps.example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='nope#x'/></iq>")
		if r := fc.readIQ(ctx, "error"); r.attr("id") != "q2" || !has(r.Inner, "item-not-found") {
			t.Errorf("answer: %+v", r)
		}
	})
	t.Run("unknown IQ", func(t *testing.T) {
		fc.send("<iq type='set' id='q3' from='romeo@montague.lit/x' to='caps.example.org'><query xmlns='jabber:iq:roster'/></iq>")
		if r := fc.readIQ(ctx, "error"); r.attr("id") != "q3" || !has(r.Inner, "service-unavailable") {
			t.Errorf("answer: %+v", r)
		}
	})
	t.Run("ping", func(t *testing.T) {
		fc.send("<iq type='get' id='q4' from='caps.example.org' to='caps.example.org'><ping xmlns='urn:xmpp:ping'/></iq>")
		if r := fc.readIQ(ctx, "result"); r.attr("id") != "q4" {
			t.Errorf("answer: %+v", r)
		}
	})
	t.Run("probe", func(t *testing.T) {
		fc.send("<presence type='probe' from='romeo@montague.lit' to='caps.example.org'/>")
		// Presences the component sent others before (to JIDs of earlier
		// subtests) may still be on their way: the answer is the one to
		// romeo.
		p := fc.read(ctx, "presence")
		for p.attr("to") != "romeo@montague.lit" && ctx.Err() == nil {
			p = fc.read(ctx, "presence")
		}
		if p.attr("to") != "romeo@montague.lit" || !has(p.Inner, ann.Caps.Ver) {
			t.Errorf("probe answer: %+v", p)
		}
	})
	t.Run("unavailable", func(t *testing.T) {
		fc.send("<presence type='unavailable' from='juliet@capulet.lit/balcony' to='caps.example.org'/>")
		select {
		case ev := <-gone.Events():
			if g := ev.(*messages.EntityGone); g.JID != "juliet@capulet.lit/balcony" {
				t.Errorf("EntityGone for %s", g.JID)
			}
		case <-ctx.Done():
			t.Fatal("JID not dropped")
		}
	})
}

// TestSubscriptionsAndVerChanged: a component accepts subscriptions,
// answers with its presence, and re-sends it when its caps change.
func TestSubscriptionsAndVerChanged(t *testing.T) {
	f := newFakeServer(t)
	conn, eng, fc := start(t, f, transport.Config{AcceptSubscriptions: true})
	ctx := testCtx(t)
	fc.send("<presence type='subscribe' from='romeo@montague.lit' to='caps.example.org'/>")
	want := []string{"subscribed", "subscribe", ""}
	for _, typ := range want {
		p := fc.read(ctx, "presence")
		if p.attr("type") != typ || p.attr("to") != "romeo@montague.lit" || p.attr("from") != "caps.example.org" {
			t.Fatalf("got %+v, want presence of type %q", p, typ)
		}
	}
	if conn.Stats().Subscriptions != 1 {
		t.Errorf("stats: %+v", conn.Stats())
	}
	old, _ := eng.Announcement()
	next := transport.LocalInfo("renamed", true)
	if err := eng.SetLocal(next); err != nil {
		t.Fatal(err)
	}
	// The greeting may race with the subscription and send our presence
	// (and a probe) to the new contact once more: skip to the new ver.
	if err := eng.FlushLocal(ctx); err != nil {
		t.Fatal(err)
	}
	now, _ := eng.Announcement()
	if now.Caps.Ver == old.Caps.Ver {
		t.Fatal("SetLocal did not change our ver")
	}
	for {
		p := fc.read(ctx, "presence")
		if p.attr("to") != "romeo@montague.lit" {
			t.Fatalf("presence to %s", p.attr("to"))
		}
		if has(p.Inner, now.Caps.Ver) {
			break
		}
	}
}

// TestReconnect: the server drops the connection; the Conn reconnects,
// probes its contacts, and a query cut by the drop is sent again once its
// target is available again.
func TestReconnect(t *testing.T) {
	f := newFakeServer(t)
	conn, _, fc := start(t, f, transport.Config{Probe: []string{"juliet@capulet.lit"}})
	ctx := testCtx(t)
	// Greeting: our presence and a probe to every contact.
	for _, typ := range []string{"", "probe"} {
		if p := fc.read(ctx, "presence"); p.attr("type") != typ || p.attr("to") != "juliet@capulet.lit" {
			t.Fatalf("greeting: %+v", p)
		}
	}
	res := make(chan error, 1)
	go func() {
		_, err := conn.QueryInfo(ctx, "juliet@capulet.lit/balcony", "n#v")
		res <- err
	}()
	fc.readIQ(ctx, "get")
	fc.c.Close() // the server goes away with the query in flight

	fc2 := f.next(ctx)
	for _, typ := range []string{"", "probe"} {
		if p := fc2.read(ctx, "presence"); p.attr("type") != typ {
			t.Fatalf("greeting after reconnect: %+v", p)
		}
	}
	fc2.send("<presence from='juliet@capulet.lit/balcony' to='caps.example.org'/>")
	iq := fc2.readIQ(ctx, "get")
	if iq.attr("to") != "juliet@capulet.lit/balcony" {
		t.Fatalf("re-sent query: %+v", iq)
	}
	fc2.send(discoResult(iq.attr("id"), "juliet@capulet.lit/balcony", "caps.example.org", "n#v", "<feature var='urn:xmpp:ping'/>"))
	if err := <-res; err != nil {
		t.Fatalf("query across the reconnect: %v", err)
	}
	st := conn.Stats()
	if st.Connects != 2 || st.Disconnects != 1 || st.Resent != 1 {
		t.Errorf("stats: %+v", st)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  transport.Config
	}{
		{"no JID", transport.Config{}},
		{"no localpart", transport.Config{JID: "example.org"}},
		{"component without address", transport.Config{JID: "caps.example.org", Component: true}},
		{"bad JID", transport.Config{JID: "a@b@c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := transport.New(tc.cfg); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestUnreachable: a server that is not there is retried until ctx ends.
func TestUnreachable(t *testing.T) {
	f := newFakeServer(t)
	f.ln.Close()
	conn, err := transport.New(transport.Config{JID: "caps.example.org", Component: true, Addr: f.ln.Addr().String(),
		Backoff: transport.Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	eng := openEngine(t, conn)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := conn.Run(ctx, eng); err != nil {
		t.Errorf("Run with an unreachable server: got %v, want nil at ctx end", err)
	}
	if conn.Stats().DialErrors == 0 {
		t.Error("dial errors not counted")
	}
	if _, err := conn.QueryInfo(context.Background(), "a@b/c", ""); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("QueryInfo after Run: got %v, want ErrClosed", err)
	}
}

// TestAuthFailure: a refused first login ends Run with ErrAuth.
func TestAuthFailure(t *testing.T) {
	f := newFakeServer(t)
	f.refuse.Store(true)
	conn, err := transport.New(transport.Config{JID: "caps.example.org", Component: true, Password: "wrong",
		Addr: f.ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	eng := openEngine(t, conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := conn.Run(ctx, eng); !errors.Is(err, transport.ErrAuth) {
		t.Errorf("got %v, want ErrAuth", err)
	}
}

func openEngine(t *testing.T, q capsengine.Querier) *capsengine.Engine {
	t.Helper()
	eng, err := capsengine.Open(context.Background(), capsengine.Config{InMemory: true, Querier: q})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	return eng
}
