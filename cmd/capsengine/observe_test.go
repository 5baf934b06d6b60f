package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capsengine/capsengine/httpapi"
	"github.com/capsengine/capsengine/internal/xmpptest"
)

// TestObserve runs "capsengine observe" against a real Prosody with two
// slixmpp peers, its HTTP API and "capsengine watch" on it, until
// --exit-after, and checks the --dump document.
func TestObserve(t *testing.T) {
	srv := xmpptest.StartProsody(t, xmpptest.Options{})
	srv.Register(t, map[string]string{"watcher": "watcher-pw", "o1": "o1-pw", "o2": "o2-pw"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("watcher-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(dir, "caps.json")
	tokenFile := filepath.Join(dir, "token")
	const token = "0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut := newSyncBuffer()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"observe", "--jid", "watcher@localhost", "--password-file", pwFile,
			"--addr", srv.C2S, "--insecure-no-tls", "--accept-subscriptions", "--data", filepath.Join(dir, "db"),
			"--http", "127.0.0.1:0", "--http-token-file", tokenFile,
			"--dump", dump, "--exit-after", "2", "--timeout", "90s", "--query-timeout", "5s"},
			strings.NewReader(""), io.Discard, errOut)
	}()
	logs, ok := errOut.waitFor(ctx, "xmpp session up")
	if !ok {
		t.Fatalf("observe did not connect:\n%s", logs)
	}
	m := regexp.MustCompile(`http: listening on ([0-9.:]+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no HTTP address in:\n%s", logs)
	}
	api := m[1]
	for auth, want := range map[string]int{"": http.StatusUnauthorized, "Bearer nope": http.StatusUnauthorized, "Bearer " + token: http.StatusOK} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+api+"/healthz", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("healthz with %q: %s, want %d", auth, resp.Status, want)
		}
	}

	watchOut, watchErr := newSyncBuffer(), newSyncBuffer()
	watchCode := make(chan int, 1)
	go func() {
		watchCode <- run(ctx, []string{"watch", "--http", api, "--token-file", tokenFile, "--kinds", "CapsResolved"}, strings.NewReader(""), watchOut, watchErr)
	}()

	specs := []xmpptest.PeerSpec{
		{Name: "o1", JID: "o1@localhost", Password: "o1-pw",
			Identities: []xmpptest.Identity{{Category: "client", Type: "pc", Lang: "en", Name: "Gajim"}, {Category: "client", Type: "pc", Lang: "de", Name: "Gajim"}},
			Features:   []string{"urn:xmpp:jingle:1", "urn:xmpp:receipts"},
			Forms: []xmpptest.FormSpec{{FormType: "urn:xmpp:dataforms:softwareinfo",
				Fields: []xmpptest.FieldSpec{{Var: "software", Values: []string{"Gajim"}}, {Var: "os", Values: []string{"Linux"}}}}}},
		{Name: "o2", JID: "o2@localhost", Password: "o2-pw",
			Identities: []xmpptest.Identity{{Category: "client", Type: "phone", Name: "Conversations"}},
			Features:   []string{"urn:xmpp:jingle:1", "eu.siacs.conversations.axolotl.devicelist+notify"}},
	}
	peers := xmpptest.StartPeers(t, xmpptest.Slixmpp, srv, "watcher@localhost", specs)
	peers.WaitAll(ctx, "ready", []string{"o1", "o2"})
	peers.Command(map[string]any{"cmd": "announce", "peer": "*"})
	announced := peers.WaitAll(ctx, "announced", []string{"o1", "o2"})

	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("observe exited %d:\n%s", c, errOut.String())
		}
	case <-ctx.Done():
		t.Fatalf("observe did not exit after --exit-after 2:\n%s", errOut.String())
	}
	// watch saw both resolutions, then the stream ended with observe.
	if c := <-watchCode; c != 1 {
		t.Errorf("watch exited %d when observe stopped, want 1: %s", c, watchErr.String())
	}
	if n := strings.Count(watchOut.String(), `"kind":"CapsResolved"`); n < 2 {
		t.Errorf("watch printed %d CapsResolved events:\n%s", n, watchOut.String())
	}

	var doc struct {
		Entities map[string]struct {
			Node, Ver, Hash string
			Verified        bool
			Features        []string
			Identities      []httpapi.Identity
			Forms           []httpapi.Form
			ResolvedAt      *time.Time `json:"resolved_at"`
			Error           string
		}
		Counters map[string]uint64
	}
	data, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for name, ev := range announced {
		e, ok := doc.Entities[ev.JID]
		if !ok {
			t.Errorf("%s (%s) not in the dump:\n%s", name, ev.JID, data)
			continue
		}
		if !e.Verified || e.Ver != ev.Ver || e.Hash != "sha-1" || e.Node != ev.Node || e.ResolvedAt == nil || e.Error != "" {
			t.Errorf("%s: %+v, announced %s %s", name, e, ev.Node, ev.Ver)
		}
		want := slices.Sorted(slices.Values(ev.Info.Features))
		if !slices.Equal(e.Features, want) {
			t.Errorf("%s: features %q, want %q", name, e.Features, want)
		}
		if len(e.Identities) != len(ev.Info.Identities) || len(e.Forms) != len(ev.Info.Forms) {
			t.Errorf("%s: identities %+v forms %+v, want %+v", name, e.Identities, e.Forms, ev.Info)
		}
	}
	if doc.Counters["Resolved"] < 2 {
		t.Errorf("counters: %v", doc.Counters)
	}
	// What observe verified is in --data for "capsengine db".
	if code, out, errOut := runCmd(t, "", "db", "lookup", "--data", filepath.Join(dir, "db"), "sha-1", announced["o1"].Ver); code != 0 ||
		!strings.Contains(out, "urn:xmpp:jingle:1") {
		t.Errorf("db lookup: exit %d\n%s%s", code, out, errOut)
	}
}

func TestObserveRefused(t *testing.T) {
	srv := xmpptest.StartProsody(t, xmpptest.Options{})
	srv.Register(t, map[string]string{"watcher": "watcher-pw"})
	code, _, errOut := runCmd(t, "", "observe", "--jid", "watcher@localhost", "--password", "wrong",
		"--addr", srv.C2S, "--insecure-no-tls", "--timeout", "60s", "--in-memory")
	if code != 1 || !strings.Contains(errOut, "login failed") {
		t.Errorf("exit %d, want 1 with a login error:\n%s", code, errOut)
	}
	// Without --insecure-no-tls a server without STARTTLS is refused too,
	// and told so (Prosody answers an unsolicited <starttls/> with
	// unsupported-stanza-type, which explains nothing).
	code, _, errOut = runCmd(t, "", "observe", "--jid", "watcher@localhost", "--password", "watcher-pw",
		"--addr", srv.C2S, "--timeout", "60s", "--data", t.TempDir())
	const noTLS = "capsengine observe: the server offers no STARTTLS; --insecure-no-tls is for test servers only\n"
	if code != 1 || !strings.HasSuffix(errOut, noTLS) {
		t.Errorf("no TLS: exit %d, want 1 ending in %q:\n%s", code, noTLS, errOut)
	}
}

func TestObserveUsage(t *testing.T) {
	t.Setenv("CAPSENGINE_PASSWORD", "")
	t.Setenv("CAPSENGINE_COMPONENT_SECRET", "")
	missing := filepath.Join(t.TempDir(), "no-such-file")
	short := filepath.Join(t.TempDir(), "short-token")
	if err := os.WriteFile(short, []byte("tooshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cl := []string{"observe", "--jid", "a@b", "--password", "p"}
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr, when set
	}{
		{"no jid", []string{"observe"}, ""},
		{"no password", []string{"observe", "--jid", "a@b"}, ""},
		{"component without addr", []string{"observe", "--jid", "c.b", "--component-secret", "s"}, ""},
		{"privileged client", []string{"observe", "--jid", "a@b", "--password", "p", "--privileged"},
			"--privileged needs --component-secret"},
		{"zero privilege wait", []string{"observe", "--jid", "c.b", "--component-secret", "s", "--addr", "127.0.0.1:1",
			"--privileged", "--privilege-wait", "0s"}, "--privilege-wait must be positive"},
		{"negative", []string{"observe", "--jid", "a@b", "--password", "p", "--exit-after", "-1"}, ""},
		{"zero dial timeout", []string{"observe", "--jid", "a@b", "--password", "p", "--dial-timeout", "0s"}, "--dial-timeout"},
		{"argument", []string{"observe", "--jid", "a@b", "--password", "p", "extra"}, ""},
		{"empty data", []string{"observe", "--jid", "a@b", "--password", "p", "--data", ""}, ""},
		{"identity without type", []string{"observe", "--jid", "a@b", "--password", "p", "--identity", "client"},
			`capsengine observe: --identity "client": want category/type/name`},
		{"identity with empty category", []string{"observe", "--jid", "a@b", "--password", "p", "--identity", "/bot/x"},
			`--identity "/bot/x": the category is empty`},
		{"identity with a control character", []string{"observe", "--jid", "c.b", "--component-secret", "s", "--addr", "127.0.0.1:1",
			"--identity", "client/bot/a\x01"}, "control character"},
		{"relative node", []string{"observe", "--jid", "a@b", "--password", "p", "--node", "capsengine"},
			`--node "capsengine": want an absolute URI`},
		{"node with fragment", []string{"observe", "--jid", "a@b", "--password", "p", "--node", "https://example.org/#x"},
			`--node "https://example.org/#x": it contains '#'`},
		{"missing password file", []string{"observe", "--jid", "a@b", "--password-file", missing},
			"--password-file"},
		{"http on every interface without a token", append(cl, "--http", "0.0.0.0:8080"),
			"--http 0.0.0.0:8080 listens beyond this machine: give --http-token-file"},
		{"http on a host name without a token", append(cl, "--http", "example.org:8080"), "listens beyond this machine"},
		{"http on [::] without a token", append(cl, "--http", "[::]:8080"), "listens beyond this machine"},
		{"short token", append(cl, "--http", "0.0.0.0:8080", "--http-token-file", short), "at least 16"},
		{"missing token file", append(cl, "--http", "127.0.0.1:0", "--http-token-file", missing), "--http-token-file"},
		{"token without http", append(cl, "--http-token-file", short), "need --http"},
		{"cert without key", append(cl, "--http", "127.0.0.1:0", "--http-cert", "c.pem"), "go together"},
		{"bad http address", append(cl, "--http", "1.2.3.4:5:6"), "--http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, "", tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2: %s", code, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, errOut)
			}
		})
	}
}

func TestListenAddr(t *testing.T) {
	for _, tc := range []struct {
		in, addr string
		loopback bool
	}{
		{"8080", "127.0.0.1:8080", true},
		{":8080", "127.0.0.1:8080", true},
		{"127.0.0.1:0", "127.0.0.1:0", true},
		{"127.0.0.2:80", "127.0.0.2:80", true},
		{"[::1]:80", "[::1]:80", true},
		{"localhost:80", "localhost:80", true},
		{"0.0.0.0:80", "0.0.0.0:80", false},
		{"[::]:80", "[::]:80", false},
		{"192.0.2.1:80", "192.0.2.1:80", false},
		{"caps.example.org:80", "caps.example.org:80", false},
	} {
		addr, lo, err := listenAddr(tc.in)
		if err != nil || addr != tc.addr || lo != tc.loopback {
			t.Errorf("listenAddr(%q) = %q, %v, %v; want %q, %v", tc.in, addr, lo, err, tc.addr, tc.loopback)
		}
	}
}
