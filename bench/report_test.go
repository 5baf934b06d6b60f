package bench

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// syntheticReport is a report as an engine-only run makes it, without
// running anything: a cold pass of 3 s and a warm pass of 4 ms (one
// throughput sample).
func syntheticReport() *Report {
	cold := phaseReport{Name: "cold", Presences: 30000, Seconds: 3, PresencesPerSec: 10000, PresencesPerCPUSec: 8000,
		Counters: map[string]uint64{"queries": 120, "drop_announce": 7, "cluster_requests": 0, "cluster_entries": 0}}
	for i := 1; i <= 30; i++ {
		cold.Throughput = append(cold.Throughput, sample{T: float64(i) / 10, PPS: 10000})
	}
	warm := phaseReport{Name: "warm", Presences: 30000, Seconds: 0.004, PresencesPerSec: 7.5e6, PresencesPerCPUSec: 5e6,
		Counters:   map[string]uint64{"queries": 0, "drop_announce": 0, "cluster_requests": 0, "cluster_entries": 0},
		Throughput: []sample{{T: 0.004, PPS: 7.5e6}}}
	e := &systemReport{Name: "engine", Phases: []phaseReport{cold, warm},
		Counters:       map[string]uint64{"queries": 120, "drop_announce": 7, "cluster_requests": 0, "cluster_entries": 0},
		ResolveLatency: latency{Count: 10, Failed: 3, FailedBy: map[string]int{"announcers_failed": 2, "lookup_timeout": 1}, P50Ms: 1, CDF: []cdfPoint{{Ms: 0.1, Share: 0.2}, {Ms: 1, Share: 1}}}}
	return &Report{Version: 1, Engine: e, Ratios: map[string]float64{}, CPURatios: map[string]float64{},
		Workload: workloadReport{Source: "generated", meta: meta{Presences: 30000}}}
}

// The summary is for people: a map never shows up as Go prints it.
func TestWriteTextNoGoMaps(t *testing.T) {
	var b bytes.Buffer
	syntheticReport().WriteText(&b)
	out := b.String()
	if strings.Contains(out, "map[") {
		t.Errorf("a raw Go map in the summary:\n%s", out)
	}
	if want := "failed first lookups by cause: announcers_failed=2, lookup_timeout=1"; !strings.Contains(out, want) {
		t.Errorf("summary lacks %q:\n%s", want, out)
	}
}

func TestHTMLEngineOnly(t *testing.T) {
	var b bytes.Buffer
	if err := writeHTML(&b, syntheticReport()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	checkHTMLReport(t, b.Bytes(), 4)
	if strings.Contains(strings.ToLower(page), "vs baseline") {
		t.Error("a chart is titled engine vs baseline, but no baseline ran")
	}
	// Cluster counters that stayed 0 mean nothing outside a cluster run.
	if strings.Contains(page, "cluster_requests") || strings.Contains(page, "cluster_entries") {
		t.Error("all-zero cluster counters tabulated in a single-process run")
	}
	if !strings.Contains(page, "drop_announce") {
		t.Error("the engine's own counters are missing")
	}
}

// In a cluster run the cluster counters are shown even when 0: that they
// stayed 0 is then news.
func TestHTMLClusterCounters(t *testing.T) {
	r := syntheticReport()
	r.Settings.Cluster = true
	var b bytes.Buffer
	if err := writeHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "cluster_requests") {
		t.Error("cluster counters hidden in a cluster run")
	}
}

// A phase of 4 ms gets its own plot with distinct axis labels, and its
// one sample is drawn across the plot rather than as a point.
func TestHTMLShortPhase(t *testing.T) {
	svg := throughputChart(syntheticReport(), "warm")
	labels := regexp.MustCompile(`text-anchor="middle">([^<]*)</text>`).FindAllStringSubmatch(svg, -1)
	seen := map[string]bool{}
	var ticks []string
	for _, l := range labels {
		if _, err := strconv.ParseFloat(l[1], 64); err != nil {
			continue // the axis title
		}
		if seen[l[1]] {
			t.Errorf("x tick %q printed twice: %v", l[1], ticks)
		}
		seen[l[1]] = true
		ticks = append(ticks, l[1])
	}
	if len(ticks) < 3 {
		t.Errorf("x ticks %v", ticks)
	}
	if !strings.Contains(svg, "ms since the phase started") {
		t.Error("a phase of 4 ms is not plotted in ms")
	}
	m := regexp.MustCompile(`<polyline points="([^"]*)"`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatal("nothing drawn")
	}
	var xs []float64
	for _, p := range strings.Fields(m[1]) {
		x, _, _ := strings.Cut(p, ",")
		f, _ := strconv.ParseFloat(x, 64)
		xs = append(xs, f)
	}
	if width := xs[len(xs)-1] - xs[0]; width < 300 {
		t.Errorf("the 4 ms phase is %.0f px wide (points %s)", width, m[1])
	}
}

// The progress output's last line for a phase gives the figures of the
// summary: the same presences, the same rate.
func TestProgressMatchesSummary(t *testing.T) {
	o := smallOptions(t)
	o.Baseline, o.Restart = false, false
	var prog bytes.Buffer
	o.Progress = NewLineProgress(&prog, time.Hour)
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var sum bytes.Buffer
	rep.WriteText(&sum)
	for _, p := range rep.Engine.Phases {
		want := "engine " + p.Name + ": done, " + count(p.Presences) + " presences in " +
			strconv.FormatFloat(p.Seconds, 'f', 2, 64) + " s (" + count(int(p.PresencesPerSec)) + "/s)"
		if !strings.Contains(prog.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, prog.String())
		}
		row := regexp.MustCompile(`(?m)^\s*` + p.Name + `\s+(\S+)`).FindStringSubmatch(sum.String())
		if row == nil || row[1] != count(int(p.PresencesPerSec)) {
			t.Errorf("summary row for %s: %q, progress says %s/s", p.Name, row, count(int(p.PresencesPerSec)))
		}
	}
}

// A second honest answer for a key is a broken guarantee unless the
// engine asked for it as a hedge and counted it so.
func TestSettleHedgedDuplicates(t *testing.T) {
	for _, tc := range []struct {
		engineDuplicates uint64
		dups, hedged     int64
		ok               bool
	}{
		{engineDuplicates: 1, dups: 0, hedged: 1, ok: true},
		{engineDuplicates: 0, dups: 1, hedged: 0, ok: false},
		{engineDuplicates: 5, dups: 0, hedged: 1, ok: true}, // the engine's count also holds late answers of cancelled queries
	} {
		p := newPeers(PeerSpec{}, nil)
		p.perNode = make([]atomic.Int32, 2)
		p.perNode[0].Store(2) // asked twice, answered honestly twice
		p.perNode[1].Store(1)
		p.Queries.Store(3)
		p.HonestAnswers.Store(3)
		rep := &systemReport{ResolvableKeys: 2, ResolvedKeys: 2}
		rep.settle(p, map[string]uint64{"duplicate_answers": tc.engineDuplicates})
		if rep.DuplicateQueries != tc.dups || rep.HedgedQueries != tc.hedged || rep.QueriesEqualUniqueKeys != tc.ok {
			t.Errorf("engine duplicates %d: duplicate %d, hedged %d, one query per key %v; want %d, %d, %v",
				tc.engineDuplicates, rep.DuplicateQueries, rep.HedgedQueries, rep.QueriesEqualUniqueKeys, tc.dups, tc.hedged, tc.ok)
		}
	}
}
