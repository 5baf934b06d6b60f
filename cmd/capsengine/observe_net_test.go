package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capsengine/capsengine/internal/xmpptest"
)

// observeBound is how long a test waits for observe to end when every
// timeout it was given is a second or a few: generous for slow machines,
// and far below "never".
const observeBound = 30 * time.Second

// runObserveWithin runs observe with args and fails the test when it has
// not returned within observeBound.
func runObserveWithin(t *testing.T, ctx context.Context, args ...string) (code int, stderr string) {
	t.Helper()
	errOut := newSyncBuffer()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"observe"}, args...), strings.NewReader(""), io.Discard, errOut)
	}()
	select {
	case code = <-done:
		return code, errOut.String()
	case <-time.After(observeBound):
		t.Fatalf("observe %q still running after %v:\n%s", args, observeBound, errOut.String())
		return 0, ""
	}
}

// passwordFile writes a password file with the given permissions.
func passwordFile(t *testing.T, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // WriteFile's mode is filtered by the umask
		t.Fatal(err)
	}
	return p
}

// TestObserveQuietServer: a server that accepts the connection and then
// says nothing, or only its stream header, no longer holds observe: the
// login fails after --dial-timeout, --timeout ends the run wherever it is,
// and a run that never logged in exits 1 saying why.
func TestObserveQuietServer(t *testing.T) {
	t.Setenv("CAPSENGINE_PASSWORD", "")
	t.Setenv("CAPSENGINE_COMPONENT_SECRET", "")
	client := func(addr string, extra ...string) []string {
		return append([]string{"--jid", "u@example.org", "--password-file", passwordFile(t, 0o600),
			"--addr", addr, "--in-memory"}, extra...)
	}
	component := func(addr string, extra ...string) []string {
		return append([]string{"--jid", "caps.example.org", "--component-secret", "s",
			"--addr", addr, "--in-memory"}, extra...)
	}
	header := xmpptest.StreamHeader("example.org")
	for _, tc := range []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"login timeout", client(xmpptest.QuietServer(t, ""), "--dial-timeout", "1s", "--timeout", "4s"),
			[]string{"without a successful login", "did not complete the login within 1s"}},
		{"login timeout after header", client(xmpptest.QuietServer(t, header), "--dial-timeout", "1s", "--timeout", "4s"),
			[]string{"without a successful login", "did not complete the login within 1s"}},
		{"timeout cuts the login", client(xmpptest.QuietServer(t, header), "--timeout", "1s"),
			[]string{"--timeout 1s passed without a successful login"}},
		{"timeout cuts the plaintext login", client(xmpptest.QuietServer(t, header), "--insecure-no-tls", "--timeout", "1s"),
			[]string{"--timeout 1s passed without a successful login"}},
		{"component login timeout", component(xmpptest.QuietServer(t, ""), "--dial-timeout", "1s", "--timeout", "4s"),
			[]string{"without a successful login", "did not complete the login within 1s"}},
		{"timeout cuts the component login", component(xmpptest.QuietServer(t, ""), "--timeout", "1s"),
			[]string{"--timeout 1s passed without a successful login"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, errOut := runObserveWithin(t, context.Background(), tc.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1:\n%s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestObserveCancelDuringLogin: cancelling observe's context (what a
// signal does) ends it while the login waits on a quiet server.
func TestObserveCancelDuringLogin(t *testing.T) {
	addr := xmpptest.QuietServer(t, xmpptest.StreamHeader("example.org"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	runObserveWithin(t, ctx, "--jid", "u@example.org", "--password-file", passwordFile(t, 0o600),
		"--addr", addr, "--in-memory")
}

// TestObserveNoStartTLS: a server that offers no STARTTLS gets a sentence
// saying so, at once, not the stream error of its answer to <starttls/>.
func TestObserveNoStartTLS(t *testing.T) {
	addr := xmpptest.QuietServer(t, xmpptest.NoTLSPreamble("example.org"))
	code, errOut := runObserveWithin(t, context.Background(), "--jid", "u@example.org",
		"--password-file", passwordFile(t, 0o600), "--addr", addr, "--in-memory", "--timeout", "60s")
	const want = "capsengine observe: the server offers no STARTTLS; --insecure-no-tls is for test servers only\n"
	if code != 1 || !strings.HasSuffix(errOut, want) {
		t.Errorf("exit %d, want 1 ending in %q:\n%s", code, want, errOut)
	}
}

// TestObserveWarnings: observe warns at start when it will log in in
// plaintext and when the password file is readable by group or others,
// and only then.
func TestObserveWarnings(t *testing.T) {
	t.Setenv("CAPSENGINE_PASSWORD", "")
	const (
		plaintext = "--insecure-no-tls: the password and all traffic cross the network unencrypted"
		readable  = "--password-file can be read by other users"
	)
	for _, tc := range []struct {
		name     string
		perm     os.FileMode
		insecure bool
		want     []string
		dontWant []string
	}{
		{"private file, TLS", 0o600, false, nil, []string{plaintext, readable}},
		{"group-readable file", 0o640, false, []string{readable}, []string{plaintext}},
		{"world-readable file, plaintext", 0o644, true, []string{readable, plaintext}, nil},
		{"private file, plaintext", 0o400, true, []string{plaintext}, []string{readable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"--jid", "u@example.org", "--password-file", passwordFile(t, tc.perm),
				"--addr", xmpptest.QuietServer(t, ""), "--in-memory", "--timeout", "1s"}
			if tc.insecure {
				args = append(args, "--insecure-no-tls")
			}
			_, errOut := runObserveWithin(t, context.Background(), args...)
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("no warning %q:\n%s", w, errOut)
				}
			}
			for _, w := range tc.dontWant {
				if strings.Contains(errOut, w) {
					t.Errorf("unexpected warning %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestObservePasswordHelp: the --password flag's help says that the
// command line is visible to others and names the alternatives.
func TestObservePasswordHelp(t *testing.T) {
	_, out, _ := runCmd(t, "", "observe", "--help")
	i := strings.Index(out, "--password string")
	if i < 0 {
		t.Fatalf("no --password in the help:\n%s", out)
	}
	line, _, _ := strings.Cut(out[i:], "\n")
	for _, w := range []string{"other users", "--password-file", "$CAPSENGINE_PASSWORD"} {
		if !strings.Contains(line, w) {
			t.Errorf("--password help %q lacks %q", line, w)
		}
	}
}
