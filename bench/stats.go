package bench

import (
	"bufio"
	"bytes"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strconv"
	"time"

	"github.com/capsengine/capsengine"
)

// latency summarizes the time to resolve cold keys: from the moment the
// chunk holding a key's first presence was handed to the pipeline to the
// moment the key's verified answer was available.
type latency struct {
	Count  int `json:"count"`  // keys measured
	Failed int `json:"failed"` // first lookups that ended without a verified answer
	Hangs  int `json:"hangs"`  // waits still unanswered after the hang bound
	// FailedBy counts the failed first lookups by the engine's error:
	// overloaded, announcers-failed, lookup-timeout, rate-limited, ...
	FailedBy map[string]int `json:"failed_by,omitempty"`
	P50Ms    float64        `json:"p50_ms"`
	P90Ms    float64        `json:"p90_ms"`
	P99Ms    float64        `json:"p99_ms"`
	P999Ms   float64        `json:"p999_ms"`
	MaxMs    float64        `json:"max_ms"`
	// CDF is the distribution for plots: the share of keys resolved within
	// each bound, on a log scale from 0.1 ms.
	CDF []cdfPoint `json:"cdf,omitempty"`
}

// cdfPoint: Share of the measured keys resolved within Ms.
type cdfPoint struct {
	Ms    float64 `json:"ms"`
	Share float64 `json:"share"`
}

func summarize(ds []time.Duration, failed, hangs int) latency {
	l := latency{Count: len(ds), Failed: failed, Hangs: hangs}
	if len(ds) == 0 {
		return l
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return ms(s[min(max(i, 0), len(s)-1)])
	}
	l.P50Ms, l.P90Ms, l.P99Ms, l.P999Ms, l.MaxMs = q(0.50), q(0.90), q(0.99), q(0.999), ms(s[len(s)-1])
	for b := 0.1; ; b *= math.Pow(10, 0.1) {
		i, _ := slices.BinarySearch(s, time.Duration(b*float64(time.Millisecond)+1))
		l.CDF = append(l.CDF, cdfPoint{Ms: round3(b), Share: float64(i) / float64(len(s))})
		if i == len(s) {
			break
		}
	}
	return l
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// readStatus returns a field of /proc/self/status in bytes (VmHWM, VmRSS),
// or 0 where there is none.
func readStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(field+":")) {
			continue
		}
		f := bytes.Fields(line[len(field)+1:])
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(string(f[0]), 10, 64)
		return n << 10 // kB
	}
	return 0
}

// resetPeakRSS restarts VmHWM from the current resident set (Linux ≥ 4.0).
// It reports whether that worked.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// dirSize is the space the files under dir take.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// schedHist reads the runtime's histogram of the time goroutines spent
// runnable before they ran.
func schedHist() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// goroutinesCreated is how many goroutines the process has started
// (runtime/metrics), 0 where the runtime does not count them.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// schedLatency is how long goroutines waited for a CPU once runnable,
// over a phase (runtime/metrics /sched/latencies:seconds).
type schedLatency struct {
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"` // upper bound of the highest bucket hit
}

func schedDelta(a, b *metrics.Float64Histogram) schedLatency {
	var out schedLatency
	if a == nil || b == nil || len(a.Counts) != len(b.Counts) {
		return out
	}
	counts := make([]uint64, len(b.Counts))
	var total uint64
	for i := range counts {
		counts[i] = b.Counts[i] - a.Counts[i]
		total += counts[i]
	}
	if total == 0 {
		return out
	}
	q := func(p float64) float64 {
		want := uint64(math.Ceil(p * float64(total)))
		var n uint64
		for i, c := range counts {
			n += c
			if n >= want {
				return upper(b.Buckets, i)
			}
		}
		return upper(b.Buckets, len(counts)-1)
	}
	out.P50Ms, out.P99Ms = q(0.5), q(0.99)
	for i := len(counts) - 1; i >= 0; i-- {
		if counts[i] > 0 {
			out.MaxMs = upper(b.Buckets, i)
			break
		}
	}
	return out
}

// upper is bucket i's upper bound in ms (its lower one when unbounded).
func upper(bounds []float64, i int) float64 {
	u := bounds[i+1]
	if math.IsInf(u, 1) {
		u = bounds[i]
	}
	return round3(u * 1000)
}

// waitReport summarises one kind of queued work over a phase: how many
// items, and quantiles of their wait (the upper bound of their bucket).
type waitReport struct {
	Count uint64  `json:"count"`
	P50Us float64 `json:"p50_us"`
	P99Us float64 `json:"p99_us"`
}

// waitDelta is the waits between two snapshots of the engine's
// histograms: the phase's own.
func waitDelta(before, after map[string]capsengine.Histogram) map[string]waitReport {
	out := make(map[string]waitReport, len(after))
	for kind, h := range after {
		d := capsengine.Histogram{Bounds: h.Bounds, Counts: slices.Clone(h.Counts), Count: h.Count, Sum: h.Sum}
		if b, ok := before[kind]; ok && len(b.Counts) == len(d.Counts) {
			for i := range d.Counts {
				d.Counts[i] -= b.Counts[i]
			}
			d.Count -= b.Count
			d.Sum -= b.Sum
		}
		us := func(q float64) float64 { return float64(d.Quantile(q)) / float64(time.Microsecond) }
		out[kind] = waitReport{Count: d.Count, P50Us: us(0.5), P99Us: us(0.99)}
	}
	return out
}
