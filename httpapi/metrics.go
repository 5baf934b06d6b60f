package httpapi

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/storage"
)

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

// gaugesCollector exports the engine's Gauges, one Prometheus gauge per
// field as gaugeMap names them: capsengine_live_lookups for LiveLookups,
// and so on. JIDs and UnhashedJIDs are left to online_jids and
// unhashed_jids, their names before this collector.
type gaugesCollector struct {
	f     func() capsengine.Gauges
	descs map[string]*prometheus.Desc
}

func newGaugesCollector(f func() capsengine.Gauges) *gaugesCollector {
	c := &gaugesCollector{f: f, descs: map[string]*prometheus.Desc{}}
	for name := range gaugeMap(capsengine.Gauges{}) {
		if name != "JIDs" && name != "UnhashedJIDs" {
			c.descs[name] = prometheus.NewDesc(prometheus.BuildFQName("capsengine", "", snake(name)),
				fmt.Sprintf("engine gauge %s (see capsengine.Gauges).", name), nil, nil)
		}
	}
	return c
}

func (c *gaugesCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *gaugesCollector) Collect(ch chan<- prometheus.Metric) {
	for name, v := range gaugeMap(c.f()) {
		if d := c.descs[name]; d != nil {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
		}
	}
}

// snake turns "DropMUC" into "drop_muc", "QueryErrors" into
// "query_errors" and "WaitingJIDs" into "waiting_jids".
func snake(s string) string {
	// "JIDs" is one word: waiting_jids, not waiting_ji_ds.
	r := []rune(strings.ReplaceAll(s, "JIDs", "Jids"))
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

// httpMetrics are the API's own: what it refused and why, and how its
// event streams fare.
type httpMetrics struct {
	rejected         *prometheus.CounterVec
	streamLost       prometheus.Counter // events the clients lost (summed over clients)
	streamDisconnect *prometheus.CounterVec
	gauges           []prometheus.Collector
}

func newHTTPMetrics(l *limits) *httpMetrics {
	m := &httpMetrics{
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "capsengine", Subsystem: "http", Name: "rejected_total",
			Help: "Requests refused, by reason: unauthorized, requests, waiters, streams (limits reached), body, query (too large).",
		}, []string{"reason"}),
		streamLost: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "capsengine", Subsystem: "http", Name: "stream_lost_events_total",
			Help: "Events /events clients missed because they fell behind the replay buffer, summed over clients.",
		}),
		streamDisconnect: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "capsengine", Subsystem: "http", Name: "stream_disconnects_total",
			Help: "/events streams ended by the server, by reason: stalled (wrote nothing for StallTimeout), error.",
		}, []string{"reason"}),
	}
	for _, r := range []string{"unauthorized", "requests", "waiters", "streams", "body", "query"} {
		m.rejected.WithLabelValues(r)
	}
	for _, r := range []string{"stalled", "error"} {
		m.streamDisconnect.WithLabelValues(r)
	}
	gauge := func(name, help string, sem chan struct{}) {
		m.gauges = append(m.gauges, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "capsengine", Subsystem: "http", Name: name, Help: help,
		}, func() float64 { return float64(len(sem)) }))
	}
	gauge("streams", "Open /events streams.", l.streams)
	gauge("waiters", "GET /caps requests waiting for a lookup.", l.waiters)
	gauge("requests", "Other requests being served.", l.requests)
	return m
}

func (m *httpMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.rejected.Describe(ch)
	m.streamLost.Describe(ch)
	m.streamDisconnect.Describe(ch)
	for _, g := range m.gauges {
		g.Describe(ch)
	}
}

func (m *httpMetrics) Collect(ch chan<- prometheus.Metric) {
	m.rejected.Collect(ch)
	m.streamLost.Collect(ch)
	m.streamDisconnect.Collect(ch)
	for _, g := range m.gauges {
		g.Collect(ch)
	}
}

