package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/httpapi"
	"github.com/capsengine/capsengine/messages"
)

// An entity without a verifiable hash (Tuning.QueryUnhashed) is served
// with its own answer, marked unverified and without a key.
func TestCapsUnverified(t *testing.T) {
	q := capsengine.QuerierFunc(func(ctx context.Context, jid, node string) (*hashing.Info, error) {
		return &hashing.Info{Identities: []hashing.Identity{{Category: "gateway", Type: "irc"}}, Features: []string{"jabber:iq:gateway"}}, nil
	})
	eng, err := capsengine.Open(context.Background(), capsengine.Config{InMemory: true, Querier: q,
		Tuning: capsengine.Tuning{QueryUnhashed: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(eng, httpapi.Options{}))
	t.Cleanup(func() {
		srv.Close()
		if err := eng.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if err := eng.Ingest(context.Background(), &messages.Presence{From: "gw@example.org/irc"}); err != nil {
		t.Fatal(err)
	}
	var c httpapi.Caps
	if code := getJSON(t, srv.URL+"/caps/gw@example.org/irc?wait=10s", &c); code != http.StatusOK || c.Status != "resolved" ||
		!c.Unverified || c.Key != nil || len(c.Info.Features) != 1 {
		t.Errorf("got %d %+v, want 200 resolved, unverified, no key", code, c)
	}
}

func TestNewEventUnverified(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := &messages.CapsResolved{JID: "gw@example.org/irc", Info: &hashing.Info{Features: []string{"jabber:iq:gateway"}}, Unverified: true}
	data, err := json.Marshal(httpapi.NewEvent(ev, at))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(data); !strings.Contains(s, `"unverified":true`) || strings.Contains(s, `"key"`) {
		t.Errorf("got %s, want unverified and no key", s)
	}
}
