package xmpptest_test

import (
	"context"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/internal/xmpptest"
	"github.com/capsengine/capsengine/transport"
)

// TestEjabberd: the generated configuration starts, grants the component
// the presence permission asked for, accounts registered with ejabberdctl
// log in without TLS, and they survive Kill and Start.
func TestEjabberd(t *testing.T) {
	srv := xmpptest.StartEjabberd(t, xmpptest.Options{Privilege: "managed_entity"})
	srv.Register(t, map[string]string{"alice": "alice-pw", "bob": "b'<&>\"ob"})
	// connect logs in with cfg and returns the session's privileges (the
	// zero value when none were advertised within a few seconds).
	connect := func(cfg transport.Config) transport.Privileges {
		t.Helper()
		cfg.Backoff = transport.Backoff{Min: 50 * time.Millisecond, Max: time.Second}
		conn, err := transport.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// A bound, not a timing check: after Kill and Start, ejabberd
		// under a loaded CI machine took over 20 s to accept a login.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		eng, err := capsengine.Open(ctx, capsengine.Config{InMemory: true, Querier: conn})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close(context.Background())
		done := make(chan error, 1)
		go func() { done <- conn.Run(ctx, eng) }()
		defer func() { cancel(); <-done }()
		if err := conn.WaitConnected(ctx); err != nil {
			t.Fatalf("%s did not log in: %v", cfg.JID, err)
		}
		if !cfg.Component {
			return transport.Privileges{}
		}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if p, ok := conn.Privileges(); ok {
				return p
			}
		}
		return transport.Privileges{}
	}
	login := func(user, pw string) {
		t.Helper()
		connect(transport.Config{JID: user + "@" + srv.Domain, Password: pw, Addr: srv.C2S, InsecureNoTLS: true})
	}
	priv := connect(transport.Config{JID: srv.Component, Password: srv.ComponentSecret, Addr: srv.ComponentAddr,
		Component: true, Privileged: true})
	if priv.Namespace != transport.NSPrivilege1 || priv.Presence != "managed_entity" {
		t.Errorf("component privileges %+v, want %s with presence=managed_entity", priv, transport.NSPrivilege1)
	}
	login("alice", "alice-pw")
	srv.Kill()
	srv.Start(t)
	login("bob", "b'<&>\"ob")
}
