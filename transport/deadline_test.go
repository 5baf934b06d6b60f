package transport_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/capsengine/capsengine/internal/xmpptest"
	"github.com/capsengine/capsengine/transport"
)

// bound is how long a test waits for something that must happen within a
// one-second timeout: generous, so that a slow machine does not fail the
// test, and far below "forever".
const bound = 30 * time.Second

// recordHandler passes the records a Conn logs to a channel, dropping them
// when nobody reads.
type recordHandler struct{ ch chan slog.Record }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- r.Clone():
	default:
	}
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// runConn runs a Conn for cfg until ctx ends, and returns Run's result on
// a channel.
func runConn(t *testing.T, ctx context.Context, cfg transport.Config) (*transport.Conn, <-chan error) {
	t.Helper()
	conn, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	eng := openEngine(t, conn)
	done := make(chan error, 1)
	go func() { done <- conn.Run(ctx, eng) }()
	return conn, done
}

// waitRun waits up to bound for Run to return.
func waitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(bound):
		t.Fatalf("Run did not return within %v", bound)
		return nil
	}
}

// silentCases are the ways a server can accept the connection and then
// leave a login hanging: saying nothing at all, or sending its stream
// header and then nothing; as a client, with and without STARTTLS, and as a
// XEP-0114 component.
var silentCases = []struct {
	name string
	say  string
	cfg  transport.Config
}{
	{"client says nothing", "", transport.Config{JID: "u@example.org", Password: "pw"}},
	{"client header only", xmpptest.StreamHeader("example.org"), transport.Config{JID: "u@example.org", Password: "pw"}},
	{"client no TLS says nothing", "", transport.Config{JID: "u@example.org", Password: "pw", InsecureNoTLS: true}},
	{"client no TLS header only", xmpptest.StreamHeader("example.org"), transport.Config{JID: "u@example.org", Password: "pw", InsecureNoTLS: true}},
	{"component says nothing", "", transport.Config{JID: "caps.example.org", Password: "s", Component: true}},
	{"component header only", "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' " +
		"xmlns='jabber:component:accept' from='caps.example.org' id='s1'>", transport.Config{JID: "caps.example.org", Password: "s", Component: true}},
}

// TestSilentServerLoginTimeout: a login to a server that goes quiet fails
// with context.DeadlineExceeded once DialTimeout has passed, is logged and
// counted, and Run keeps trying until its ctx ends.
func TestSilentServerLoginTimeout(t *testing.T) {
	for _, tc := range silentCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.Addr = xmpptest.QuietServer(t, tc.say)
			cfg.DialTimeout = time.Second
			cfg.Backoff = transport.Backoff{Min: time.Millisecond, Max: time.Millisecond}
			records := make(chan slog.Record, 16)
			cfg.Logger = slog.New(recordHandler{records})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			conn, done := runConn(t, ctx, cfg)

			timeout := time.After(bound)
			var loginErr error
			for loginErr == nil {
				select {
				case r := <-records:
					if r.Message != "xmpp connect failed" {
						continue
					}
					r.Attrs(func(a slog.Attr) bool {
						if a.Key == "err" {
							loginErr, _ = a.Value.Any().(error)
						}
						return true
					})
					if loginErr == nil {
						t.Fatalf("connect failure logged without an error: %v", r)
					}
				case err := <-done:
					t.Fatalf("Run returned %v; want it to keep trying", err)
				case <-timeout:
					t.Fatalf("no failed login logged within %v (DialTimeout 1s)", bound)
				}
			}
			if !errors.Is(loginErr, context.DeadlineExceeded) {
				t.Errorf("login error: got %v, want context.DeadlineExceeded", loginErr)
			}
			if errors.Is(loginErr, transport.ErrAuth) {
				t.Errorf("login error %v matches ErrAuth: a quiet server is waited for, not refused", loginErr)
			}
			if conn.Stats().DialErrors == 0 {
				t.Error("the failed login is not counted in DialErrors")
			}
			if err := conn.LastDialError(); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("LastDialError: got %v, want context.DeadlineExceeded", err)
			}
			cancel()
			if err := waitRun(t, done); err != nil {
				t.Errorf("Run after cancel: got %v, want nil", err)
			}
		})
	}
}

// TestSilentServerCancel: cancelling Run's ctx ends a login that is
// waiting on a quiet server at once, long before DialTimeout.
func TestSilentServerCancel(t *testing.T) {
	for _, tc := range silentCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.Addr = xmpptest.QuietServer(t, tc.say)
			cfg.DialTimeout = time.Hour
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, done := runConn(t, ctx, cfg)
			if err := waitRun(t, done); err != nil {
				t.Errorf("Run: got %v, want nil once ctx is done", err)
			}
		})
	}
}

// TestNoStartTLS: a server that offers no STARTTLS is refused at once, with
// an error saying so, when InsecureNoTLS is not set.
func TestNoStartTLS(t *testing.T) {
	addr := xmpptest.QuietServer(t, xmpptest.NoTLSPreamble("example.org"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, done := runConn(t, ctx, transport.Config{JID: "u@example.org", Password: "pw", Addr: addr, DialTimeout: time.Hour})
	err := waitRun(t, done)
	if !errors.Is(err, transport.ErrNoStartTLS) || !errors.Is(err, transport.ErrAuth) {
		t.Errorf("got %v, want ErrNoStartTLS and ErrAuth", err)
	}
}
