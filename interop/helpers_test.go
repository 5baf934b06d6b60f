package interop

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/xmpptest"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/transport"
)

// observer is an engine connected to a server through a transport.Conn.
type observer struct {
	t    testing.TB
	eng  *capsengine.Engine
	conn *transport.Conn
	jid  string // configured JID (bare, or the component domain)
	ev   *events
	stop func()
}

type observerOpts struct {
	component bool
	// privileged: a XEP-0356 privileged component (mod_privilege on
	// Prosody or ejabberd).
	privileged bool
	tuning     capsengine.Tuning
	rooms      []string
	probe      []string
	dataDir    string
}

// startObserver opens an in-memory engine, connects it and waits for the
// session.
func startObserver(t testing.TB, srv *xmpptest.Server, user string, o observerOpts) *observer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := transport.Config{
		JID:                 user + "@" + srv.Domain,
		Password:            user + "-pw",
		Addr:                srv.C2S,
		TLS:                 srv.ClientTLS,
		InsecureNoTLS:       srv.ClientTLS == nil,
		AcceptSubscriptions: true,
		Rooms:               o.rooms,
		Probe:               o.probe,
		Backoff:             transport.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond},
		Logger:              testLogger(t, "transport"),
	}
	if o.component {
		cfg.JID, cfg.Password, cfg.Addr, cfg.Component = srv.Component, srv.ComponentSecret, srv.ComponentAddr, true
		cfg.Privileged = o.privileged
	}
	conn, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tun := o.tuning
	if tun.QueryTimeout == 0 {
		tun.QueryTimeout = 8 * time.Second
	}
	if tun.LookupTimeout == 0 {
		tun.LookupTimeout = 30 * time.Second
	}
	ecfg := capsengine.Config{InMemory: o.dataDir == "", DataDir: o.dataDir, Querier: conn, Tuning: tun,
		Logger: testLogger(t, "engine")}
	eng, err := capsengine.Open(ctx, ecfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.SetLocal(transport.LocalInfo("capsengine interop", o.component)); err != nil {
		t.Fatal(err)
	}
	if err := eng.FlushLocal(ctx); err != nil {
		t.Fatal(err)
	}
	ob := &observer{t: t, eng: eng, conn: conn, jid: cfg.JID, ev: collect(eng)}
	runDone := make(chan error, 1)
	go func() { runDone <- conn.Run(ctx, eng) }()
	var once sync.Once
	ob.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-runDone; err != nil {
				t.Errorf("transport Run: %v", err)
			}
			ob.ev.close()
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer ccancel()
			if err := eng.Close(cctx); err != nil {
				t.Errorf("engine close: %v", err)
			}
		})
	}
	t.Cleanup(ob.stop)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := conn.WaitConnected(wctx); err != nil {
		t.Fatalf("observer did not connect: %v", err)
	}
	return ob
}

// local is the observer's own full JID (the peers see queries from it).
func (o *observer) local() string { return o.conn.LocalJID() }

// waitInfo waits for jid's caps to resolve and returns them.
func (o *observer) waitInfo(ctx context.Context, jid string) *hashing.Info {
	o.t.Helper()
	info, err := o.waitCaps(ctx, jid)
	if err != nil {
		o.t.Fatalf("caps of %s: %v", jid, err)
	}
	return info
}

// waitCaps waits until jid is known to the engine and its lookup ended.
func (o *observer) waitCaps(ctx context.Context, jid string) (*hashing.Info, error) {
	for {
		_, err := o.eng.Key(jid)
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, 40*time.Second)
			info, err := o.eng.Wait(wctx, jid)
			cancel()
			return info, err
		}
		// Not seen yet: wait for the next event about anyone.
		if !o.ev.next(ctx) {
			return nil, fmt.Errorf("%s never seen: %w", jid, ctx.Err())
		}
	}
}

