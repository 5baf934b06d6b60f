package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

func smallOptions(t *testing.T) Options {
	o := DefaultOptions()
	o.Spec = Spec{Seed: 11, Presences: 6000, JIDs: 2500, Unique: 200, Zipf: 1.1,
		Unavailable: 0.05, MUC: 0.1, Forms: 0.3, Caps2: 0.2}
	o.Peers = PeerSpec{Seed: 11, Liars: 0.03, Errors: 0.02, Timeouts: 0.005, Latency: time.Millisecond, Jitter: 0.5}
	o.QueryTimeout = 300 * time.Millisecond
	o.TmpDir = t.TempDir()
	o.Baseline, o.Restart = true, true
	return o
}

func TestRun(t *testing.T) {
	o := smallOptions(t)
	// One feeder keeps every JID's presences in order, so that both
	// systems must end with the same JIDs online: with several, a feeder
	// that stalls past the workload's reuse gap reorders a JID's
	// presences, differently for each system.
	o.Workers = 1
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Engine
	if got := len(e.Phases); got != 3 {
		t.Fatalf("engine phases: %d", got)
	}
	if !e.QueriesEqualUniqueKeys {
		t.Errorf("queries %d = verified %d + failed %d; resolvable %d, resolved %d, duplicates %d",
			e.Queries, e.VerifiedQueries, e.FailedQueries, e.ResolvableKeys, e.ResolvedKeys, e.DuplicateQueries)
	}
	if e.Liars.Answers == 0 || !e.Liars.AllCaught {
		t.Errorf("liars: %+v", e.Liars)
	}
	if e.Hangs != 0 {
		t.Errorf("hangs: %d", e.Hangs)
	}
	// After the restart, every verified key comes back from the store.
	if n := e.Phases[2].Counters["resolved"]; n != 0 {
		t.Errorf("restart pass resolved %d keys again", n)
	}
	if e.StoreDiskBytes == 0 || e.JIDs == 0 || e.BytesPerJID <= 0 || e.PeakRSSBytes <= 0 {
		t.Errorf("store %d, JIDs %d, B/JID %.0f, RSS %d", e.StoreDiskBytes, e.JIDs, e.BytesPerJID, e.PeakRSSBytes)
	}
	// Every store read the hot cache missed ended in a store, found or
	// not; the cold pass's first sight of each key is one of them.
	// The key filter answers most misses of the user store, the only
	// store here, and nothing else.
	if r := e.StoreReads; r == nil || r.CacheMisses != r.TrustedHits+r.UserHits+r.Misses || r.Misses == 0 ||
		r.Filtered == 0 || r.Filtered > r.Misses || rep.Baseline.StoreReads != nil {
		t.Errorf("store reads: %+v", r)
	}
	if e.ResolveLatency.Count == 0 || e.ResolveLatency.P50Ms <= 0 {
		t.Errorf("resolve latency: %+v", e.ResolveLatency)
	}
	// Every resolvable key is timed by its KeyVerified (none lost), and
	// by the Wait of its first JID.
	if l, wl := e.ResolveLatency, e.WaitLatency; e.EventsLost != 0 || l.Count+l.Failed != wl.Count+wl.Failed+wl.Hangs ||
		wl.Count == 0 {
		t.Errorf("key verified %+v (events lost %d), Wait returned %+v", l, e.EventsLost, wl)
	}
	b := rep.Baseline
	if b == nil || len(b.Phases) != 2 || rep.Ratios["warm"] <= 0 || rep.CPURatios["cold"] <= 0 {
		t.Fatalf("baseline %+v, ratios %v %v", b, rep.Ratios, rep.CPURatios)
	}
	if !b.Liars.AllCaught || b.DuplicateQueries != 0 {
		t.Errorf("baseline liars %+v, duplicates %d", b.Liars, b.DuplicateQueries)
	}
	// The same stream went through both: the same JIDs end up online.
	if b.JIDs != e.JIDs {
		t.Errorf("JIDs: engine %d, baseline %d", e.JIDs, b.JIDs)
	}

	// The JSON round-trips.
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"machine", "workload", "settings", "engine", "baseline", "ratios", "cpu_ratios", "targets", "total_seconds"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}

	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"cold", "warm", "restart", "liars caught", "targets:"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}

	var page bytes.Buffer
	if err := writeHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	checkHTMLReport(t, page.Bytes(), 2+len(e.Phases))
}

// Past maxWaitProbes keys the cold pass waits for a sample of them: every
// probeEvery-th key by index, while every key still feeds resolve_latency.
func TestRunSamplesWaits(t *testing.T) {
	o := smallOptions(t)
	o.Workers = 1
	o.Baseline = false
	defer func(n int) { maxWaitProbes = n }(maxWaitProbes)
	maxWaitProbes = 7
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Engine
	keys := e.UniqueKeys
	every := probeEvery(keys)
	if every < 2 {
		t.Fatalf("%d keys, %d probes at most: stride %d", keys, maxWaitProbes, every)
	}
	want := (keys + every - 1) / every // indexes 0, every, 2·every, …
	if wl := e.WaitLatency; wl.Count+wl.Failed+wl.Hangs != want {
		t.Errorf("%d Waits (%+v), want %d: one per %d keys of %d", wl.Count+wl.Failed+wl.Hangs, wl, want, every, keys)
	}
	if l := e.ResolveLatency; l.Count+l.Failed != keys {
		t.Errorf("resolve latency over %d keys, want all %d: %+v", l.Count+l.Failed, keys, l)
	}
	if !e.QueriesEqualUniqueKeys || e.Hangs != 0 {
		t.Errorf("guarantees: queries = keys %v, hangs %d", e.QueriesEqualUniqueKeys, e.Hangs)
	}
}

