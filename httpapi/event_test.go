package httpapi_test

import (
	"encoding/json"
	"testing"
	"time"

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
