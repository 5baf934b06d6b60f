package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseSizes(t *testing.T) {
	got, err := ParseSizes("1M, 2M,5m,10M")
	if err != nil || !slices.Equal(got, []int{1_000_000, 2_000_000, 5_000_000, 10_000_000}) {
		t.Errorf("got %v, %v", got, err)
	}
	if got, err := ParseSizes("500k,1.5M,3000000"); err != nil || !slices.Equal(got, []int{500_000, 1_500_000, 3_000_000}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "1M", "2M,1M", "1M,1M", "x,2M", "-1,2", "1M,2000M", "1M,"} {
		if _, err := ParseSizes(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestScaledSpec(t *testing.T) {
	base := defaultSpec()
	base.Zipf = 0.5 // not a size: kept
	s := ScaledSpec(base, 10_000_000)
	if s.Presences != 10_000_000 || s.JIDs != 5_000_000 || s.Unique != 50_000 || s.Zipf != 0.5 {
		t.Errorf("10M: %+v", s)
	}
	if s := ScaledSpec(base, 1000); s.Unique != 100 || s.JIDs != 500 {
		t.Errorf("1k: %+v (at least 100 keys)", s)
	}
}

// TestSweep runs a sweep on canned reports: the points carry each run's
// figures, the table compares with the default size, and one broken run
// makes the sweep incorrect.
func TestSweep(t *testing.T) {
	var specs []Spec
	run := func(_ context.Context, spec Spec) (*Report, error) {
		specs = append(specs, spec)
		k := float64(len(specs))
		rep := &Report{Engine: &systemReport{
			Phases: []phaseReport{
				{Name: "cold", PresencesPerSec: 100_000 * k, PresencesPerCPUSec: 60_000 * k},
				{Name: "warm", PresencesPerSec: 1_000_000 / k, PresencesPerCPUSec: 500_000 / k},
			},
			ResolveLatency: latency{P50Ms: 5 * k, P99Ms: 50 * k},
			BytesPerJID:    200, PeakRSSBytes: int64(k) << 28,
		}}
		rep.Targets.QueriesEqualUniqueKeys = len(specs) != 3
		rep.Targets.AllLiarsCaught, rep.Targets.NoHangs = true, true
		return rep, nil
	}
	r, err := Sweep(context.Background(), SweepOptions{Sizes: []int{1_000_000, 2_000_000, 5_000_000}, Spec: defaultSpec(), Run: run})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Points) != 3 || specs[1].JIDs != 1_000_000 || specs[2].Unique != 25_000 {
		t.Fatalf("points %+v, specs %+v", r.Points, specs)
	}
	p := r.Points[1]
	if p.WarmPerSec != 500_000 || p.ColdPerCPUSec != 120_000 || p.ColdKeyP99Ms != 100 || p.PeakRSSBytes != 2<<28 || !p.Correct {
		t.Errorf("2M point: %+v", p)
	}
	if r.Correct || r.Points[2].Correct {
		t.Error("the third run broke a guarantee, the sweep says correct")
	}
	var out bytes.Buffer
	r.WriteText(&out)
	for _, want := range []string{"2,000,000", "1.00×", "2.00×", "0.67×", "relative to the 2,000,000-presence run", "broke a guarantee"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
	path := filepath.Join(t.TempDir(), "sweep.html")
	if err := WriteSweepHTMLFile(path, r); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(path)
	if n := strings.Count(string(html), "<svg"); n != 3 {
		t.Errorf("%d plots, want 3", n)
	}
	if !strings.Contains(string(html), "5,000,000") || !strings.Contains(string(html), "Cold-key resolve latency") {
		t.Error("the page lacks the table or a plot")
	}
}
