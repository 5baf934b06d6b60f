// Package units formats quantities for people: the one place the commands
// and reports say how big something is.
package units

import "fmt"

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
