package bench

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/capsengine/capsengine/internal/units"
)

// SoakReport is the outcome of Soak; --json prints it. Field by field in
// bench/README.md, "Soak".
type SoakReport struct {
	Version  int          `json:"version"`
	Command  string       `json:"command,omitempty"`
	Machine  machineInfo  `json:"machine"`
	Settings soakSettings `json:"settings"`
	Seconds  float64      `json:"seconds"` // how long the stream ran

	Presences       int64   `json:"presences"`
	Unavailable     int64   `json:"unavailable"`
	JIDs            int64   `json:"jids"` // distinct JIDs introduced
	KeysPerSec      float64 `json:"keys_per_sec"`
	JIDsPerSec      float64 `json:"jids_per_sec"`
	PresencesPerSec float64 `json:"presences_per_sec"`
	RingStalls      int64   `json:"ring_stalls"` // times the stream waited for verdicts

	Keys     soakKeys          `json:"keys"`
	Queries  soakQueries       `json:"queries"`
	Liars    liarReport        `json:"liars"`
	Probes   soakProbeReport   `json:"probes"`
	Events   soakEvents        `json:"events"`
	Counters map[string]uint64 `json:"counters"` // the engine's, at the end

	StoreDiskBytes int64        `json:"store_disk_bytes"`
	WarmupSeconds  float64      `json:"warmup_seconds"`
	Trends         []soakTrend  `json:"trends"`
	Samples        []soakSample `json:"samples"`

	Violations []string `json:"violations"`
	OK         bool     `json:"ok"`
}

// soakSettings are the soak's knobs.
type soakSettings struct {
	DurationSeconds float64 `json:"duration_seconds"`
	KeysPerSec      float64 `json:"keys_per_sec"` // the pace asked for; 0 unpaced
	JIDsPerKey      float64 `json:"jids_per_key"`
	SpreadSeconds   float64 `json:"spread_seconds"`
	JIDLifeSeconds  float64 `json:"jid_life_seconds"`
	PopKeys         int     `json:"pop_keys"`
	PopShare        float64 `json:"pop_share"`
	Seed            uint64  `json:"seed"`
	LatencyMs       float64 `json:"latency_ms"`
	Jitter          float64 `json:"jitter"`
	Liars           float64 `json:"liars"`
	Errors          float64 `json:"errors"`
	Timeouts        float64 `json:"timeouts"`
	QueryTimeoutMs  float64 `json:"query_timeout_ms"`
	LookupTimeoutMs float64 `json:"lookup_timeout_ms"`
	MaxLookups      int     `json:"max_lookups"`
	CacheBytes      int64   `json:"cache_bytes"`
	Batch           int     `json:"batch"`
}

// soakKeys are the verdicts on the keys: each key is judged once every
// lookup it could have started has had time to end.
type soakKeys struct {
	Introduced int64 `json:"introduced"`
	Judged     int64 `json:"judged"`
	Resolvable int64 `json:"resolvable"` // judged keys an honest JID announced
	Resolved   int64 `json:"resolved"`   // judged keys an honest announcer answered a query for
	Unresolved int64 `json:"unresolved"` // resolvable, never answered honestly: must be 0
	// Duplicates counts honest answers beyond the first for one key:
	// queries for a key already verified. Must be 0.
	Duplicates         int64   `json:"duplicate_queries"`
	UnresolvedExamples []int64 `json:"unresolved_examples,omitempty"`
	DuplicateExamples  []int64 `json:"duplicate_examples,omitempty"`
	// Untracked are honest answers for keys no longer followed (their
	// slot was reused): 0 unless a query came minutes late.
	Untracked int64 `json:"untracked_answers"`
}

// soakQueries are the queries the simulated peers received, by outcome.
type soakQueries struct {
	Total     int64   `json:"total"`
	Honest    int64   `json:"honest"`
	Liars     int64   `json:"liars"`
	Errors    int64   `json:"errors"`
	Silent    int64   `json:"silent"`
	Unknown   int64   `json:"unknown"`
	Expired   int64   `json:"expired"`     // the asker gave up before the answer
	PerNewKey float64 `json:"per_new_key"` // total ÷ keys introduced
}

