package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/messages"
)

// Options configure New. The zero value is usable.
type Options struct {
	// Health, when set, is asked by GET /healthz: an error makes it answer
	// 503 with the error's text (the observe command reports a lost XMPP
	// session this way). Nil: always healthy.
	Health func() error
	// HealthDetails, when set, adds what the host knows about its
	// connection to /healthz: the XEP-0356 privileges a privileged
	// component was granted, and warnings about what it cannot see.
	HealthDetails func(h *Health)
	// Collectors are registered next to the engine's metrics on
	// GET /metrics (the observe command adds the transport's counters).
	Collectors []prometheus.Collector
	// EventBuffer is each /events client's buffer, in events; a slow
	// client that falls behind it and the engine's shared ring of recent
	// events loses events, and an "EventsLost" event says how many.
	// Default 1024.
	EventBuffer int
	// Heartbeat is how often an idle /events stream gets an SSE comment,
	// so that proxies keep it open. Default 15s.
	Heartbeat time.Duration
	// MaxWait bounds GET /caps/{jid}?wait=D. Default 60s.
	MaxWait time.Duration
	// Logger receives errors writing responses. Nil: silent.
	Logger *slog.Logger
}

// Server is the HTTP API of one engine. It is an http.Handler and safe for
// concurrent use.
type Server struct {
	eng  *capsengine.Engine
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
	seq  atomic.Uint64 // SSE event ids
	done chan struct{} // closed by Close: ends event streams
	once sync.Once
}

