package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"release from the module proxy", debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v0.2.0"}},
			"capsengine v0.2.0\nrevision unknown (not built from a git checkout)\nbuilt with go1.26.1 " + platform},
		{"checkout with changes", debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "622bc21e0d7f5a0ad6fa4a1cbd7d3b5c04d0c3a1"},
			{Key: "vcs.time", Value: "2025-12-03T08:05:00Z"},
			{Key: "vcs.modified", Value: "true"},
		}}, "capsengine (devel)\nrevision 622bc21e0d7f5a0ad6fa4a1cbd7d3b5c04d0c3a1 (modified), committed 2025-12-03T08:05:00Z\nbuilt with go1.26.1 " + platform},
		{"clean checkout", debug.BuildInfo{GoVersion: "go1.26.1", Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"},
		}}, "capsengine (devel)\nrevision abc\nbuilt with go1.26.1 " + platform},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatVersion(&tc.bi); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestVersionCommand: "version" and "--version" print the same.
func TestVersionCommand(t *testing.T) {
	code1, out1, _ := runCmd(t, "", "version")
	code2, out2, _ := runCmd(t, "", "--version")
	if code1 != 0 || code2 != 0 || out1 != out2 || !strings.HasPrefix(out1, "capsengine ") {
		t.Errorf("version: exit %d %q; --version: exit %d %q", code1, out1, code2, out2)
	}
	if !strings.Contains(out1, "built with "+runtime.Version()+" ") {
		t.Errorf("got %q, want the Go version %s", out1, runtime.Version())
	}
}

// TestVersionBinary: a binary built from this checkout names its commit.
func TestVersionBinary(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	// Go stamps a checkout's build with a pseudo-version
	// (v0.0.0-<time>-<commit>, +dirty when modified), or "(devel)".
	if len(lines) != 3 || !regexp.MustCompile(`^capsengine (\(devel\)|v\S+)$`).MatchString(lines[0]) ||
		lines[2] != fmt.Sprintf("built with %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH) {
		t.Fatalf("got %q", out)
	}
	rev := regexp.MustCompile(`^revision [0-9a-f]{40}( \(modified\))?, committed \S+$`)
	if exec.Command("git", "rev-parse", "--git-dir").Run() != nil {
		// Not a git checkout (a source archive): nothing to stamp.
		rev = regexp.MustCompile(`^revision unknown`)
	}
	if !rev.MatchString(lines[1]) {
		t.Errorf("revision line %q does not match %s", lines[1], rev)
	}
}
