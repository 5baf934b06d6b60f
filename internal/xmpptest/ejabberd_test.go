package xmpptest_test

import (
	"context"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/internal/xmpptest"
	"github.com/capsengine/capsengine/transport"
)

// TestEjabberd: the generated configuration starts, accounts registered
// with ejabberdctl log in without TLS, and they survive Kill and Start.
func TestEjabberd(t *testing.T) {
	srv := xmpptest.StartEjabberd(t, xmpptest.Options{Privilege: "managed_entity"})
	srv.Register(t, map[string]string{"alice": "alice-pw", "bob": "b'<&>\"ob"})
	login := func(user, pw string) {
		t.Helper()
		conn, err := transport.New(transport.Config{JID: user + "@" + srv.Domain, Password: pw, Addr: srv.C2S,
			InsecureNoTLS: true, Backoff: transport.Backoff{Min: 50 * time.Millisecond, Max: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		eng, err := capsengine.Open(ctx, capsengine.Config{InMemory: true, Querier: conn})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close(context.Background())
		done := make(chan error, 1)
		go func() { done <- conn.Run(ctx, eng) }()
		if err := conn.WaitConnected(ctx); err != nil {
			t.Fatalf("%s did not log in: %v", user, err)
		}
		cancel()
		<-done
	}
	login("alice", "alice-pw")
	srv.Kill()
	srv.Start(t)
	login("bob", "b'<&>\"ob")
}