// New returns the API of eng; it registers its metrics in a registry of
// its own (not prometheus.DefaultRegisterer), so several Servers can
// coexist.
func New(eng *capsengine.Engine, opts Options) *Server {
	if opts.EventBuffer <= 0 {
		opts.EventBuffer = 1024
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = time.Minute
	}
	s := &Server{eng: eng, opts: opts, log: opts.Logger, mux: http.NewServeMux(), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		CountersCollector("capsengine", "", "engine counter", eng.Counters),
		// Retention's work: capsengine_store_pruned_entries_total and
		// capsengine_store_pruned_bytes_total.
		CountersCollector("capsengine", "store", "user store counter", func() map[string]uint64 {
			st := eng.Storage().Stats()
			return map[string]uint64{"PrunedEntries": st.PrunedEntries, "PrunedBytes": st.PrunedBytes}
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "capsengine", Name: "online_jids",
			Help: "Online JIDs with caps in the engine's table.",
		}, func() float64 { return float64(eng.JIDs()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "capsengine", Name: "cluster_members",
			Help: "Cluster members this engine sees, itself included; 0 outside cluster mode.",
		}, func() float64 { return float64(eng.ClusterMembers()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, c := range opts.Collectors {
		reg.MustRegister(c)
	}
	s.mux.HandleFunc("GET /caps/{jid...}", s.caps)
	s.mux.HandleFunc("GET /entities", s.entities)
	s.mux.HandleFunc("GET /software", s.software)
	s.mux.HandleFunc("GET /events", s.events)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	return s
}

// Close ends every open event stream (http.Server.Shutdown waits for
// handlers, and a stream never ends by itself). Other requests are not
// affected. Close is idempotent.
func (s *Server) Close() { s.once.Do(func() { close(s.done) }) }

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// caps answers GET /caps/{jid}: 200 resolved, 202 pending, 404 unknown JID,
// 502 failed (every announcer failed, lied or timed out). ?wait=D waits up
// to D (at most MaxWait) for a lookup under way.
func (s *Server) caps(w http.ResponseWriter, r *http.Request) {
	jid := r.PathValue("jid")
	if jid == "" {
		s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "missing JID"})
		return
	}
	out := Caps{JID: jid}
	if v := r.URL.Query().Get("wait"); v != "" {
		d, perr := time.ParseDuration(v)
		if perr != nil || d < 0 {
			s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad wait duration: " + v})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), min(d, s.opts.MaxWait))
		_, _ = s.eng.Wait(ctx, jid) // the outcome is read below
		cancel()
	}
	k, kerr := s.eng.Key(jid)
	info, err := s.eng.Caps(jid)
	if kerr == nil {
		out.Key = NewKey(k)
	}
	code := http.StatusOK
	switch {
	case err == nil:
		out.Status, out.Info = "resolved", NewInfo(info)
	case errors.Is(err, capsengine.ErrUnknownJID):
		out.Status, code = "unknown", http.StatusNotFound
	case errors.Is(err, capsengine.ErrPending):
		out.Status, code = "pending", http.StatusAccepted
	default:
		out.Status, out.Error, code = "failed", err.Error(), http.StatusBadGateway
	}
	s.writeJSON(w, code, out)
}

// entities answers GET /entities?feature=F with the online JIDs whose
// verified caps list F, sorted.
func (s *Server) entities(w http.ResponseWriter, r *http.Request) {
	f := r.URL.Query().Get("feature")
	if f == "" {
		s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "missing feature parameter"})
		return
	}
	list := s.eng.Entities(f)
	if list == nil {
		list = []string{}
	}
	slices.Sort(list)
	s.writeJSON(w, http.StatusOK, Entities{Feature: f, Entities: list})
}

// software answers the distribution of client software among online JIDs
// (Engine.Software).
func (s *Server) software(w http.ResponseWriter, _ *http.Request) {
	out := []Software{}
	for _, c := range s.eng.Software() {
		out = append(out, Software{Name: c.Name, Version: c.Version, FromForm: c.FromForm, JIDs: c.JIDs})
	}
	s.writeJSON(w, http.StatusOK, out)
}

// healthz answers 200 {"status":"ok"} or 503 with Options.Health's error.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	h := Health{Status: "ok", JIDs: s.eng.JIDs(), ClusterMembers: s.eng.ClusterMembers()}
	code := http.StatusOK
	if s.opts.Health != nil {
		if err := s.opts.Health(); err != nil {
			h.Status, h.Error, code = "unhealthy", err.Error(), http.StatusServiceUnavailable
		}
	}
	if s.opts.HealthDetails != nil {
		s.opts.HealthDetails(&h)
	}
	s.writeJSON(w, code, h)
}

// events streams engine events as Server-Sent Events: one "event: KIND"
// with "data: {json}" (an Event) and an increasing "id:" per event. The
// stream starts with a ": subscribed" comment once the subscription is in
// place. ?kinds=CapsResolved,CapsFailed selects kinds (default all).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	kinds, err := parseKinds(r.URL.Query().Get("kinds"))
	if err != nil {
		s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	rc := http.NewResponseController(w)
	sub := s.eng.Subscribe(kinds, s.opts.EventBuffer)
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": subscribed\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	beat := time.NewTicker(s.opts.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
		case ev, ok := <-sub.Events():
			if !ok {
				return
			}
			if err := s.writeEvent(w, NewEvent(ev, time.Now())); err != nil {
				return
			}
			// Drain what is already queued before flushing.
			for more := true; more; {
				select {
				case ev, ok := <-sub.Events():
					if !ok {
						return
					}
					if err := s.writeEvent(w, NewEvent(ev, time.Now())); err != nil {
						return
					}
				default:
					more = false
				}
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func (s *Server) writeEvent(w http.ResponseWriter, ev Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", s.seq.Add(1), ev.Kind, data)
	return err
}

// parseKinds reads a comma-separated list of event kind names.
func parseKinds(v string) (messages.EventKind, error) {
	if v == "" {
		return messages.AllKinds, nil
	}
	var k messages.EventKind
	for _, name := range strings.Split(v, ",") {
		switch strings.TrimSpace(name) {
		case "CapsResolved":
			k |= messages.KindCapsResolved
		case "CapsFailed":
			k |= messages.KindCapsFailed
		case "EntityGone":
			k |= messages.KindEntityGone
		case "VerChanged":
			k |= messages.KindVerChanged
		case "EventsLost": // sent whatever the kinds; accepted so that every kind name parses
			k |= messages.KindEventsLost
		default:
			return 0, fmt.Errorf("unknown event kind %q", name)
		}
	}
	return k, nil
}

func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil {
		s.log.Debug("http write", "err", err)
	}
}

// CountersCollector exposes a map of running totals (an engine's
// Counters, a transport's Stats) as Prometheus counters named
// namespace_subsystem_<name in snake case>_total, read at every scrape.
// The names must not change between calls.
func CountersCollector(namespace, subsystem, help string, counters func() map[string]uint64) prometheus.Collector {
	c := &countersCollector{f: counters, descs: make(map[string]*prometheus.Desc)}
	for name := range counters() {
		c.descs[name] = prometheus.NewDesc(
			prometheus.BuildFQName(namespace, subsystem, snake(name)+"_total"),
			fmt.Sprintf("%s %s.", help, name), nil, nil)
	}
	return c
}

type countersCollector struct {
	f     func() map[string]uint64
	descs map[string]*prometheus.Desc
}

func (c *countersCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *countersCollector) Collect(ch chan<- prometheus.Metric) {
	for name, v := range c.f() {
		if d := c.descs[name]; d != nil {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
		}
	}
}

// snake turns "DropMUC" into "drop_muc" and "QueryErrors" into
// "query_errors".
func snake(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) {
			prevLower := i > 0 && !unicode.IsUpper(r[i-1])
			nextLower := i > 0 && i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}
