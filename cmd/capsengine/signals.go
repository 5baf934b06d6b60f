package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// signalError is the cause of a context that a signal cancelled.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "interrupted by " + e.sig.String() }

// handleSignals returns a context that the first SIGINT or SIGTERM
// cancels, with a signalError as its cause. Commands watch the context,
// stop, and report what they did so far. A second signal calls exit at
// once with 128+signal: a command stuck where it cannot see the context
// (a disk that does not answer, a library call without one) must not keep
// the user waiting. signal.NotifyContext has no second stage, and after it
// fires the default handler kills the process without a word.
//
// stop releases the signals; call it before exiting normally.
func handleSignals(parent context.Context, stderr io.Writer, exit func(int)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case s := <-ch:
			fmt.Fprintf(stderr, "capsengine: %s: stopping; send it again to exit at once\n", s)
			cancel(signalError{s})
		case <-done:
			return
		}
		select {
		case s := <-ch:
			fmt.Fprintf(stderr, "capsengine: %s again: exiting now\n", s)
			exit(signalCode(s))
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		<-stopped
		cancel(nil)
	}
}

// signalCode is the shell's exit status for a process a signal ended.
func signalCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 130
}

// interrupted reports whether a signal cancelled ctx.
func interrupted(ctx context.Context) bool {
	var se signalError
	return errors.As(context.Cause(ctx), &se)
}

// interruptedCode is the exit status of a command a signal cut short.
func interruptedCode(ctx context.Context) int {
	var se signalError
	if errors.As(context.Cause(ctx), &se) {
		return signalCode(se.sig)
	}
	return 130
}
