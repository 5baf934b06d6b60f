package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/capsengine/capsengine/messages"
)

// readBatch is how many events a client handler takes from the ring per
// lock, and writes per flush.
const readBatch = 64

// events streams engine events as Server-Sent Events: "id: N", "event:
// KIND" and "data: {json}" (an Event) per event, ids increasing across
// kinds. The stream starts with a ": subscribed" comment once the client's
// place in the stream is set. ?kinds=CapsResolved,CapsFailed selects kinds
// (default all). A Last-Event-ID header (or ?last_event_id, for clients
// that cannot set headers) resumes right after that event.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kinds, err := parseKinds(q.Get("kinds"))
	if err != nil {
		s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("last_event_id")
	}
	var lastID uint64
	if last != "" {
		if lastID, err = strconv.ParseUint(strings.TrimSpace(last), 10, 64); err != nil {
			s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad Last-Event-ID: " + last})
			return
		}
	}
	s.stream.start()
	c, lost := s.stream.open(kinds, lastID, last != "")

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 16<<10)
	// flush writes what is buffered under a deadline: a client whose
	// connection takes nothing for StallTimeout is cut off, so that it
	// holds a goroutine and a stream slot for a bounded time.
	flush := func() bool {
		gone := r.Context().Err() != nil // the client left: not the server's doing
		_ = rc.SetWriteDeadline(time.Now().Add(s.opts.StallTimeout))
		err := bw.Flush()
		if err == nil {
			err = rc.Flush()
		}
		switch {
		case err == nil:
			return true
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.metrics.streamDisconnect.WithLabelValues("stalled").Inc()
		case !gone:
			s.metrics.streamDisconnect.WithLabelValues("error").Inc()
		}
		return false
	}
	// The retry hint keeps browsers' reconnections (with Last-Event-ID)
	// quick after the server cut a stalled stream.
	fmt.Fprint(bw, ": subscribed\nretry: 2000\n\n")
	if lost > 0 {
		s.writeLost(bw, lost)
	}
	if !flush() {
		return
	}
	beat := time.NewTicker(s.opts.Heartbeat)
	defer beat.Stop()
	batch := make([]record, 0, readBatch)
	for {
		var wake <-chan struct{}
		var stopped bool
		batch, lost, wake, stopped = s.stream.read(&c, batch[:0], readBatch)
		if stopped {
			return
		}
		if wake != nil {
			select {
			case <-r.Context().Done():
				return
			case <-beat.C:
				fmt.Fprint(bw, ": ping\n\n")
				if !flush() {
					return
				}
			case <-wake:
			}
			continue
		}
		if lost > 0 {
			s.writeLost(bw, lost)
		}
		for i := range batch {
			r := &batch[i]
			fmt.Fprintf(bw, "id: %d\nevent: %s\ndata: %s\n\n", r.id, r.kind, s.stream.encode(r))
			batch[i] = record{} // don't keep the event alive from here
		}
		if !flush() {
			return
		}
	}
}

// writeLost tells a client it missed lost events just before this point.
// It carries no id: the client's last id stays that of the last event it
// really got.
func (s *Server) writeLost(w *bufio.Writer, lost uint64) {
	s.metrics.streamLost.Add(float64(lost))
	data, _ := json.Marshal(NewEvent(&messages.EventsLost{Count: lost}, time.Now()))
	fmt.Fprintf(w, "event: EventsLost\ndata: %s\n\n", data)
}