// soakProbeReport are the sampled Waits: the first announcer of every
// ProbeEvery-th key.
type soakProbeReport struct {
	Waits    int            `json:"waits"`
	Resolved int            `json:"resolved"`
	Gone     int            `json:"gone"` // the JID had logged out before the wait reached it
	Hangs    int            `json:"hangs"`
	FailedBy map[string]int `json:"failed_by"`
	P50Ms    float64        `json:"p50_ms"`
	P99Ms    float64        `json:"p99_ms"`
	MaxMs    float64        `json:"max_ms"`
}

// soakEvents are the events the soak's one subscriber received and lost.
type soakEvents struct {
	Received int64 `json:"received"`
	Dropped  int64 `json:"dropped"`
}

// soakTrend is the least-squares line of one gauge after the warm-up.
type soakTrend struct {
	Name        string  `json:"name"` // rss, live_lookups, goroutines, heap
	From        float64 `json:"from_seconds"`
	Start       float64 `json:"start"` // the line's value at From
	Level       float64 `json:"level"` // mean after warm-up
	SlopePerMin float64 `json:"slope_per_min"`
	Growth      float64 `json:"growth"` // slope × the post-warm-up span
	Limit       float64 `json:"limit"`
	Judged      bool    `json:"judged"`
	OK          bool    `json:"ok"`
}

// soakSample is one reading of the levels; counts are since the start.
type soakSample struct {
	T               float64 `json:"t"`
	Presences       int64   `json:"presences"`
	Keys            int64   `json:"keys"`
	JIDs            int64   `json:"jids"`
	LiveLookups     int64   `json:"live_lookups"`
	QueuedQueries   int64   `json:"queued_queries"`
	QueriesInFlight int64   `json:"queries_in_flight"`
	WaitingJIDs     int64   `json:"waiting_jids"`
	RouterBacklog   int64   `json:"router_backlog"`
	JIDsOnline      int64   `json:"jids_online"`
	Goroutines      int     `json:"goroutines"`
	QueryWorkers    int64   `json:"query_workers"` // of Goroutines: the engine's query workers
	RSS             int64   `json:"rss"`
	Heap            int64   `json:"heap"`
	// Where the RSS goes: HeapLive is the heap the last collection found
	// live, HeapGoal the size the heap may grow to before the next one,
	// GoResident what the Go runtime holds from the OS and has not given
	// back (heap, free spans not yet released, stacks, its metadata), and
	// OutsideGo the RSS beyond it: pebble's block cache and memtables
	// (allocated in C), the C library's own.
	HeapLive   int64             `json:"heap_live"`
	HeapGoal   int64             `json:"heap_goal"`
	GoResident int64             `json:"go_resident"`
	OutsideGo  int64             `json:"outside_go"`
	Queries    int64             `json:"queries"`
	Failures   map[string]uint64 `json:"failures"` // engine counters by cause
	EventDrops int64             `json:"event_drops"`
	Events     int64             `json:"events"`
}

