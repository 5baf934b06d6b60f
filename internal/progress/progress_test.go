package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestBar(t *testing.T) {
	var kept, cleared bytes.Buffer
	for _, c := range []struct {
		buf  *bytes.Buffer
		keep bool
	}{{&kept, true}, {&cleared, false}} {
		b := Bar(c.buf, 3, "importing", 20, c.keep)
		for range 3 {
			_ = b.Add(1)
		}
		_ = b.Finish()
	}
	if !strings.Contains(kept.String(), "importing") || !strings.Contains(kept.String(), "3/3") || !strings.HasSuffix(kept.String(), "\n") {
		t.Errorf("kept bar: %q", kept.String())
	}
	// Cleared: the last thing written erases the line.
	if out := cleared.String(); !strings.Contains(out, "importing") || strings.HasSuffix(out, "\n") {
		t.Errorf("cleared bar: %q", out)
	}
}
