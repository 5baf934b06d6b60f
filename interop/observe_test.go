package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/httpapi"
	"github.com/capsengine/capsengine/internal/xmpptest"
)

// buildCapsengine starts "go build" of cmd/capsengine (with -race, whose
// package builds the test binary's own build has mostly cached) and
// returns a function that waits for it and gives the binary's path. It
// runs while Prosody and the peers start, which take longer.
func buildCapsengine(t *testing.T) func() (string, error) {
	bin := filepath.Join(t.TempDir(), "capsengine")
	var (
		once sync.Once
		err  error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		goBin, lerr := exec.LookPath("go") // go test puts GOROOT/bin first on PATH
		if lerr != nil {
			err = lerr
			return
		}
		cmd := exec.Command(goBin, "build", "-race", "-o", bin, "github.com/capsengine/capsengine/cmd/capsengine")
		cmd.Dir = ".."
		if out, berr := cmd.CombinedOutput(); berr != nil {
			err = fmt.Errorf("go build: %v\n%s", berr, out)
		}
	}()
	t.Cleanup(func() { <-done }) // the temporary directory outlives the build
	return func() (string, error) {
		once.Do(func() { <-done })
		return bin, err
	}
}

// dumpObserver is "capsengine observe --dump" logged in to the observer's
// account with a resource of its own: Prosody sends it every presence the
// in-process observer gets, so it sees the same announcers in the same
// order.
type dumpObserver struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	api    string // its HTTP API, host:port
	path   string // the --dump file
	exited chan error
}

// startDumpObserver starts the binary and waits for its session and HTTP
// API; nil (with the test failed) when it cannot.
func startDumpObserver(t *testing.T, ctx context.Context, env faultEnv) *dumpObserver {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(env.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(dir, "caps.json")
	// The query timeout of the in-process observer (helpers_test.go), and
	// the default hedging.
	d := startObserve(t, ctx, env.bin, "observe", "--jid", env.ob.jid, "--password-file", pw, "--addr", env.srv.C2S,
		"--insecure-no-tls", "--accept-subscriptions", "--in-memory", "--http", "127.0.0.1:0",
		"--dump", dump, "--query-timeout", "8s", "--timeout", "3m")
	if d != nil {
		d.path = dump
	}
	return d
}

// startObserve runs the capsengine binary with args (an observe serving
// --http) until the test ends, and waits for its XMPP session and HTTP
// API; nil (with the test failed) when it cannot.
func startObserve(t *testing.T, ctx context.Context, bin func() (string, error), args ...string) *dumpObserver {
	t.Helper()
	path, err := bin()
	if err != nil {
		t.Errorf("capsengine binary: %v", err)
		return nil
	}
	d := &dumpObserver{stderr: &syncBuffer{}, exited: make(chan error, 1)}
	d.cmd = exec.Command(path, args...)
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Errorf("start capsengine %s: %v", args[0], err)
		return nil
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-d.exited:
			d.exited <- err
		default:
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("capsengine %s stderr (tail):\n%s", strings.Join(args, " "), d.stderr.tail(8000))
		}
	})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	addr := regexp.MustCompile(`http: listening on ([0-9.:]+)`)
	for {
		logs := d.stderr.String()
		if m := addr.FindStringSubmatch(logs); m != nil && strings.Contains(logs, "xmpp session up") {
			d.api = m[1]
			return d
		}
		select {
		case err := <-d.exited:
			t.Errorf("capsengine observe exited before its session was up (%v):\n%s", err, logs)
			d.exited <- err
			return nil
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Errorf("capsengine observe: no session: %v\n%s", ctx.Err(), logs)
			return nil
		}
	}
}

// dumpEntity is one JID of the --dump document (cmd/capsengine/observe.go).
type dumpEntity struct {
	Node       string             `json:"node"`
	Ver        string             `json:"ver"`
	Verified   bool               `json:"verified"`
	Identities []httpapi.Identity `json:"identities"`
	Features   []string           `json:"features"`
	Forms      []httpapi.Form     `json:"forms"`
	ResolvedAt *time.Time         `json:"resolved_at"`
	ResolveMS  *float64           `json:"resolve_ms"`
	Error      string             `json:"error"`
}

