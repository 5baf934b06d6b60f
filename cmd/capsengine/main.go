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
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError carries a process exit status out of a command without making
// the library-style command code call os.Exit.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status: 0 success,
// 1 a failure the command reports (a rejected file, ...), 2 a usage error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		// cobra has already printed usage errors; anything else is ours.
		fmt.Fprintln(stderr, "capsengine:", err)
		return 2
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "capsengine",
		Short: "XMPP entity capabilities engine (XEP-0115, XEP-0390)",
		Long: `capsengine turns the capability hashes that XMPP clients announce in their
presence (XEP-0115 "ver", XEP-0390 caps2 hashes) into verified feature lists,
and computes the hashes of disco#info documents.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError(c, err)
	})
	root.AddCommand(newVerCmd())
	root.AddCommand(newBenchCmd())
	root.AddCommand(newBenchMemberCmd())
	root.AddCommand(newDBCmd())
	root.AddCommand(newObserveCmd())
	root.AddCommand(newWatchCmd())
	return root
}

// usageError prints err with the command's usage line and maps it to exit
// status 2.
func usageError(c *cobra.Command, err error) error {
	fmt.Fprintf(c.ErrOrStderr(), "capsengine %s: %v\nRun '%s --help' for usage.\n", c.Name(), err, c.CommandPath())
	return exitError{2}
}
