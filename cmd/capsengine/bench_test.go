package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/capsengine/capsengine/bench"
)

// benchReport is the part of "capsengine bench --json" the tests read.
type benchReport struct {
	Workload struct {
		Presences  int `json:"presences"`
		UniqueKeys int `json:"unique_keys"`
		Resolvable int `json:"resolvable_keys"`
		LiarJIDs   int `json:"liar_jids"`
	} `json:"workload"`
	Engine   *benchSystem       `json:"engine"`
	Baseline *benchSystem       `json:"baseline"`
	Ratios   map[string]float64 `json:"ratios"`
	Targets  struct {
		QueriesEqualUniqueKeys bool `json:"queries_equal_unique_keys"`
		AllLiarsCaught         bool `json:"all_liars_caught"`
		NoHangs                bool `json:"no_hangs"`
	} `json:"targets"`
}

type benchSystem struct {
	Phases []struct {
		Name            string  `json:"name"`
		Seconds         float64 `json:"seconds"`
		PresencesPerSec float64 `json:"presences_per_sec"`
		Queries         int64   `json:"queries"`
	} `json:"phases"`
	Queries                int64 `json:"queries"`
	VerifiedQueries        int64 `json:"verified_queries"`
	FailedQueries          int64 `json:"failed_queries"`
	DuplicateQueries       int64 `json:"duplicate_queries"`
	HedgedQueries          int64 `json:"hedged_queries"`
	UniqueKeys             int   `json:"unique_keys"`
	ResolvedKeys           int   `json:"resolved_keys"`
	QueriesEqualUniqueKeys bool  `json:"queries_equal_unique_keys"`
	Liars                  struct {
		Answers   int64 `json:"answers"`
		Caught    int64 `json:"caught"`
		AllCaught bool  `json:"all_caught"`
	} `json:"liars"`
	Hangs          int   `json:"hangs"`
	PeakRSSBytes   int64 `json:"peak_rss_bytes"`
	StoreDiskBytes int64 `json:"store_disk_bytes"`
}

func benchJSON(t *testing.T, args ...string) benchReport {
	t.Helper()
	args = append([]string{"bench", "--json", "--quiet", "--tmpdir", t.TempDir()}, args...)
	code, out, errOut := runCmd(t, "", args...)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, errOut, out)
	}
	var r benchReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	return r
}

// small keeps -race runs short: 20,000 presences, as issue 5 asks, over
// fewer JIDs and keys than the default so each key has several announcers.
var small = []string{"--presences", "20000", "--jids", "8000", "--unique", "400", "--query-timeout", "1s"}

func TestBenchJSON(t *testing.T) {
	r := benchJSON(t, append(small, "--liars", "0.03", "--restart", "--baseline")...)
	e := r.Engine
	if r.Workload.Presences != 20000 || e == nil || len(e.Phases) != 3 {
		t.Fatalf("workload %+v, engine %+v", r.Workload, e)
	}
	if !e.QueriesEqualUniqueKeys || !r.Targets.QueriesEqualUniqueKeys {
		t.Errorf("queries %d = %d verified + %d failed, resolvable %d, resolved %d, duplicates %d",
			e.Queries, e.VerifiedQueries, e.FailedQueries, r.Workload.Resolvable, e.ResolvedKeys, e.DuplicateQueries)
	}
	// Hedges (a second announcer asked while a slow one is still out) are
	// the engine's choice and counted by it; every other extra is a defect.
	if e.VerifiedQueries-e.HedgedQueries != int64(r.Workload.Resolvable) || e.DuplicateQueries != 0 {
		t.Errorf("verified queries %d (%d hedged), resolvable keys %d, duplicates %d", e.VerifiedQueries, e.HedgedQueries, r.Workload.Resolvable, e.DuplicateQueries)
	}
	if r.Workload.LiarJIDs == 0 || e.Liars.Answers == 0 {
		t.Fatalf("no liar answered (%d liar JIDs): the run proves nothing", r.Workload.LiarJIDs)
	}
	if !e.Liars.AllCaught || e.Liars.Caught != e.Liars.Answers || !r.Targets.AllLiarsCaught {
		t.Errorf("liars caught %d of %d", e.Liars.Caught, e.Liars.Answers)
	}
	if e.Hangs != 0 || !r.Targets.NoHangs {
		t.Errorf("hangs: %d", e.Hangs)
	}
	if e.PeakRSSBytes <= 0 || e.StoreDiskBytes <= 0 {
		t.Errorf("peak RSS %d, store %d", e.PeakRSSBytes, e.StoreDiskBytes)
	}
	if r.Baseline == nil || r.Ratios["cold"] <= 0 || r.Ratios["warm"] <= 0 {
		t.Errorf("baseline %v, ratios %v", r.Baseline != nil, r.Ratios)
	}
}

