package xmpptest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Library names a peer script.
type Library string

const (
	Slixmpp Library = "slixmpp" // interop/peers/slix_peers.py
	Aioxmpp Library = "aioxmpp" // interop/peers/aio_peers.py
)

// Behaviors of a peer asked for its disco#info.
const (
	Honest = "honest" // answers with what it announced
	Silent = "silent" // never answers
	Error  = "error"  // answers with an IQ error (internal-server-error)
	Liar   = "liar"   // answers with one feature more than it announced
)

// PeerSpec describes one peer: its account, the disco#info it announces
// (its library adds its own features to these) and how it answers.
type PeerSpec struct {
	Name       string     `json:"name"`
	JID        string     `json:"jid"` // bare JID; the server picks the resource
	Password   string     `json:"password"`
	Identities []Identity `json:"identities"`
	Features   []string   `json:"features"`
	Forms      []FormSpec `json:"forms,omitempty"`
	Behavior   string     `json:"behavior,omitempty"` // Honest when empty
	Node       string     `json:"node,omitempty"`     // slixmpp only: its caps node
	// Delay is how long the peer waits before answering a query, in seconds.
	Delay float64 `json:"delay,omitempty"`
	// Reconnect: slixmpp only: log in again after losing the connection,
	// and announce again if it had announced.
	Reconnect bool `json:"reconnect,omitempty"`
}

// Identity is one disco#info identity.
type Identity struct {
	Category string `json:"category"`
	Type     string `json:"type"`
	Lang     string `json:"lang,omitempty"`
	Name     string `json:"name,omitempty"`
}

// FormSpec is one XEP-0128 form: its hidden FORM_TYPE and other fields.
type FormSpec struct {
	FormType string      `json:"form_type"`
	Fields   []FieldSpec `json:"fields"`
}

// FieldSpec is one form field.
type FieldSpec struct {
	Var    string   `json:"var"`
	Values []string `json:"values"`
}

// Event is one line a peer script printed.
type Event struct {
	Ev       string            `json:"ev"` // online, ready, announced, query, flooded, joined, unavailable, disconnected, error, bye
	Peer     string            `json:"peer"`
	JID      string            `json:"jid"`
	Node     string            `json:"node"`
	Ver      string            `json:"ver"`
	Hash     string            `json:"hash"`
	Caps2    map[string]string `json:"caps2"`
	Info     *ServedInfo       `json:"info"`
	From     string            `json:"frm"`
	Behavior string            `json:"behavior"`
	Occupant string            `json:"occupant"`
	N        int               `json:"n"`
	Msg      string            `json:"msg"`
	// At is when the test read the line: for "announced", just after the
	// peer sent its presence.
	At time.Time `json:"-"`
}

// ServedInfo is the disco#info a peer serves for its caps node, as its
// library built it.
type ServedInfo struct {
	Identities []Identity   `json:"identities"`
	Features   []string     `json:"features"`
	Forms      []ServedForm `json:"forms"`
}

// ServedForm is one form of a ServedInfo.
type ServedForm struct {
	Type   string        `json:"type"`
	Fields []ServedField `json:"fields"`
}

// ServedField is one field of a ServedForm.
type ServedField struct {
	Var    string   `json:"var"`
	Type   string   `json:"type"`
	Values []string `json:"values"`
}

// Peers is one peer script process running many peers of one library.
type Peers struct {
	Lib Library
	t   testing.TB

	stdin io.WriteCloser
	done  chan struct{}

	mu      sync.Mutex
	events  []Event
	changed chan struct{}
	syncs   int
}

// PeersDir is where the peer scripts are.
func PeersDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "interop", "peers")
}

