package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/capsengine/capsengine/httpapi"
	"github.com/capsengine/capsengine/internal/freeport"
	"github.com/capsengine/capsengine/internal/racecheck"
	"github.com/capsengine/capsengine/internal/xmpptest"
)

// TestObserveCluster runs two "capsengine observe" processes as one
// cluster (the --cluster-* flags), each logged in to a real Prosody as its
// own watcher. Two slixmpp peers announce the same caps, one to each
// watcher: the cluster sends one disco#info query in all, and both
// observers end with the verified entity.
func TestObserveCluster(t *testing.T) {
	srv := xmpptest.StartProsody(t, xmpptest.Options{})
	srv.Register(t, map[string]string{"w0": "w0-pw", "w1": "w1-pw", "p0": "p0-pw", "p1": "p1-pw"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()

	// Four distinct free ports (the membership ports bind every
	// interface), released before the observers bind them.
	ports, err := freeport.Ports(4)
	if err != nil {
		t.Fatal(err)
	}
	seeds := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", ports[2], ports[3])
	type observer struct {
		cmd    *exec.Cmd
		stderr *syncBuffer
		dump   string
		api    string
		exited chan error
	}
	obs := make([]*observer, 2)
	for i := range obs {
		pw := filepath.Join(dir, fmt.Sprintf("pw%d", i))
		if err := os.WriteFile(pw, []byte(fmt.Sprintf("w%d-pw\n", i)), 0o600); err != nil {
			t.Fatal(err)
		}
		o := &observer{stderr: newSyncBuffer(), dump: filepath.Join(dir, fmt.Sprintf("caps%d.json", i)), exited: make(chan error, 1)}
		o.cmd = exec.Command(os.Args[0], "observe", "--jid", fmt.Sprintf("w%d@localhost", i), "--password-file", pw,
			"--addr", srv.C2S, "--insecure-no-tls", "--accept-subscriptions", "--data", filepath.Join(dir, fmt.Sprintf("db%d", i)),
			"--http", "127.0.0.1:0", "--dump", o.dump, "--exit-after", "1", "--timeout", "90s", "--query-timeout", "5s",
			"--cluster-name", "observers", "--cluster-bind", "127.0.0.1:"+strconv.Itoa(ports[i]),
			"--cluster-seeds", seeds, "--cluster-automan-port", strconv.Itoa(ports[2+i]))
		// This test binary runs main (TestMain); protoactor's own races
		// are reported and judged below, not made exit statuses.
		o.cmd.Env = append(os.Environ(), memberEnv+"=1", "GORACE=exitcode=0")
		o.cmd.Stderr = o.stderr
		obs[i] = o
	}
	for i, o := range obs {
		if err := o.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { o.exited <- o.cmd.Wait() }()
		t.Cleanup(func() {
			_ = o.cmd.Process.Kill()
			ours, _ := racecheck.Split(o.stderr.String())
			for _, r := range ours {
				t.Errorf("observer %d: race in the engine's code:\n%s", i, r)
			}
			if t.Failed() {
				t.Logf("observer %d stderr:\n%s", i, tail(o.stderr.String(), 3000))
			}
		})
	}
	for i, o := range obs {
		logs, ok := o.stderr.waitFor(ctx, "xmpp session up")
		if !ok {
			t.Fatalf("observer %d did not connect:\n%s", i, logs)
		}
		m := regexp.MustCompile(`http: listening on ([0-9.:]+)`).FindStringSubmatch(logs)
		if m == nil {
			t.Fatalf("observer %d: no HTTP address in:\n%s", i, logs)
		}
		o.api = m[1]
	}
	// Both see the cluster whole before anyone announces.
	for i, o := range obs {
		for {
			var h httpapi.Health
			if resp, err := http.Get("http://" + o.api + "/healthz"); err == nil {
				_ = json.NewDecoder(resp.Body).Decode(&h)
				resp.Body.Close()
			}
			if h.ClusterMembers == 2 {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("observer %d sees %d cluster members", i, h.ClusterMembers)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	// The same client on two accounts, each subscribed to its own watcher.
	spec := func(i int) []xmpptest.PeerSpec {
		return []xmpptest.PeerSpec{{Name: fmt.Sprintf("p%d", i), JID: fmt.Sprintf("p%d@localhost", i), Password: fmt.Sprintf("p%d-pw", i),
			Identities: []xmpptest.Identity{{Category: "client", Type: "pc", Name: "Gajim"}},
			Features:   []string{"urn:xmpp:jingle:1", "urn:xmpp:receipts"}}}
	}
	peers := []*xmpptest.Peers{
		xmpptest.StartPeers(t, xmpptest.Slixmpp, srv, "w0@localhost", spec(0)),
		xmpptest.StartPeers(t, xmpptest.Slixmpp, srv, "w1@localhost", spec(1)),
	}
	announced := make([]xmpptest.Event, 2)
	for i, ps := range peers {
		name := fmt.Sprintf("p%d", i)
		ps.WaitAll(ctx, "ready", []string{name})
		ps.Command(map[string]any{"cmd": "announce", "peer": "*"})
		announced[i] = ps.WaitAll(ctx, "announced", []string{name})[name]
	}
	if announced[0].Ver != announced[1].Ver {
		t.Fatalf("the peers announced %s and %s, want one ver", announced[0].Ver, announced[1].Ver)
	}
	for i, o := range obs {
		select {
		case err := <-o.exited:
			if err != nil {
				t.Fatalf("observer %d: %v", i, err)
			}
		case <-ctx.Done():
			t.Fatalf("observer %d did not exit after --exit-after 1", i)
		}
	}
	queries := 0
	for i, ps := range peers {
		ps.Sync(ctx)
		queries += len(ps.Queries(fmt.Sprintf("p%d", i), ""))
	}
	if queries != 1 {
		t.Errorf("%d disco#info queries in the cluster, want 1", queries)
	}
	for i, o := range obs {
		var doc struct {
			Entities map[string]struct {
				Ver      string
				Verified bool
			}
		}
		data, err := os.ReadFile(o.dump)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		e, ok := doc.Entities[announced[i].JID]
		if !ok || !e.Verified || e.Ver != announced[i].Ver {
			t.Errorf("observer %d: %s: %+v (in dump: %v)", i, announced[i].JID, e, ok)
		}
	}
}