// Without liars, errors or timeouts the engine sends exactly one query
// per unique key.
func TestBenchQueriesEqualUniqueKeys(t *testing.T) {
	r := benchJSON(t, append(small, "--liars", "0", "--errors", "0", "--timeouts", "0")...)
	// Hedges are the engine's own, counted second queries to honest peers
	// slower than the hedge delay (it happens under -race on a loaded
	// machine); a duplicate is a key queried twice otherwise.
	if e := r.Engine; e.Queries-e.HedgedQueries != int64(r.Workload.UniqueKeys) || e.DuplicateQueries != 0 {
		t.Errorf("queries %d (%d hedged, %d duplicates), unique keys %d", e.Queries, e.HedgedQueries, e.DuplicateQueries, r.Workload.UniqueKeys)
	}
	if r.Engine.ResolvedKeys != r.Workload.UniqueKeys {
		t.Errorf("resolved %d of %d keys", r.Engine.ResolvedKeys, r.Workload.UniqueKeys)
	}
}

func TestBenchReportHTML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.html")
	code, out, errOut := runCmd(t, "", "bench", "--quiet", "--tmpdir", t.TempDir(), "--presences", "3000",
		"--jids", "1500", "--unique", "100", "--baseline", "--report", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "targets:") {
		t.Errorf("summary: %s", out)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) || !bytes.Contains(page, []byte("</html>")) {
		t.Fatal("not an HTML document")
	}
	if bytes.Contains(page, []byte("<script")) || regexp.MustCompile(`(src|href)="(https?:)?//`).Match(page) {
		t.Error("the page loads something")
	}
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAll(page, -1)
	// The comparison, the resolve latency, and one throughput plot for
	// each of the cold and warm passes.
	if len(svgs) != 4 {
		t.Fatalf("%d SVG plots, want 4", len(svgs))
	}
	for i, s := range svgs {
		d := xml.NewDecoder(bytes.NewReader(s))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("SVG %d is not well-formed: %v", i, err)
			}
		}
	}
}

// A stream written with --gen and read back with --input gives the same
// workload.
func TestBenchGenInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stream.xml")
	code, _, errOut := runCmd(t, "", "bench", "--gen", path, "--presences", "3000", "--jids", "1500", "--unique", "100")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, p := range []string{path, path + ".disco"} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", p, err)
		}
	}
	gen := benchJSON(t, "--presences", "3000", "--jids", "1500", "--unique", "100", "--in-memory")
	in := benchJSON(t, "--input", path, "--in-memory")
	if gen.Workload != in.Workload {
		t.Errorf("generated %+v, read back %+v", gen.Workload, in.Workload)
	}
	if !in.Engine.QueriesEqualUniqueKeys {
		t.Errorf("from --input: %+v", in.Engine)
	}
}

// TestBenchCPUProfilePhase: --cpuprofile-phase warm profiles the warm
// pass alone, which is far shorter than the cold one.
func TestBenchCPUProfilePhase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warm.prof")
	r := benchJSON(t, append(small, "--in-memory", "--cpuprofile", path, "--cpuprofile-phase", "warm")...)
	secs := map[string]float64{}
	for _, p := range r.Engine.Phases {
		secs[p.Name] = p.Seconds
	}
	took := profileDuration(t, path).Seconds()
	// Profiled over both passes, the profile would last cold + warm.
	if took <= 0 || took > secs["warm"]+secs["cold"]/2 {
		t.Errorf("the warm-only profile lasted %.3f s; the passes took cold %.3f s, warm %.3f s", took, secs["cold"], secs["warm"])
	}
}

