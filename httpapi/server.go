package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// Options configure New. The zero value is usable: no token, every limit
// at its default.
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

	// Token, when set, is the bearer token every request must carry
	// (Authorization: Bearer TOKEN, or the dashboard's cookie
	// capsengine_token), compared in constant time; others get 401. The
	// dashboard's page and assets hold no data and are served to anyone,
	// so that it can ask for the token.
	Token []byte
	// OpenHealth leaves GET /healthz and GET /metrics open without the
	// token, for probes and scrapers that cannot carry one.
	OpenHealth bool

	// EventBuffer is the number of recent events kept for /events clients
	// (rounded up to a power of two): how far a client may fall behind
	// before it loses events, and how far back Last-Event-ID resumes.
	// Default 4096.
	EventBuffer int
	// StallTimeout disconnects an /events client whose connection accepts
	// nothing for this long. Default 30s.
	StallTimeout time.Duration
	// Heartbeat is how often an idle /events stream gets an SSE comment,
	// so that proxies keep it open. Default 15s.
	Heartbeat time.Duration
	// MaxWait bounds GET /caps/{jid}?wait=D. Default 60s.
	MaxWait time.Duration

	// MaxStreams bounds concurrent /events clients. Default 256.
	MaxStreams int
	// MaxWaiters bounds concurrent GET /caps/{jid}?wait requests. Default
	// 1024.
	MaxWaiters int
	// MaxRequests bounds the other requests served at once. Default 256.
	MaxRequests int
	// MaxPage is the largest page /entities serves. Default 1000.
	MaxPage int
	// StatsEvery is how long GET /stats reuses its count of stored
	// entries, which walks the stores. Default 1 minute.
	StatsEvery time.Duration

	// Logger receives errors writing responses. Nil: silent.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.EventBuffer, 4096)
	def(&o.MaxStreams, 256)
	def(&o.MaxWaiters, 1024)
	def(&o.MaxRequests, 256)
	def(&o.MaxPage, 1000)
	defDur(&o.StallTimeout, 30*time.Second)
	defDur(&o.Heartbeat, 15*time.Second)
	defDur(&o.MaxWait, time.Minute)
	defDur(&o.StatsEvery, time.Minute)
}

// Server is the HTTP API of one engine. It is an http.Handler and safe for
// concurrent use.
type Server struct {
	eng     *capsengine.Engine
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	stream  *stream
	limits  limits
	metrics *httpMetrics
	counts  storeCounts // GET /stats: the stores' entries, recounted every StatsEvery
	started time.Time
	once    sync.Once
}

// New returns the API of eng; it registers its metrics in a registry of
// its own (not prometheus.DefaultRegisterer), so several Servers can
// coexist.
func New(eng *capsengine.Engine, opts Options) *Server {
	opts.defaults()
	s := &Server{eng: eng, opts: opts, log: opts.Logger, mux: http.NewServeMux(),
		started: time.Now().UTC()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.limits = newLimits(opts)
	s.metrics = newHTTPMetrics(&s.limits)
	s.stream = newStream(eng, opts.EventBuffer)
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
			Namespace: "capsengine", Name: "unhashed_jids",
			Help: "Online JIDs without a verifiable hash kept with their own, unverified, answer (Tuning.QueryUnhashed).",
		}, func() float64 { return float64(eng.Gauges().UnhashedJIDs) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "capsengine", Name: "cluster_members",
			Help: "Cluster members this engine sees, itself included; 0 outside cluster mode.",
		}, func() float64 { return float64(eng.ClusterMembers()) }),
		newGaugesCollector(eng.Gauges),
		newLatencyCollector(eng),
		newStoreCollector(eng),
		s.metrics,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, c := range opts.Collectors {
		reg.MustRegister(c)
	}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	s.mux.Handle("GET /caps/{jid...}", s.guard(routeWait, http.HandlerFunc(s.caps)))
	s.mux.Handle("GET /users/{bare}", s.guard(routeData, http.HandlerFunc(s.users)))
	s.mux.Handle("GET /entities", s.guard(routeData, http.HandlerFunc(s.entities)))
	s.mux.Handle("GET /software", s.guard(routeData, http.HandlerFunc(s.software)))
	s.mux.Handle("GET /features", s.guard(routeData, http.HandlerFunc(s.features)))
	s.mux.Handle("GET /keys/{scheme}/{algo}/{ver...}", s.guard(routeData, http.HandlerFunc(s.key)))
	s.mux.Handle("GET /stats", s.guard(routeData, http.HandlerFunc(s.stats)))
	s.mux.Handle("GET /events", s.guard(routeStream, http.HandlerFunc(s.events)))
	s.mux.Handle("GET /metrics", s.guard(routeHealth, metrics))
	s.mux.Handle("GET /healthz", s.guard(routeHealth, http.HandlerFunc(s.healthz)))
	s.mux.Handle("GET /openapi.yaml", s.guard(routeAsset, http.HandlerFunc(serveOpenAPI)))
	s.mux.Handle("GET /{$}", s.guard(routeAsset, dashboard()))
	s.mux.Handle("GET /assets/", s.guard(routeAsset, dashboard()))
	return s
}

