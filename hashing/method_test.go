package hashing

import "testing"

// TestMethodOptions: an answer verifies again under the options of the
// method it first verified by.
func TestMethodOptions(t *testing.T) {
	for m, want := range map[Method]Options{
		Strict:           {},
		AsSentDuplicates: {DuplicateFeatures: true},
		Escaped:          {DuplicateFeatures: true, EscapedS: true},
	} {
		if got := m.Options(); got != want {
			t.Errorf("%v: %+v, want %+v", m, got, want)
		}
	}
}
