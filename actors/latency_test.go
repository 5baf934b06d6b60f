package actors

import (
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	var h histogram
	for _, d := range []time.Duration{0, time.Millisecond, time.Millisecond + 1, 3 * time.Millisecond, time.Hour} {
		h.observe(d)
	}
	s := h.snapshot()
	if len(s.Counts) != len(LatencyBounds)+1 {
		t.Fatalf("%d counts for %d bounds", len(s.Counts), len(LatencyBounds))
	}
	want := map[int]uint64{0: 2, 1: 1, 2: 1, len(LatencyBounds): 1}
	for i, n := range s.Counts {
		if n != want[i] {
			t.Errorf("bucket %d (≤ %v): %d, want %d", i, s.Bounds[min(i, len(s.Bounds)-1)], n, want[i])
		}
	}
	if s.Count != 5 || s.Sum != time.Hour+5*time.Millisecond+1 {
		t.Errorf("count %d sum %v", s.Count, s.Sum)
	}
	if q := s.Quantile(0.5); q != 2500*time.Microsecond {
		t.Errorf("p50 %v, want 2.5ms", q)
	}
	if q := s.Quantile(1); q != time.Minute {
		t.Errorf("p100 %v, want the last bound", q)
	}
	if q := (Histogram{}).Quantile(0.5); q != 0 {
		t.Errorf("empty p50 %v", q)
	}
}