// Close ends every open event stream (http.Server.Shutdown waits for
// handlers, and a stream never ends by itself) and the server's
// subscription to the engine. Other requests are not affected. Close is
// idempotent.
func (s *Server) Close() {
	s.once.Do(func() {
		// Its clients get what was published before Close, then end.
		s.stream.close()
	})
}

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
	if kerr != nil {
		k = hashing.Key{}
	}
	out, code := newCaps(jid, k, info, err)
	s.writeJSON(w, code, out)
}

// newCaps is a JID's caps as JSON, and the status code that says the
// same: 200 resolved, 202 pending, 404 unknown, 502 failed.
func newCaps(jid string, k hashing.Key, info *hashing.Info, err error) (Caps, int) {
	out := Caps{JID: jid, Key: NewKey(k)}
	code := http.StatusOK
	switch {
	case err == nil:
		out.Status, out.Info = "resolved", NewInfo(info)
		// Only an unhashed JID's answer comes without a key.
		out.Unverified = k.IsZero()
	case errors.Is(err, capsengine.ErrUnknownJID):
		out.Status, code = "unknown", http.StatusNotFound
	case errors.Is(err, capsengine.ErrPending):
		out.Status, code = "pending", http.StatusAccepted
	default:
		out.Status, out.Error, code = "failed", err.Error(), http.StatusBadGateway
	}
	return out, code
}

// users answers GET /users/{bare}: the caps of each online resource of a
// user, 404 when none is online.
func (s *Server) users(w http.ResponseWriter, r *http.Request) {
	bare := r.PathValue("bare")
	if bare == "" || strings.Contains(bare, "/") {
		s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want a bare JID (user@domain)"})
		return
	}
	out := User{JID: bare, Resources: []Caps{}}
	for _, rc := range s.eng.Resources(bare) {
		c, _ := newCaps(rc.JID, rc.Key, rc.Info, rc.Err)
		out.Resources = append(out.Resources, c)
	}
	code := http.StatusOK
	if len(out.Resources) == 0 {
		code = http.StatusNotFound
	}
	s.writeJSON(w, code, out)
}

// software answers the distribution of client software among online JIDs
// (Engine.Software), most used first, at most ?limit entries (default and
// maximum MaxPage): a crawler meets thousands of versions.
func (s *Server) software(w http.ResponseWriter, r *http.Request) {
	limit, _, ok := s.page(w, r)
	if !ok {
		return
	}
	out := []Software{}
	for _, c := range s.eng.Software() {
		if len(out) == limit {
			break
		}
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
		case "KeyVerified":
			k |= messages.KindKeyVerified
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