// profileDuration reads the duration_nanos field (10) of a gzipped pprof
// profile.
func profileDuration(t *testing.T, path string) time.Duration {
	t.Helper()
	gz, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("%s: %v", path, protowire.ParseError(n))
		}
		b = b[n:]
		if num == 10 && typ == protowire.VarintType {
			v, _ := protowire.ConsumeVarint(b)
			return time.Duration(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			t.Fatalf("%s: %v", path, protowire.ParseError(n))
		}
		b = b[n:]
	}
	t.Fatalf("%s: no duration", path)
	return 0
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--gen", "a", "--input", "b"},
		{"bench", "--no-such-flag"},
		{"bench", "extra-arg"},
		{"bench", "--cpuprofile", "p", "--cpuprofile-phase", "restart"},
		{"bench", "--cpuprofile-phase", "warm"},
		{"bench", "--cpuprofile", "p", "--cpuprofile-phase", "warm", "--cluster", "2"},
	} {
		if code, _, _ := runCmd(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, errOut := runCmd(t, "", "bench", "--quiet", "--presences", "0"); code == 0 {
		t.Errorf("--presences 0: exit 0 (%s)", errOut)
	}
}

// Every key of the JSON report, at any depth, is snake_case: the
// workload's spec and the counters included.
func TestBenchJSONKeysSnakeCase(t *testing.T) {
	args := append([]string{"bench", "--json", "--quiet", "--tmpdir", t.TempDir(), "--restart", "--baseline"}, small...)
	code, out, errOut := runCmd(t, "", args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z0-9_]+$`)
	n := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				n++
				if !snake.MatchString(k) {
					t.Errorf("key %s.%s is not snake_case", path, k)
				}
				walk(path+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		}
	}
	walk("", v)
	if n < 100 {
		t.Errorf("only %d keys walked", n)
	}
}

// --check turns a missed target into exit status 1, with one line naming
// it; met targets exit 0.
func TestBenchCheck(t *testing.T) {
	base := []string{"bench", "--quiet", "--tmpdir", t.TempDir(), "--presences", "3000", "--jids", "1500", "--unique", "100", "--check"}
	code, _, errOut := runCmd(t, "", append(base, "--target-warm", "1e9", "--target-cold", "1e-9")...)
	if code != 1 {
		t.Errorf("unreachable warm target: exit %d, want 1", code)
	}
	if !strings.Contains(errOut, "missed target: warm: the engine did") || !strings.Contains(errOut, "target ≥ 1e+09×") {
		t.Errorf("stderr does not name the missed target:\n%s", errOut)
	}
	if strings.Contains(errOut, "missed target: cold") {
		t.Errorf("a met target is reported missed:\n%s", errOut)
	}
	// Targets any run meets, even under the race detector.
	code, out, errOut := runCmd(t, "", append(base, "--target-warm", "1e-9", "--target-cold", "1e-9")...)
	if code != 0 || strings.Contains(errOut, "missed") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
	if !strings.Contains(out, "ratio") || !strings.Contains(out, "warm ≥1e-09× ok") {
		t.Errorf("--check ran no baseline:\n%s", out)
	}
	if code, _, _ := runCmd(t, "", "bench", "--cluster", "2", "--check"); code != 2 {
		t.Errorf("--cluster with --check: exit %d, want 2", code)
	}
}

// A short soak with small tuning reports its samples and keeps every
// guarantee on the current engine.
func TestBenchSoak(t *testing.T) {
	code, out, errOut := runCmd(t, "", "bench", "--soak", "3s", "--json", "--quiet", "--tmpdir", t.TempDir(),
		"--soak-keys-per-sec", "500", "--soak-jid-life", "1s", "--max-lookups", "5000", "--lookup-idle", "200ms",
		"--lookup-timeout", "3s", "--query-timeout", "250ms")
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, errOut, out)
	}
	var r struct {
		OK      bool `json:"ok"`
		Samples []struct {
			T          float64 `json:"t"`
			Keys       int64   `json:"keys"`
			RSS        int64   `json:"rss"`
			Goroutines int     `json:"goroutines"`
			HeapLive   int64   `json:"heap_live"`
			GoResident int64   `json:"go_resident"`
			OutsideGo  int64   `json:"outside_go"`
		} `json:"samples"`
		Keys struct {
			Introduced int64 `json:"introduced"`
			Judged     int64 `json:"judged"`
			Resolvable int64 `json:"resolvable"`
			Resolved   int64 `json:"resolved"`
		} `json:"keys"`
		Presences   int64 `json:"presences"`
		Unavailable int64 `json:"unavailable"`
		Trends      []struct {
			Name string `json:"name"`
		} `json:"trends"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if !r.OK || len(r.Samples) < 2 || len(r.Trends) == 0 {
		t.Fatalf("ok %v, %d samples, trends %v", r.OK, len(r.Samples), r.Trends)
	}
	last := r.Samples[len(r.Samples)-1]
	if last.Keys < 500 || last.RSS <= 0 || last.Goroutines <= 0 {
		t.Errorf("last sample %+v", last)
	}
	// Where the RSS goes: the live heap within what Go holds, the rest
	// outside it.
	if last.HeapLive <= 0 || last.GoResident < last.HeapLive || last.OutsideGo < 0 ||
		(last.OutsideGo > 0 && last.GoResident+last.OutsideGo != last.RSS) {
		t.Errorf("memory breakdown of the last sample: %+v", last)
	}
	if r.Keys.Judged != r.Keys.Introduced || r.Keys.Resolvable == 0 || r.Keys.Resolved < r.Keys.Resolvable || r.Unavailable == 0 {
		t.Errorf("keys %+v, %d presences (%d unavailable)", r.Keys, r.Presences, r.Unavailable)
	}
	if code, _, _ := runCmd(t, "", "bench", "--soak", "1s", "--baseline"); code != 2 {
		t.Errorf("--soak with --baseline: exit %d, want 2", code)
	}
}

// TestBenchSweep runs a small sweep through the real command: each size in
// a child process of its own, the workload scaled, the HTML report written.
func TestBenchSweep(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "sweep.html")
	code, out, errOut := runCmd(t, "", "bench", "--sweep", "10k,20k", "--json", "--quiet", "--in-memory",
		"--query-timeout", "1s", "--latency", "200us", "--report", report)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	var r bench.SweepReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(r.Points) != 2 || !r.Correct {
		t.Fatalf("got %+v", r)
	}
	for i, want := range []struct{ presences, jids, keys int }{{10_000, 5_000, 100}, {20_000, 10_000, 100}} {
		p := r.Points[i]
		if p.Presences != want.presences || p.JIDs != want.jids || p.Unique != want.keys {
			t.Errorf("point %d: %d presences, %d JIDs, %d keys; want %+v", i, p.Presences, p.JIDs, p.Unique, want)
		}
		if p.WarmPerSec <= 0 || p.ColdPerSec <= 0 || p.PeakRSSBytes <= 0 || p.BytesPerJID <= 0 || p.ColdKeyP50Ms <= 0 {
			t.Errorf("point %d lacks figures: %+v", i, p)
		}
	}
	if html, err := os.ReadFile(report); err != nil || !strings.Contains(string(html), "<svg") {
		t.Errorf("report: %v", err)
	}
	for _, bad := range [][]string{
		{"bench", "--sweep", "2M"},
		{"bench", "--sweep", "1M,2M", "--presences", "5"},
		{"bench", "--sweep", "1M,2M", "--baseline"},
		{"bench", "--sweep", "1M,2M", "--cluster", "2"},
	} {
		if code, _, errOut := runCmd(t, "", bad...); code != 2 {
			t.Errorf("%q: exit %d, want 2: %s", bad, code, errOut)
		}
	}
}
