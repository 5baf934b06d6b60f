package protolog

import (
	"log/slog"
	"strings"
	"testing"
)

func TestDemoteRoutineLogs(t *testing.T) {
	var buf strings.Builder
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})
	l := slog.New(demoteHandler{h}).With("lib", "protoactor")
	l.Error("Bad connection to the node health status", "err", "refused")
	l.Error("EndpointWriter failed to connect")
	l.Error("something else")
	got := buf.String()
	if strings.Contains(got, "health status") {
		t.Errorf("a routine health-check error was logged at warn: %q", got)
	}
	if !strings.Contains(got, "level=WARN msg=\"EndpointWriter failed to connect\"") {
		t.Errorf("got %q, want the redial failure as a warning", got)
	}
	if !strings.Contains(got, "level=ERROR msg=\"something else\"") {
		t.Errorf("got %q, want other errors untouched", got)
	}

}

// At INFO, protoactor's lifecycle chatter goes; membership changes stay.
func TestDemoteProtoactorInfo(t *testing.T) {
	var buf strings.Builder
	l := slog.New(demoteHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})})
	l.Info("actor system started", "id", "x")
	l.Info("Started EndpointManager")
	l.Info("member joined", "member", "a")
	l.Warn("EndpointWriter failed to connect")
	got := buf.String()
	for _, gone := range []string{"actor system started", "Started EndpointManager"} {
		if strings.Contains(got, gone) {
			t.Errorf("%q logged at info: %q", gone, got)
		}
	}
	for _, kept := range []string{"level=INFO msg=\"member joined\"", "level=WARN msg=\"EndpointWriter failed to connect\""} {
		if !strings.Contains(got, kept) {
			t.Errorf("got %q, want %s", got, kept)
		}
	}
}
