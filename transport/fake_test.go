package transport_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/transport"
)

// fakeServer is the server side of XEP-0114 on a loopback socket: enough
// of a server to drive a component Conn stanza by stanza.
type fakeServer struct {
	t      *testing.T
	ln     net.Listener
	conns  chan *fakeConn
	refuse atomic.Bool // answer the handshake with a not-authorized stream error
}

type fakeConn struct {
	t   *testing.T
	c   net.Conn
	dec *xml.Decoder
	mu  sync.Mutex
}

// elem is one stanza the Conn sent.
type elem struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Inner   string     `xml:",innerxml"`
}

func (e *elem) attr(name string) string {
	for _, a := range e.Attrs {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, ln: ln, conns: make(chan *fakeConn, 4)}
	go f.accept()
	t.Cleanup(func() { ln.Close() })
	return f
}

func (f *fakeServer) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		fc := &fakeConn{t: f.t, c: c, dec: xml.NewDecoder(c)}
		if err := fc.handshake(f.refuse.Load()); err != nil {
			c.Close()
			continue
		}
		f.conns <- fc
	}
}

// handshake answers the component's stream header and handshake.
func (fc *fakeConn) handshake(refuse bool) error {
	for {
		tok, err := fc.dec.Token()
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "stream" {
			break
		}
	}
	if _, err := io.WriteString(fc.c, "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "+
		"xmlns='jabber:component:accept' from='caps.example.org' id='s1'>"); err != nil {
		return err
	}
	var hs elem
	if err := fc.dec.Decode(&hs); err != nil {
		return err
	}
	if refuse {
		_, _ = io.WriteString(fc.c, "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>")
		return io.EOF
	}
	_, err := io.WriteString(fc.c, "<handshake/>")
	return err
}

// next waits for the Conn's next connection.
func (f *fakeServer) next(ctx context.Context) *fakeConn {
	f.t.Helper()
	select {
	case c := <-f.conns:
		f.t.Cleanup(func() { c.c.Close() })
		return c
	case <-ctx.Done():
		f.t.Fatal("the Conn did not connect")
		return nil
	}
}

// send writes raw XML to the Conn.
func (fc *fakeConn) send(s string) {
	fc.t.Helper()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if _, err := io.WriteString(fc.c, s); err != nil {
		fc.t.Fatal(err)
	}
}

// read returns the next stanza whose name is one of names, skipping
// others.
func (fc *fakeConn) read(ctx context.Context, names ...string) *elem {
	fc.t.Helper()
	deadline, _ := ctx.Deadline()
	_ = fc.c.SetReadDeadline(deadline)
	for {
		var e elem
		if err := fc.dec.Decode(&e); err != nil {
			fc.t.Fatalf("reading from the Conn: %v", err)
		}
		for _, n := range names {
			if e.XMLName.Local == n {
				return &e
			}
		}
	}
}

// readIQ returns the next IQ of type typ.
func (fc *fakeConn) readIQ(ctx context.Context, typ string) *elem {
	fc.t.Helper()
	for {
		e := fc.read(ctx, "iq")
		if e.attr("type") == typ {
			return e
		}
	}
}

// start connects a component Conn with an in-memory engine to f.
func start(t *testing.T, f *fakeServer, cfg transport.Config) (*transport.Conn, *capsengine.Engine, *fakeConn) {
	t.Helper()
	cfg.JID, cfg.Password, cfg.Component, cfg.Addr = "caps.example.org", "secret", true, f.ln.Addr().String()
	if cfg.Backoff.Min == 0 {
		cfg.Backoff = transport.Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	conn, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	eng, err := capsengine.Open(ctx, capsengine.Config{InMemory: true, Querier: conn,
		Tuning: capsengine.Tuning{QueryTimeout: 3 * time.Second, Debounce: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.SetLocal(transport.LocalInfo("test", true)); err != nil {
		t.Fatal(err)
	}
	if err := eng.FlushLocal(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- conn.Run(ctx, eng) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := eng.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	fc := f.next(wctx)
	return conn, eng, fc
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func discoResult(id, from, to, node, payload string) string {
	return fmt.Sprintf("<iq type='result' id='%s' from='%s' to='%s' xml:lang='fr'><query xmlns='http://jabber.org/protocol/disco#info' node='%s'>%s</query></iq>",
		id, from, to, node, payload)
}

func has(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
