package bench

import (
	"strings"
	"unicode"
)

// snakeCounters returns the counters of m (the engine's Counters() or the
// baseline's namesakes, named like Go fields) under snake_case names, the
// way every key of the JSON report is spelled: DedupJoins → dedup_joins,
// DropMUC → drop_muc. The benchmark keeps and reports counters only under
// these names, so one spelling runs from the engine to the report.
func snakeCounters(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[snake(k)] = v
	}
	return out
}

// snake spells a Go identifier in snake_case. An underscore goes before an
// upper-case letter that follows a lower-case letter or digit, and before
// the last capital of an acronym followed by a lower-case letter
// (HTTPServer → http_server).
func snake(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