// WriteText prints the soak's human summary.
func (r *SoakReport) WriteText(w io.Writer) {
	st := &r.Settings
	fmt.Fprintf(w, "soak: %.0f s at %s new keys/s asked (%.1f JIDs per key); introduced %s keys (%s/s), %s JIDs (%s/s), %s presences (%s/s, %s unavailable)\n",
		r.Seconds, paceText(st.KeysPerSec), st.JIDsPerKey, count(int(r.Keys.Introduced)), count(int(r.KeysPerSec)),
		count(int(r.JIDs)), count(int(r.JIDsPerSec)), count(int(r.Presences)), count(int(r.PresencesPerSec)), count(int(r.Unavailable)))
	fmt.Fprintf(w, "engine: MaxLookups %s (%.1f× passed), hot cache %s, lookup timeout %.0f ms, query timeout %.0f ms; peers: liars %.3g, errors %.3g, silent %.3g, latency %.2g ms\n",
		count(st.MaxLookups), float64(r.Keys.Introduced)/float64(max(st.MaxLookups, 1)), units.Bytes(st.CacheBytes),
		st.LookupTimeoutMs, st.QueryTimeoutMs, st.Liars, st.Errors, st.Timeouts, st.LatencyMs)
	k, q := &r.Keys, &r.Queries
	fmt.Fprintf(w, "keys: %s judged, %s resolvable, %s resolved, %d unresolved, %d duplicate queries\n",
		count(int(k.Judged)), count(int(k.Resolvable)), count(int(k.Resolved)), k.Unresolved, k.Duplicates)
	fmt.Fprintf(w, "queries: %s (%.3f per new key) = %s honest + %s liars + %s errors + %s silent + %s expired + %s unknown\n",
		count(int(q.Total)), q.PerNewKey, count(int(q.Honest)), count(int(q.Liars)), count(int(q.Errors)),
		count(int(q.Silent)), count(int(q.Expired)), count(int(q.Unknown)))
	fmt.Fprintf(w, "liars caught %d of %d; sampled waits %d: %d resolved, %d gone, %d hangs, p50 %.2f ms, p99 %.2f ms",
		r.Liars.Caught, r.Liars.Answers, r.Probes.Waits, r.Probes.Resolved, r.Probes.Gone, r.Probes.Hangs, r.Probes.P50Ms, r.Probes.P99Ms)
	if len(r.Probes.FailedBy) > 0 {
		fmt.Fprintf(w, ", failed: %s", keyValues(r.Probes.FailedBy))
	}
	fmt.Fprintln(w)
	var fails []string
	for _, name := range soakFailureCounters {
		fails = append(fails, fmt.Sprintf("%s=%d", name, r.Counters[name]))
	}
	fmt.Fprintf(w, "failures by cause (engine counters): %s\n", strings.Join(fails, ", "))
	fmt.Fprintf(w, "events: %s received, %d dropped (engine event_drops %d); store on disk %s\n",
		count(int(r.Events.Received)), r.Events.Dropped, r.Counters["event_drops"], units.Bytes(r.StoreDiskBytes))
	fmt.Fprintf(w, "\ntrends after the warm-up (from %.0f s; judged when ≥ %.0f s follow it):\n", r.WarmupSeconds, soakMinSpan)
	for _, t := range r.Trends {
		verdict := "not judged"
		if t.Judged {
			verdict = mark(t.OK)
		}
		f := func(v float64) string { return fmt.Sprintf("%.4g", v) }
		if soakByteGauges[t.Name] {
			f = func(v float64) string { return units.SignedBytes(int64(v)) }
		}
		fmt.Fprintf(w, "  %-13s level %s, slope %s/min, growth over the run %s (limit %s): %s\n",
			t.Name, strings.TrimPrefix(f(t.Level), "+"), f(t.SlopePerMin), f(t.Growth), strings.TrimPrefix(f(t.Limit), "+"), verdict)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t (s)\tkeys\tJIDs\tonline\tlive lookups\tqueued\tin flight\twaiting JIDs\tgoroutines\tRSS\theap\tqueries/s\tnew keys/s\tfailed\tdrop_lookups\tevent drops\t")
	for i, s := range r.Samples {
		if !showSample(i, len(r.Samples)) {
			continue
		}
		qps, kps := 0.0, 0.0
		if i > 0 {
			p := &r.Samples[i-1]
			if dt := s.T - p.T; dt > 0 {
				qps, kps = float64(s.Queries-p.Queries)/dt, float64(s.Keys-p.Keys)/dt
			}
		}
		fmt.Fprintf(tw, "%.0f\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t\n", s.T, count(int(s.Keys)), count(int(s.JIDs)),
			count(int(s.JIDsOnline)), count(int(s.LiveLookups)), s.QueuedQueries, s.QueriesInFlight, count(int(s.WaitingJIDs)),
			s.Goroutines, units.Bytes(s.RSS), units.Bytes(s.Heap), count(int(qps)), count(int(kps)), s.Failures["failed"], s.Failures["drop_lookups"], s.EventDrops)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if r.OK {
		fmt.Fprintln(w, "guarantees: all held")
		return
	}
	fmt.Fprintln(w, "guarantees BROKEN:")
	for _, v := range r.Violations {
		fmt.Fprintln(w, "  -", v)
	}
}

// showSample keeps about 20 rows of the text table, the last included.
func showSample(i, n int) bool {
	step := max(1, n/20)
	return i%step == 0 || i == n-1
}

// WriteSoakHTMLFile writes r as a self-contained HTML page to path.
func WriteSoakHTMLFile(path string, r *SoakReport) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeSoakHTML(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeSoakHTML writes r as a self-contained HTML page: the verdicts, and
// inline SVG plots over time of the engine's levels, goroutines, memory
// (with the fitted line after the warm-up), queries against new keys,
// failures by cause, and JIDs online with event drops.
func writeSoakHTML(w io.Writer, r *SoakReport) error {
	var text strings.Builder
	r.WriteText(&text)
	charts := []string{
		soakChart(r, "Engine levels", "", []soakSeries{
			{"live lookups", "#1f77b4", func(s *soakSample) float64 { return float64(s.LiveLookups) }},
			{"queued queries", "#ff7f0e", func(s *soakSample) float64 { return float64(s.QueuedQueries) }},
			{"queries in flight", "#2ca02c", func(s *soakSample) float64 { return float64(s.QueriesInFlight) }},
			{"waiting JIDs", "#9467bd", func(s *soakSample) float64 { return float64(s.WaitingJIDs) }},
			{"router backlog", "#8c564b", func(s *soakSample) float64 { return float64(s.RouterBacklog) }},
		}, nil),
		soakChart(r, "Goroutines", "", []soakSeries{
			{"goroutines", "#1f77b4", func(s *soakSample) float64 { return float64(s.Goroutines) }},
			{"query workers", "#ff7f0e", func(s *soakSample) float64 { return float64(s.QueryWorkers) }},
		}, nil),
		soakChart(r, "Memory (MiB)", "MiB", []soakSeries{
			{"RSS", "#1f77b4", func(s *soakSample) float64 { return float64(s.RSS) / (1 << 20) }},
			{"heap", "#2ca02c", func(s *soakSample) float64 { return float64(s.Heap) / (1 << 20) }},
			{"live heap", "#d62728", func(s *soakSample) float64 { return float64(s.HeapLive) / (1 << 20) }},
			{"Go runtime, not released", "#9467bd", func(s *soakSample) float64 { return float64(s.GoResident) / (1 << 20) }},
			{"RSS outside Go", "#8c564b", func(s *soakSample) float64 { return float64(s.OutsideGo) / (1 << 20) }},
		}, r.trend("rss")),
		soakChart(r, "Queries against new keys (per second)", "/s", []soakSeries{
			{"queries/s", "#1f77b4", rate(func(s *soakSample) int64 { return s.Queries })},
			{"new keys/s", "#ff7f0e", rate(func(s *soakSample) int64 { return s.Keys })},
			{"new JIDs/s", "#2ca02c", rate(func(s *soakSample) int64 { return s.JIDs })},
		}, nil),
		soakChart(r, "Failures by cause (engine counters, cumulative)", "", failureSeries(), nil),
		soakChart(r, "JIDs online and events dropped", "", []soakSeries{
			{"JIDs online", "#1f77b4", func(s *soakSample) float64 { return float64(s.JIDsOnline) }},
			{"events dropped", "#d62728", func(s *soakSample) float64 { return float64(s.EventDrops) }},
		}, nil),
	}
	d := struct {
		R      *SoakReport
		Text   string
		Charts []template.HTML
	}{R: r, Text: text.String()}
	for _, c := range charts {
		d.Charts = append(d.Charts, template.HTML(c))
	}
	return soakTemplate.Execute(w, d)
}

func (r *SoakReport) trend(name string) *soakTrend {
	for i := range r.Trends {
		if r.Trends[i].Name == name {
			return &r.Trends[i]
		}
	}
	return nil
}

type soakSeries struct {
	name, colour string
	get          func(*soakSample) float64
}

// rate turns a cumulative count into a per-second rate between samples.
func rate(get func(*soakSample) int64) func(*soakSample) float64 {
	var prev *soakSample
	return func(s *soakSample) float64 {
		defer func() { prev = s }()
		if prev == nil || s.T <= prev.T {
			return 0
		}
		return float64(get(s)-get(prev)) / (s.T - prev.T)
	}
}

func failureSeries() []soakSeries {
	colours := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000"}
	var out []soakSeries
	for i, name := range soakFailureCounters {
		out = append(out, soakSeries{name, colours[i%len(colours)], func(s *soakSample) float64 { return float64(s.Failures[name]) }})
	}
	return out
}

// soakChart plots series over the soak's time; fit, when set, adds its
// line after the warm-up (in MiB: only the RSS trend is drawn).
func soakChart(r *SoakReport, title, unit string, ss []soakSeries, fit *soakTrend) string {
	var out []series
	xmax, ymax := 1.0, 0.0
	for _, sr := range ss {
		s := series{name: sr.name, colour: sr.colour}
		for i := range r.Samples {
			p := point{r.Samples[i].T, sr.get(&r.Samples[i])}
			s.pts = append(s.pts, p)
			xmax, ymax = math.Max(xmax, p.x), math.Max(ymax, p.y)
		}
		out = append(out, s)
	}
	if fit != nil && len(r.Samples) > 1 {
		end := r.Samples[len(r.Samples)-1].T
		slope := fit.SlopePerMin / 60
		out = append(out, series{name: "RSS fit after warm-up", colour: "#d62728", dashed: true, pts: []point{
			{fit.From, fit.Start / (1 << 20)}, {end, (fit.Start + slope*(end-fit.From)) / (1 << 20)}}})
	}
	if ymax == 0 {
		ymax = 1
	}
	yt := niceTicks(0, ymax*1.05, 5)
	xt := niceTicks(0, xmax, 8)
	c := &chart{title: title, xlabel: "seconds since the soak started", ylabel: unit, w: 960, h: 260,
		x0: 0, x1: xt[len(xt)-1], y0: 0, y1: yt[len(yt)-1], yfmt: si, xfmt: tickFormat(xt)}
	return c.draw(out, xt, yt)
}

var soakTemplate = template.Must(template.New("soak").Funcs(template.FuncMap{
	"f1":  func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"now": func() string { return time.Now().UTC().Format(time.RFC3339) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>capsengine bench --soak</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:3px}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}
.ok{color:#1a7f37;font-weight:600}.missed{color:#cf222e;font-weight:600}
.note{color:#666;font-size:12px}svg{display:block;margin:8px 0}
</style>
</head>
<body>
<h1>capsengine bench --soak</h1>
<p class="note">{{with .R.Command}}<code>{{.}}</code> · {{end}}{{.R.Machine.Go}} {{.R.Machine.OS}}/{{.R.Machine.Arch}}, {{.R.Machine.CPUs}} CPUs · {{now}} · {{f1 .R.Seconds}} s</p>
<h2>Verdict</h2>
{{if .R.OK}}<p class="ok">Every guarantee held.</p>{{else}}<ul>{{range .R.Violations}}<li class="missed">{{.}}</li>{{end}}</ul>{{end}}
<h2>Over time</h2>
{{range .Charts}}{{.}}
{{end}}
<p class="note">The warm-up is the first {{f1 .R.WarmupSeconds}} s; the memory rule fits a least-squares line to the samples after it (bench/README.md, "Soak").</p>
<h2>Summary</h2>
<pre>{{.Text}}</pre>
</body>
</html>
`))
