// Command capsengine computes, verifies, stores and resolves XMPP entity
// capabilities (XEP-0115 and XEP-0390). Run "capsengine help" for the
// commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	// Two malloc arenas: pebble's C memory stays flat over months.
	_ "github.com/capsengine/capsengine/arenas"
)

// exitError carries a process exit status out of a command without making
// the library-style command code call os.Exit.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := handleSignals(context.Background(), os.Stderr, os.Exit)
	if signalsHandled != nil {
		signalsHandled()
	}
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// signalsHandled, when set, runs once the signal handler is in place. The
// signal tests set it (build tag capsengine_testhook) so that they never
// signal a process that would still die of it; nil in every other build.
var signalsHandled func()

// run executes one command line and returns the exit status: 0 success,
// 1 a failure the command reports (a rejected file, ...), 2 a usage error,
// 128+N when signal N cut the command short (see handleSignals).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	c, err := root.ExecuteContextC(ctx)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case interrupted(ctx):
		// The command stopped because we asked it to; what it managed has
		// been printed, and "context canceled" would tell nobody anything.
		fmt.Fprintf(stderr, "%s: interrupted\n", c.CommandPath())
		return interruptedCode(ctx)
	default:
		// cobra has already printed usage errors; anything else is ours.
		fmt.Fprintf(stderr, "%s: %s\n", c.CommandPath(), explain(err))
		return 2
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "capsengine",
		Short: "XMPP entity capabilities engine (XEP-0115, XEP-0390)",
		Long: `capsengine turns the capability hashes that XMPP clients announce in their
presence (XEP-0115 "ver", XEP-0390 caps2 hashes) into verified feature lists,
and computes the hashes of disco#info documents.

An interrupt (Ctrl-C) or SIGTERM stops a command: it prints what it did so
far and exits with status 130 (143 for SIGTERM). A second one exits at once.`,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError(c, err)
	})
	root.AddCommand(newVerCmd())
	root.AddCommand(newBenchCmd())
	root.AddCommand(newBenchMemberCmd())
	root.AddCommand(newDBCmd())
	root.AddCommand(newObserveCmd())
	root.AddCommand(newWatchCmd())
	root.AddCommand(newVersionCmd())
	return root
}

// usageError prints err with the command's usage line and maps it to exit
// status 2. The command is named as typed ("capsengine db stats"), so the
// user sees which of several subcommands complained.
func usageError(c *cobra.Command, err error) error {
	fmt.Fprintf(c.ErrOrStderr(), "%s: %v\nRun '%s --help' for usage.\n", c.CommandPath(), err, c.CommandPath())
	return exitError{2}
}
