// Package units formats quantities for people: the one place the commands
// and reports say how big something is.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bytes formats n in IEC units with one decimal (1.5 MiB), plain bytes
// below 1 KiB; a negative n keeps its sign.
func Bytes(n int64) string {
	if n < 0 {
		return "-" + Bytes(-n)
	}
	f := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if f < 1024 || u == "TiB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.1f %s", f, u)
		}
		f /= 1024
	}
	panic("unreachable")
}

// SignedBytes is Bytes with a sign always shown: a change (+2.6 MiB).
func SignedBytes(n int64) string {
	if n < 0 {
		return Bytes(n)
	}
	return "+" + Bytes(n)
}

// ParseBytes reads a size as people write it on a command line: a whole
// number of bytes with an optional unit, IEC (KiB, MiB, GiB, TiB) or SI (kB,
// MB, GB, TB; K, M, G, T taken as IEC, as most tools do), with or without
// a space: "500MiB", "2 GB", "1048576". It refuses negative, fractional
// and overflowing sizes.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes, like 500MiB", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	unit := strings.TrimSpace(t[i:])
	mult, ok := byteUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (want B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)", s, unit)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * mult, nil
}

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// ParseDuration is time.ParseDuration that also takes days, the unit
// retention periods come in: "180d", "1d12h", "36h".
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var days int64
	if i := strings.IndexByte(t, 'd'); i >= 0 {
		n, err := strconv.ParseInt(t[:i], 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/int64(24*time.Hour) {
			return 0, fmt.Errorf("duration %q: want days like 180d, or a Go duration like 36h", s)
		}
		days, t = n, t[i+1:]
	}
	var rest time.Duration
	if t != "" {
		var err error
		if rest, err = time.ParseDuration(t); err != nil {
			return 0, fmt.Errorf("duration %q: want days like 180d, or a Go duration like 36h", s)
		}
	}
	d := time.Duration(days) * 24 * time.Hour
	if rest > 0 && d > math.MaxInt64-rest || rest < 0 && days > 0 {
		return 0, fmt.Errorf("duration %q: out of range", s)
	}
	return d + rest, nil
}