// info is what the dump says the entity's disco#info is.
func (e dumpEntity) info() *hashing.Info {
	info := &hashing.Info{Features: e.Features}
	for _, id := range e.Identities {
		info.Identities = append(info.Identities, hashing.Identity{Category: id.Category, Type: id.Type, Lang: id.Lang, Name: id.Name})
	}
	for _, f := range e.Forms {
		hf := hashing.Form{Type: f.Type}
		for _, fld := range f.Fields {
			hf.Fields = append(hf.Fields, hashing.Field{Var: fld.Var, Type: fld.Type, Values: fld.Values})
		}
		info.Forms = append(info.Forms, hf)
	}
	return info
}

// check waits until the binary's API reports every JID of the scenario
// resolved, interrupts it, and checks the dump it wrote at exit: every
// JID verified with its group's honest info, and each honest announcer's
// JID resolved within resolveBound of its presence (resolve_ms counts from
// when observe saw it).
func (d *dumpObserver) check(t *testing.T, ctx context.Context, env faultEnv, announced map[string]xmpptest.Event) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, g := range env.groups {
		for _, s := range g.specs {
			jid := announced[s.Name].JID
			if status := d.waitResolved(wctx, jid); status != "resolved" {
				t.Errorf("capsengine observe: %s (%s) still %q", s.Name, jid, status)
			}
		}
	}
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupt capsengine observe: %v", err)
	}
	select {
	case err := <-d.exited:
		d.exited <- err
		// 0 says observe's help; 130 is what other commands exit with on
		// an interrupt.
		if code := d.cmd.ProcessState.ExitCode(); code != 0 && code != 130 {
			t.Errorf("capsengine observe exited %d (%v) after an interrupt:\n%s", code, err, d.stderr.tail(4000))
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("capsengine observe did not exit after an interrupt")
	}
	data, err := os.ReadFile(d.path)
	if err != nil {
		t.Fatalf("capsengine observe wrote no dump: %v\n%s", err, d.stderr.tail(4000))
	}
	var doc struct {
		Entities map[string]dumpEntity `json:"entities"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("dump: %v", err)
	}
	var times []string
	for _, g := range env.groups {
		want := announced[g.honest()[0].Name]
		for _, s := range g.specs {
			ev := announced[s.Name]
			e, ok := doc.Entities[ev.JID]
			switch {
			case !ok:
				t.Errorf("dump: %s (%s) missing", s.Name, ev.JID)
				continue
			case !e.Verified || e.Error != "" || e.ResolvedAt == nil:
				t.Errorf("dump: %s (%s, %s): verified %v, resolved_at %v, error %q", s.Name, ev.JID,
					s.Behavior, e.Verified, e.ResolvedAt, e.Error)
				continue
			case e.Ver != ev.Ver:
				t.Errorf("dump: %s: ver %q, announced %q", s.Name, e.Ver, ev.Ver)
			}
			if diff := sameInfo(e.info(), want.Info); diff != "" {
				t.Errorf("dump: %s: %s", s.Name, diff)
			}
			if misbehaves(s) || e.ResolveMS == nil {
				continue
			}
			took := time.Duration(*e.ResolveMS * float64(time.Millisecond))
			times = append(times, fmt.Sprintf("%s %v", s.Name, took.Round(time.Millisecond)))
			if took >= resolveBound {
				t.Errorf("dump: %s (silent first: %v): resolve_ms %.0f, want < %v", s.Name, g.silentFirst(), *e.ResolveMS, resolveBound)
			}
		}
	}
	t.Logf("capsengine observe --dump: honest JIDs resolved after their presence: %s", strings.Join(times, ", "))
}

// waitResolved polls jid's status until it is resolved or ctx ends, and
// returns the last one.
func (d *dumpObserver) waitResolved(ctx context.Context, jid string) string {
	for {
		status := d.status(ctx, jid)
		if status == "resolved" {
			return status
		}
		select {
		case <-ctx.Done():
			return status
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// status asks the binary's GET /caps/{jid}: resolved, pending, failed or
// unknown ("" when it did not answer).
func (d *dumpObserver) status(ctx context.Context, jid string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.api+"/caps/"+jid, nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var c httpapi.Caps
	if json.NewDecoder(resp.Body).Decode(&c) != nil {
		return ""
	}
	return c.Status
}

// syncBuffer is a bytes.Buffer safe for a process to write while the test
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail is the last n bytes written.
func (b *syncBuffer) tail(n int) string {
	s := b.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
