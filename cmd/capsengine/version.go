package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, source revision and Go version of this binary",
		Long: `Print the module version (a release tag for "go install ...@vX.Y.Z",
"(devel)" for a build from a checkout), the source revision it was built
from and whether the checkout had uncommitted changes, and the Go toolchain
and platform. The same as "capsengine --version".`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(c.OutOrStdout(), versionString())
			return err
		},
	}
}

// versionString describes this binary from the build information the Go
// toolchain embeds, so that it cannot disagree with what was built: a
// version constant in the source goes stale, a -ldflags one is forgotten.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("capsengine (no build information)\nbuilt with %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	return formatVersion(bi)
}

func formatVersion(bi *debug.BuildInfo) string {
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, at, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		}
	}
	out := "capsengine " + version + "\n"
	switch {
	case rev == "":
		// go install from the module proxy builds without VCS data; the
		// version names the release.
		out += "revision unknown (not built from a git checkout)\n"
	case at != "":
		out += fmt.Sprintf("revision %s%s, committed %s\n", rev, modified, at)
	default:
		out += fmt.Sprintf("revision %s%s\n", rev, modified)
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return out + fmt.Sprintf("built with %s %s/%s", goVersion, runtime.GOOS, runtime.GOARCH)
}