// latencyCollector exposes the engine's latency histograms as Prometheus
// histograms, read at every scrape.
type latencyCollector struct {
	eng                  *capsengine.Engine
	resolve, query, wait *prometheus.Desc
}

func newLatencyCollector(eng *capsengine.Engine) *latencyCollector {
	return &latencyCollector{
		eng: eng,
		resolve: prometheus.NewDesc("capsengine_resolve_latency_seconds",
			"From the first presence announcing an unknown key to its verified answer.", nil, nil),
		query: prometheus.NewDesc("capsengine_query_latency_seconds",
			"disco#info round trips that were answered (timeouts excluded).", nil, nil),
		wait: prometheus.NewDesc("capsengine_queue_wait_seconds",
			"How long the engine's work waited in its queue, by kind: ingest, route, lookup, query, answer.", []string{"kind"}, nil),
	}
}

func (c *latencyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.resolve
	ch <- c.query
	ch <- c.wait
}

func (c *latencyCollector) Collect(ch chan<- prometheus.Metric) {
	l := c.eng.Latencies()
	ch <- constHistogram(c.resolve, l.Resolve)
	ch <- constHistogram(c.query, l.Query)
	for kind, h := range l.Waits {
		ch <- constHistogram(c.wait, h, kind)
	}
}

// constHistogram converts a snapshot: Prometheus buckets are cumulative.
func constHistogram(d *prometheus.Desc, h capsengine.Histogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets, labels...)
}

// storeCollector exposes the store's figures (storage.Stats).
type storeCollector struct {
	eng   *capsengine.Engine
	descs map[string]*prometheus.Desc
}

var storeMetrics = []struct {
	name, help string
	counter    bool
	get        func(storage.Stats) float64
}{
	{"cache_hits_total", "Hot cache lookups that hit.", true, func(s storage.Stats) float64 { return float64(s.CacheHits) }},
	{"cache_misses_total", "Hot cache lookups that missed.", true, func(s storage.Stats) float64 { return float64(s.CacheMisses) }},
	{"cache_bytes", "Memory the hot cache holds (estimate).", false, func(s storage.Stats) float64 { return float64(s.CacheBytes) }},
	{"cache_max_bytes", "The hot cache's size.", false, func(s storage.Stats) float64 { return float64(s.CacheMaxBytes) }},
	{"trusted_hits_total", "Cache misses found in the trusted store.", true, func(s storage.Stats) float64 { return float64(s.TrustedHits) }},
	{"user_hits_total", "Cache misses found in the user store.", true, func(s storage.Stats) float64 { return float64(s.UserHits) }},
	{"misses_total", "Lookups found in no store.", true, func(s storage.Stats) float64 { return float64(s.Misses) }},
	{"filtered_total", "Store reads the key filters answered absent without reading the store.", true, func(s storage.Stats) float64 { return float64(s.Filtered) }},
	{"commits_total", "Synced group commits.", true, func(s storage.Stats) float64 { return float64(s.Commits) }},
	{"committed_total", "Entries written by the group commits.", true, func(s storage.Stats) float64 { return float64(s.Committed) }},
	{"trusted_disk_bytes", "The trusted store's size on disk.", false, func(s storage.Stats) float64 { return float64(s.TrustedDiskBytes) }},
	{"user_disk_bytes", "The user store's size on disk.", false, func(s storage.Stats) float64 { return float64(s.UserDiskBytes) }},
}

func newStoreCollector(eng *capsengine.Engine) *storeCollector {
	c := &storeCollector{eng: eng, descs: map[string]*prometheus.Desc{}}
	for _, m := range storeMetrics {
		c.descs[m.name] = prometheus.NewDesc("capsengine_store_"+m.name, m.help, nil, nil)
	}
	return c
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	db := c.eng.Storage()
	if db == nil {
		return
	}
	st := db.Stats()
	for _, m := range storeMetrics {
		t := prometheus.GaugeValue
		if m.counter {
			t = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[m.name], t, m.get(st))
	}
}
