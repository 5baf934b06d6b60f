package units

import (
	"strings"
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}, {2 << 40, "2.0 TiB"}, {-2048, "-2.0 KiB"},
	} {
		if got := Bytes(tc.n); got != tc.want {
			t.Errorf("Bytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := SignedBytes(3 << 20); got != "+3.0 MiB" {
		t.Errorf("SignedBytes = %q", got)
	}
	if got := SignedBytes(-(3 << 20)); got != "-3.0 MiB" {
		t.Errorf("SignedBytes = %q", got)
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true}, {"500MiB", 500 << 20, true}, {"2 GB", 2e9, true}, {"64k", 64 << 10, true},
		{"1TiB", 1 << 40, true}, {"0", 0, true}, {"12B", 12, true},
		{"", 0, false}, {"-1", 0, false}, {"1.5GiB", 0, false}, {"10 parsecs", 0, false},
		{"99999999999999999999", 0, false}, {"9000000TiB", 0, false},
	} {
		got, err := ParseBytes(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"180d", 180 * 24 * time.Hour, true}, {"1d12h", 36 * time.Hour, true}, {"36h", 36 * time.Hour, true},
		{"0", 0, true}, {"d", 0, false}, {"-1d", 0, false}, {"1d-1h", 0, false}, {"xd", 0, false},
		{"9999999999d", 0, false}, {"", 0, true},
	} {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"500MiB", "2 GB", "1", "", "-1", "99999999999999999999T"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseBytes(%q) = %d", s, n)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"180d", "1d12h", "36h", "", "-1d", "9999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && strings.Contains(s, "d") && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v", s, d)
		}
	})
}
