package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/httpapi"
	"github.com/capsengine/capsengine/messages"
)

// syncBuffer is an io.Writer tests can read while a command writes.
type syncBuffer struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the output contains sub and returns the output.
func (s *syncBuffer) waitFor(ctx context.Context, sub string) (string, bool) {
	for {
		s.mu.Lock()
		out, ch := s.b.String(), s.changed
		s.mu.Unlock()
		if strings.Contains(out, sub) {
			return out, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return out, false
		}
	}
}

func TestWatch(t *testing.T) {
	info := &hashing.Info{Identities: []hashing.Identity{{Category: "client", Type: "pc"}}, Features: []string{"urn:xmpp:ping"}}
	q := capsengine.QuerierFunc(func(context.Context, string, string) (*hashing.Info, error) { return info, nil })
	eng, err := capsengine.Open(context.Background(), capsengine.Config{InMemory: true, Querier: q})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	srv := httptest.NewServer(httpapi.New(eng, httpapi.Options{}))
	defer srv.Close()
	ver, _ := hashing.Ver(hashing.SHA1, info)
	addr := strings.TrimPrefix(srv.URL, "http://")

	// watch runs args until it prints a CapsResolved: presences from new
	// JIDs are sent until its subscription is in place (a JID is told
	// once that its caps resolved, not at every presence).
	var sent []string
	watch := func(ctx context.Context, args ...string) (out *syncBuffer, code <-chan int) {
		out, errOut := newSyncBuffer(), newSyncBuffer()
		c := make(chan int, 1)
		go func() {
			c <- run(ctx, append([]string{"watch", "--http", addr}, args...), strings.NewReader(""), out, errOut)
		}()
		for {
			jid := fmt.Sprintf("a@b/c%d", len(sent))
			sent = append(sent, jid)
			if err := eng.Ingest(ctx, &messages.Presence{From: jid, Caps: &messages.Caps{Hash: "sha-1", Node: "n", Ver: ver}}); err != nil {
				t.Fatal(err)
			}
			if _, ok := out.waitFor(shortCtx(ctx), "CapsResolved"); ok {
				return out, c
			}
			if ctx.Err() != nil {
				t.Fatalf("watch printed nothing: %s", errOut.String())
			}
		}
	}

	t.Run("stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		wctx, stop := context.WithCancel(ctx)
		out, code := watch(wctx, "--kinds", "CapsResolved,EntityGone")
		first, _, _ := strings.Cut(out.String(), "\n")
		var ev httpapi.Event
		if err := json.Unmarshal([]byte(first), &ev); err != nil {
			t.Fatalf("%q: %v", first, err)
		}
		seen := ev.JID
		if err := eng.Ingest(ctx, &messages.Presence{From: seen, Type: "unavailable"}); err != nil {
			t.Fatal(err)
		}
		if _, ok := out.waitFor(ctx, "EntityGone"); !ok {
			t.Fatalf("no EntityGone in %q", out.String())
		}
		stop() // an interrupt
		if c := <-code; c != 0 {
			t.Errorf("exit %d after an interrupt, want 0", c)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		for i, l := range lines {
			var ev httpapi.Event
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			want := "CapsResolved"
			if i == len(lines)-1 {
				want = "EntityGone"
			}
			if ev.JID != seen || ev.Kind != want {
				t.Errorf("line %d: %+v, want %s", i, ev, want)
			}
		}
	})
	t.Run("count", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, code := watch(ctx, "--count", "1")
		if c := <-code; c != 0 {
			t.Errorf("exit %d, want 0", c)
		}
		if n := strings.Count(out.String(), "\n"); n != 1 {
			t.Errorf("%d lines, want 1", n)
		}
	})
}

// shortCtx bounds one wait for watch's subscription to be in place.
func shortCtx(ctx context.Context) context.Context {
	c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	go func() { <-c.Done(); cancel() }()
	return c
}

func TestWatchErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"no address", []string{"watch"}, 2},
		{"refused", []string{"watch", "--http", "127.0.0.1:1"}, 1},
		{"negative count", []string{"watch", "--http", "x:1", "--count", "-1"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, errOut := runCmd(t, "", tc.args...); code != tc.want {
				t.Errorf("exit %d, want %d: %s", code, tc.want, errOut)
			}
		})
	}
}

// TestWatchResumes: a stream cut after some events is reopened with
// Last-Event-ID, so watch prints every event once; a server that keeps
// failing ends it with status 1 after --retries.
func TestWatchResumes(t *testing.T) {
	var mu sync.Mutex
	var lastIDs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		switch n {
		case 1: // two events, then the connection drops
			fmt.Fprint(w, ": subscribed\n\nid: 1\nevent: EntityGone\ndata: {\"kind\":\"EntityGone\",\"jid\":\"a@x/1\"}\n\n"+
				"id: 2\nevent: EntityGone\ndata: {\"kind\":\"EntityGone\",\"jid\":\"a@x/2\"}\n\n")
		case 2:
			fmt.Fprint(w, ": subscribed\n\nevent: EventsLost\ndata: {\"kind\":\"EventsLost\",\"lost\":4}\n\n"+
				"id: 7\nevent: EntityGone\ndata: {\"kind\":\"EntityGone\",\"jid\":\"a@x/7\"}\n\n")
		default:
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	code, out, errOut := runCmd(t, "", "watch", "--http", srv.URL, "--retries", "2", "--timeout", "30s")
	if code != 1 {
		t.Errorf("exit %d, want 1 once the retries are spent: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], "a@x/2") || !strings.Contains(lines[2], `"lost":4`) || !strings.Contains(lines[3], "a@x/7") {
		t.Errorf("printed:\n%s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	// The second connection resumes after id 2; the third after id 7
	// (the EventsLost line carries no id); the fourth is past --retries 2
	// counted from the last connection that delivered.
	if len(lastIDs) != 4 || lastIDs[0] != "" || lastIDs[1] != "2" || lastIDs[2] != "7" || lastIDs[3] != "7" {
		t.Errorf("Last-Event-ID per connection: %q", lastIDs)
	}
}