// checkHTMLReport fails t unless page is a well-formed, self-contained
// HTML document with plots SVG plots: the phases' throughput, one per
// phase, the resolve latency and the per-phase comparison.
func checkHTMLReport(t testing.TB, page []byte, plots int) {
	t.Helper()
	// Every start tag is closed, in order (void elements aside).
	void := map[string]bool{"meta": true, "br": true, "img": true, "link": true, "hr": true, "input": true}
	z := html.NewTokenizer(bytes.NewReader(page))
	var stack []string
	inSVG := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if !errors.Is(z.Err(), io.EOF) {
				t.Fatalf("tokenizer: %v", z.Err())
			}
			break
		}
		name, hasAttr := z.TagName()
		tag := string(name)
		for hasAttr {
			var k, v []byte
			k, v, hasAttr = z.TagAttr()
			if (string(k) == "src" || string(k) == "href") && (bytes.HasPrefix(v, []byte("http")) || bytes.HasPrefix(v, []byte("//"))) {
				t.Errorf("<%s %s=%q>: the page must not load anything", tag, k, v)
			}
		}
		switch tt {
		case html.StartTagToken:
			if tag == "script" {
				t.Error("the page has a script")
			}
			if tag == "svg" {
				inSVG++
			}
			if !void[tag] {
				stack = append(stack, tag)
			}
		case html.EndTagToken:
			if len(stack) == 0 || stack[len(stack)-1] != tag {
				t.Fatalf("</%s> closes %v", tag, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements: %v", stack)
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if doc.FirstChild == nil {
		t.Fatal("empty document")
	}
	// Each plot is well-formed SVG (XML) with something drawn.
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAll(page, -1)
	if len(svgs) != plots || inSVG != plots {
		t.Fatalf("%d SVG plots (%d svg tags), want %d", len(svgs), inSVG, plots)
	}
	for i, s := range svgs {
		d := xml.NewDecoder(bytes.NewReader(s))
		shapes := 0
		for {
			tok, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("SVG %d: %v", i, err)
			}
			if se, ok := tok.(xml.StartElement); ok && (se.Name.Local == "polyline" || se.Name.Local == "rect") {
				shapes++
			}
		}
		if shapes < 2 {
			t.Errorf("SVG %d draws %d shapes", i, shapes)
		}
	}
}

// TestRunTrustedSeed: with the most popular documents in a trusted seed,
// the engine resolves every key with one query per key the seed lacks,
// and none for the seeded ones.
func TestRunTrustedSeed(t *testing.T) {
	base := smallOptions(t)
	base.Baseline, base.Restart = false, false
	without, err := Run(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	o := base
	o.TmpDir = t.TempDir()
	o.SeedTrusted = 40
	with, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	e := with.Engine
	if e.SeededKeys < 20 || !e.QueriesEqualUniqueKeys || !with.Targets.Correct() {
		t.Fatalf("seeded %d keys; one query per key: %v", e.SeededKeys, e.QueriesEqualUniqueKeys)
	}
	if e.ResolvedKeys < e.ResolvableKeys {
		t.Errorf("resolved %d of %d", e.ResolvedKeys, e.ResolvableKeys)
	}
	if saved := without.Engine.VerifiedQueries - e.VerifiedQueries; saved < int64(e.SeededKeys)/2 {
		t.Errorf("the seed of %d keys saved %d verified queries (%d → %d)", e.SeededKeys, saved,
			without.Engine.VerifiedQueries, e.VerifiedQueries)
	}
	if _, err := Run(context.Background(), Options{SeedTrusted: 5, InMemory: true, Spec: base.Spec, Peers: base.Peers}); err == nil {
		t.Error("a seed with an in-memory store: no error")
	}
}

// The cluster's extra cold-pass CPU and goroutines are charged to its
// cross-node lookups.
func TestCrossNodeCharges(t *testing.T) {
	single := &clusterSide{Phases: []clusterPhase{{Name: "cold", CPUSeconds: 4, GoroutinesStarted: 1000}}}
	cluster := &clusterSide{
		Phases:   []clusterPhase{{Name: "cold", CPUSeconds: 6, GoroutinesStarted: 41000}},
		Counters: map[string]uint64{"cluster_requests": 3000, "cluster_remote_resolves": 2000},
	}
	r := crossNode(single, cluster)
	if r.Lookups != 2000 || r.CPUMicrosPerLookup != 1000 || r.GoroutinesPerLookup != 20 {
		t.Errorf("crossNode = %d lookups, %v µs and %v goroutines each; want 2000, 1000, 20", r.Lookups, r.CPUMicrosPerLookup, r.GoroutinesPerLookup)
	}
}
