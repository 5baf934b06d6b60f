package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/httpapi"
	"github.com/capsengine/capsengine/messages"
)

var jingle = &hashing.Info{
	Identities: []hashing.Identity{
		{Category: "client", Type: "pc", Lang: "en", Name: "Gajim"},
		{Category: "client", Type: "pc", Lang: "de", Name: "Gajim"},
	},
	Features: []string{"urn:xmpp:jingle:1", "http://jabber.org/protocol/disco#info", "urn:xmpp:ping"},
	Forms: []hashing.Form{{Type: "result", Fields: []hashing.Field{
		{Var: "os", Values: []string{"Linux"}},
		{Var: "FORM_TYPE", Type: "hidden", Values: []string{"urn:xmpp:dataforms:softwareinfo"}},
	}}},
}

// fixture is an in-memory engine whose peers answer with answers[node],
// or an error when block is false and the node is unknown; with block the
// query waits for release.
type fixture struct {
	eng     *capsengine.Engine
	srv     *httptest.Server
	release chan struct{}
}

func newFixture(t testing.TB, opts httpapi.Options) *fixture {
	t.Helper()
	f := &fixture{release: make(chan struct{})}
	q := capsengine.QuerierFunc(func(ctx context.Context, jid, node string) (*hashing.Info, error) {
		if strings.HasPrefix(jid, "slow@") {
			select {
			case <-f.release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if strings.HasPrefix(jid, "liar@") {
			return &hashing.Info{Features: []string{"urn:lie"}}, nil
		}
		info := *jingle
		info.Node = node
		return &info, nil
	})
	eng, err := capsengine.Open(context.Background(), capsengine.Config{InMemory: true, Querier: q,
		Tuning: capsengine.Tuning{QueryTimeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	f.eng = eng
	f.srv = httptest.NewServer(httpapi.New(eng, opts))
	t.Cleanup(func() {
		f.srv.Close()
		select {
		case <-f.release:
		default:
			close(f.release)
		}
		if err := eng.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return f
}

func announce(t testing.TB, eng *capsengine.Engine, jid string) string {
	t.Helper()
	ver, err := hashing.Ver(hashing.SHA1, jingle)
	if err != nil {
		t.Fatal(err)
	}
	p := &messages.Presence{From: jid, Caps: &messages.Caps{Hash: "sha-1", Node: "https://gajim.org", Ver: ver}}
	if err := eng.Ingest(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return ver
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", url, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}

func TestCaps(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	ver := announce(t, f.eng, "juliet@capulet.lit/balcony")

	var c httpapi.Caps
	code := getJSON(t, f.srv.URL+"/caps/juliet@capulet.lit/balcony?wait=10s", &c)
	if code != http.StatusOK || c.Status != "resolved" {
		t.Fatalf("got %d %+v, want 200 resolved", code, c)
	}
	if c.Key == nil || c.Key.Ver != ver || c.Key.Hash != "sha-1" || c.Key.Scheme != "xep0115" {
		t.Errorf("key: got %+v, want xep0115 sha-1 %s", c.Key, ver)
	}
	want := []string{"http://jabber.org/protocol/disco#info", "urn:xmpp:jingle:1", "urn:xmpp:ping"}
	if !slices.Equal(c.Info.Features, want) {
		t.Errorf("features: got %q, want %q (sorted)", c.Info.Features, want)
	}
	if c.Info.Identities[0].Lang != "de" {
		t.Errorf("identities not sorted: %+v", c.Info.Identities)
	}
	if fm := c.Info.Forms; len(fm) != 1 || fm[0].FormType != "urn:xmpp:dataforms:softwareinfo" || fm[0].Fields[0].Var != "FORM_TYPE" {
		t.Errorf("forms: %+v", fm)
	}
	if jingle.Features[0] != "urn:xmpp:jingle:1" {
		t.Error("NewInfo sorted the engine's slices in place")
	}

	t.Run("unknown", func(t *testing.T) {
		var c httpapi.Caps
		if code := getJSON(t, f.srv.URL+"/caps/nobody@example.org/x", &c); code != http.StatusNotFound || c.Status != "unknown" {
			t.Errorf("got %d %+v, want 404 unknown", code, c)
		}
	})
	t.Run("pending", func(t *testing.T) {
		announce(t, f.eng, "other@example.org/r") // same ver: resolved at once
		// A ver nobody has verified, whose announcer is slow.
		p := &messages.Presence{From: "slow@example.org/r", Caps: &messages.Caps{Hash: "sha-1", Node: "n", Ver: "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}}
		if err := f.eng.Ingest(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if err := f.eng.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		var c httpapi.Caps
		if code := getJSON(t, f.srv.URL+"/caps/"+url.PathEscape("slow@example.org/r"), &c); code != http.StatusAccepted || c.Status != "pending" {
			t.Errorf("got %d %+v, want 202 pending", code, c)
		}
		close(f.release)
		// The slow peer's answer does not hash to the announced ver.
		if code := getJSON(t, f.srv.URL+"/caps/slow@example.org/r?wait=10s", &c); code != http.StatusBadGateway || c.Status != "failed" || c.Error == "" {
			t.Errorf("got %d %+v, want 502 failed", code, c)
		}
	})
	t.Run("bad wait", func(t *testing.T) {
		var m map[string]string
		if code := getJSON(t, f.srv.URL+"/caps/juliet@capulet.lit/balcony?wait=soon", &m); code != http.StatusBadRequest {
			t.Errorf("got %d, want 400", code)
		}
	})
}

func TestEntities(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	for _, j := range []string{"b@example.org/1", "a@example.org/1"} {
		announce(t, f.eng, j)
		if _, err := f.eng.Wait(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	var e httpapi.Entities
	if code := getJSON(t, f.srv.URL+"/entities?feature="+url.QueryEscape("urn:xmpp:jingle:1"), &e); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if want := []string{"a@example.org/1", "b@example.org/1"}; !slices.Equal(e.Entities, want) {
		t.Errorf("got %q, want %q", e.Entities, want)
	}
	if getJSON(t, f.srv.URL+"/entities?feature=urn:nothing", &e); e.Entities == nil || len(e.Entities) != 0 {
		t.Errorf("got %#v, want []", e.Entities)
	}
	var m map[string]string
	if code := getJSON(t, f.srv.URL+"/entities", &m); code != http.StatusBadRequest {
		t.Errorf("no feature: got %d, want 400", code)
	}
}

func TestSoftware(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	var sw []httpapi.Software
	if code := getJSON(t, f.srv.URL+"/software", &sw); code != http.StatusOK || sw == nil || len(sw) != 0 {
		t.Fatalf("empty engine: %d %#v, want 200 []", code, sw)
	}
	for _, j := range []string{"a@example.org/1", "b@example.org/1"} {
		announce(t, f.eng, j)
		if _, err := f.eng.Wait(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	getJSON(t, f.srv.URL+"/software", &sw)
	// Its software-information form names no software: the identity's
	// name counts, without a version.
	want := []httpapi.Software{{Name: "Gajim", JIDs: 2}}
	if !slices.Equal(sw, want) {
		t.Errorf("got %+v, want %+v", sw, want)
	}
	var m map[string]string
	if code := getJSON(t, f.srv.URL+"/software?limit=0", &m); code != http.StatusBadRequest {
		t.Errorf("limit=0: %d, want 400", code)
	}
}

func TestHealthz(t *testing.T) {
	var healthErr error
	f := newFixture(t, httpapi.Options{Health: func() error { return healthErr }})
	var h httpapi.Health
	if code := getJSON(t, f.srv.URL+"/healthz", &h); code != http.StatusOK || h.Status != "ok" {
		t.Errorf("got %d %+v", code, h)
	}
	healthErr = errors.New("xmpp: disconnected")
	if code := getJSON(t, f.srv.URL+"/healthz", &h); code != http.StatusServiceUnavailable || h.Error != "xmpp: disconnected" {
		t.Errorf("got %d %+v", code, h)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, httpapi.Options{Collectors: []prometheus.Collector{
		httpapi.CountersCollector("capsengine", "transport", "transport counter",
			func() map[string]uint64 { return map[string]uint64{"Queries": 7} }),
	}})
	announce(t, f.eng, "juliet@capulet.lit/balcony")
	if _, err := f.eng.Wait(context.Background(), "juliet@capulet.lit/balcony"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(f.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"capsengine_queries_total 1", "capsengine_resolved_total 1", "capsengine_drop_muc_total 0",
		"capsengine_online_jids 1", "capsengine_transport_queries_total 7", "go_goroutines",
		"capsengine_store_pruned_entries_total 0", "capsengine_store_pruned_bytes_total 0",
		// The engine's gauges, each once; JIDs under its older name only.
		"capsengine_live_lookups ", "capsengine_queued_queries ", "capsengine_queries_in_flight ",
		"capsengine_waiting_jids ", "capsengine_router_backlog ", "capsengine_live_owners 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(body), "capsengine_ji_ds") || strings.Contains(string(body), "capsengine_jids ") {
		t.Error("metrics export the JIDs gauge twice")
	}
	// The query that resolved juliet left its worker idle for a while: a
	// level read at the scrape, not a constant.
	var workers float64
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, "capsengine_query_workers "); ok {
			workers, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if workers < 1 {
		t.Errorf("capsengine_query_workers %v after a query, want at least 1", workers)
	}
}

// TestEvents reads the SSE stream while the engine resolves, fails and
// drops JIDs.
func TestEvents(t *testing.T) {
	f := newFixture(t, httpapi.Options{})
	resp, err := http.Get(f.srv.URL + "/events?kinds=CapsResolved,EntityGone,CapsFailed")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	if line, _ := r.ReadString('\n'); line != ": subscribed\n" {
		t.Fatalf("first line %q", line)
	}
	announce(t, f.eng, "juliet@capulet.lit/balcony")
	// Resolved before she leaves: a JID gone before its lookup ends is
	// told nothing more about its caps.
	if _, err := f.eng.Wait(context.Background(), "juliet@capulet.lit/balcony"); err != nil {
		t.Fatal(err)
	}
	_ = f.eng.Ingest(context.Background(), &messages.Presence{From: "juliet@capulet.lit/balcony", Type: "unavailable"})
	_ = f.eng.Ingest(context.Background(), &messages.Presence{From: "liar@example.org/x",
		Caps: &messages.Caps{Hash: "sha-1", Node: "n", Ver: "BBBBBBBBBBBBBBBBBBBBBBBBBBA="}})

	var got []httpapi.Event
	var names []string
	for len(got) < 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		switch {
		case strings.HasPrefix(line, "event: "):
			names = append(names, strings.TrimSpace(strings.TrimPrefix(line, "event: ")))
		case strings.HasPrefix(line, "data: "):
			var ev httpapi.Event
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
				t.Fatal(err)
			}
			got = append(got, ev)
		}
	}
	byKind := map[string]httpapi.Event{}
	for i, ev := range got {
		if names[i] != ev.Kind {
			t.Errorf("event line %q, data kind %q", names[i], ev.Kind)
		}
		byKind[ev.Kind] = ev
	}
	if ev := byKind["CapsResolved"]; ev.JID != "juliet@capulet.lit/balcony" || ev.Info == nil || ev.Key == nil {
		t.Errorf("CapsResolved: %+v", ev)
	}
	if ev := byKind["EntityGone"]; ev.JID != "juliet@capulet.lit/balcony" {
		t.Errorf("EntityGone: %+v", ev)
	}
	if ev := byKind["CapsFailed"]; ev.JID != "liar@example.org/x" || ev.Error == "" {
		t.Errorf("CapsFailed: %+v", ev)
	}

	t.Run("bad kinds", func(t *testing.T) {
		var m map[string]string
		if code := getJSON(t, f.srv.URL+"/events?kinds=Nope", &m); code != http.StatusBadRequest {
			t.Errorf("got %d, want 400", code)
		}
	})
}
