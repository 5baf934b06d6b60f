package httpapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/httpapi"
	"github.com/capsengine/capsengine/messages"
)

// A loss reaches SSE clients as its own kind, with the count.
func TestNewEventEventsLost(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	data, err := json.Marshal(httpapi.NewEvent(&messages.EventsLost{Count: 42}, at))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), `{"kind":"EventsLost","time":"2025-01-02T03:04:05Z","lost":42}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// A verified key reaches SSE clients with the time the engine verified
// it, not the time the stream saw it.
func TestNewEventKeyVerified(t *testing.T) {
	info := &hashing.Info{Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "x"}},
		Features: []string{"http://jabber.org/protocol/caps"}}
	k, err := hashing.Compute(hashing.XEP0115, hashing.SHA1, info)
	if err != nil {
		t.Fatal(err)
	}
	verifiedAt := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := httpapi.NewEvent(&messages.KeyVerified{Key: k, Info: info, At: verifiedAt}, verifiedAt.Add(time.Second))
	if ev.Kind != "KeyVerified" || !ev.Time.Equal(verifiedAt) || ev.Key == nil || ev.Key.Ver != k.Ver() ||
		ev.Info == nil || len(ev.Info.Features) != 1 || ev.JID != "" {
		t.Errorf("got %+v", ev)
	}
}