// events collects every event of an engine.
type events struct {
	sub     *capsengine.Subscription
	mu      sync.Mutex
	all     []messages.Event
	changed chan struct{}
	done    chan struct{}
}

func collect(eng *capsengine.Engine) *events {
	e := &events{sub: eng.Subscribe(messages.AllKinds, 1<<16), changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(e.done)
		for ev := range e.sub.Events() {
			e.mu.Lock()
			e.all = append(e.all, ev)
			close(e.changed)
			e.changed = make(chan struct{})
			e.mu.Unlock()
		}
	}()
	return e
}

func (e *events) close() {
	e.sub.Close()
	<-e.done
}

// next waits for any new event; false when ctx ended first.
func (e *events) next(ctx context.Context) bool {
	e.mu.Lock()
	ch := e.changed
	e.mu.Unlock()
	t := time.NewTimer(100 * time.Millisecond) // re-check conditions that no event announces
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// wait returns the first event matching, past or future.
func (e *events) wait(ctx context.Context, match func(messages.Event) bool) (messages.Event, bool) {
	seen := 0
	for {
		e.mu.Lock()
		evs, ch := e.all[seen:], e.changed
		seen = len(e.all)
		e.mu.Unlock()
		for _, ev := range evs {
			if match(ev) {
				return ev, true
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// waitFor polls cond on every engine event (and every 100ms) until it holds.
func (o *observer) waitFor(ctx context.Context, what string, cond func() bool) {
	o.t.Helper()
	for !cond() {
		if !o.ev.next(ctx) {
			o.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// sameInfo reports how got (the engine's verified caps) differs from want
// (what the peer's library served), or "" when they are the same.
func sameInfo(got *hashing.Info, want *xmpptest.ServedInfo) string {
	var diffs []string
	var gi, wi []string
	for _, id := range got.Identities {
		gi = append(gi, id.Category+"/"+id.Type+"/"+id.Lang+"/"+id.Name)
	}
	for _, id := range want.Identities {
		wi = append(wi, id.Category+"/"+id.Type+"/"+id.Lang+"/"+id.Name)
	}
	slices.Sort(gi)
	slices.Sort(wi)
	if !slices.Equal(gi, wi) {
		diffs = append(diffs, fmt.Sprintf("identities: got %q, want %q", gi, wi))
	}
	gf := slices.Sorted(slices.Values(got.Features))
	wf := slices.Sorted(slices.Values(want.Features))
	if !slices.Equal(gf, wf) {
		diffs = append(diffs, fmt.Sprintf("features: got %q, want %q", gf, wf))
	}
	formKey := func(ft string, fields map[string][]string) string {
		var parts []string
		for v, vals := range fields {
			vals = slices.Sorted(slices.Values(vals))
			parts = append(parts, v+"="+strings.Join(vals, ","))
		}
		slices.Sort(parts)
		return ft + "{" + strings.Join(parts, ";") + "}"
	}
	var gforms, wforms []string
	for _, f := range got.Forms {
		ft, _, _ := f.FormType()
		m := map[string][]string{}
		for _, fld := range f.Fields {
			m[fld.Var] = fld.Values
		}
		gforms = append(gforms, formKey(ft, m))
	}
	for _, f := range want.Forms {
		m := map[string][]string{}
		ft := ""
		for _, fld := range f.Fields {
			m[fld.Var] = fld.Values
			if fld.Var == "FORM_TYPE" && len(fld.Values) > 0 {
				ft = fld.Values[0]
			}
		}
		wforms = append(wforms, formKey(ft, m))
	}
	slices.Sort(gforms)
	slices.Sort(wforms)
	if !slices.Equal(gforms, wforms) {
		diffs = append(diffs, fmt.Sprintf("forms: got %q, want %q", gforms, wforms))
	}
	return strings.Join(diffs, "; ")
}

// testLogger sends logs to t.Log at debug level when -v, warn otherwise.
func testLogger(t testing.TB, lib string) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level})).With("lib", lib)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // a log line after the test ended
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