// StartPeers starts the script of lib with specs. Every peer logs in to p,
// pre-approves subscribeTo's subscription and asks for one (see
// interop/doc.go). The process is stopped when the test ends.
func StartPeers(t testing.TB, lib Library, p *Server, subscribeTo string, specs []PeerSpec) *Peers {
	t.Helper()
	host, port, _ := net.SplitHostPort(p.C2S)
	portN, _ := strconv.Atoi(port)
	spec := map[string]any{"host": host, "port": portN, "subscribe_to": subscribeTo, "peers": specs}
	data, err := json.MarshalIndent(spec, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), string(lib)+"-*.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
	script := map[Library]string{Slixmpp: "slix_peers.py", Aioxmpp: "aio_peers.py"}[lib]
	cmd := exec.Command(Python, filepath.Join(PeersDir(), script), f.Name())
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1") // no __pycache__ in the source tree
	stderr, err := os.Create(f.Name() + ".stderr")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s peers: %v", lib, err)
	}
	ps := &Peers{Lib: lib, t: t, stdin: stdin, done: make(chan struct{}), changed: make(chan struct{})}
	go ps.read(stdout)
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		stderr.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		ps.Command(map[string]any{"cmd": "quit"})
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			data, _ := os.ReadFile(stderr.Name())
			if len(data) > 6000 {
				data = data[len(data)-6000:]
			}
			t.Logf("%s peers stderr:\n%s", lib, data)
		}
	})
	return ps
}

func (ps *Peers) read(r io.Reader) {
	defer close(ps.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			ev = Event{Ev: "error", Msg: "unparsable line: " + sc.Text()}
		}
		ev.At = time.Now()
		ps.mu.Lock()
		ps.events = append(ps.events, ev)
		close(ps.changed)
		ps.changed = make(chan struct{})
		ps.mu.Unlock()
	}
}

// Command sends one command line (see interop/doc.go).
func (ps *Peers) Command(cmd map[string]any) {
	data, _ := json.Marshal(cmd)
	_, _ = ps.stdin.Write(append(data, '\n'))
}

// Events returns every event so far.
func (ps *Peers) Events() []Event {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]Event(nil), ps.events...)
}

// Wait returns the first event, past or future, for which match is true.
// It fails the test when ctx ends first or the script exits.
func (ps *Peers) Wait(ctx context.Context, what string, match func(Event) bool) Event {
	ps.t.Helper()
	seen := 0
	for {
		ps.mu.Lock()
		evs, changed := ps.events[seen:], ps.changed
		seen = len(ps.events)
		ps.mu.Unlock()
		for _, ev := range evs {
			if match(ev) {
				return ev
			}
		}
		select {
		case <-changed:
		case <-ps.done:
			ps.t.Fatalf("%s peers exited while waiting for %s", ps.Lib, what)
		case <-ctx.Done():
			ps.t.Fatalf("%s peers: timed out waiting for %s; errors: %v", ps.Lib, what, ps.errors())
		}
	}
}

// WaitAll waits for one event of kind ev from each of the named peers and
// returns them by peer name.
func (ps *Peers) WaitAll(ctx context.Context, ev string, names []string) map[string]Event {
	ps.t.Helper()
	out := make(map[string]Event, len(names))
	for _, n := range names {
		out[n] = ps.Wait(ctx, fmt.Sprintf("%s of %s", ev, n), func(e Event) bool { return e.Ev == ev && e.Peer == n })
	}
	return out
}

// Queries returns the disco#info queries the named peer received from
// from ("" for any sender).
func (ps *Peers) Queries(peer, from string) []Event {
	var out []Event
	for _, ev := range ps.Events() {
		if ev.Ev == "query" && ev.Peer == peer && (from == "" || ev.From == from) {
			out = append(out, ev)
		}
	}
	return out
}

func (ps *Peers) errors() []string {
	var out []string
	for _, ev := range ps.Events() {
		if ev.Ev == "error" {
			out = append(out, ev.Peer+": "+ev.Msg)
		}
	}
	return out
}

// Sync returns once the script has printed every event it printed before
// it read this command: queries it had already handled are counted.
func (ps *Peers) Sync(ctx context.Context) {
	ps.t.Helper()
	ps.mu.Lock()
	ps.syncs++
	n := ps.syncs
	ps.mu.Unlock()
	ps.Command(map[string]any{"cmd": "sync", "n": n})
	ps.Wait(ctx, "sync", func(e Event) bool { return e.Ev == "sync" && e.N == n })
}
