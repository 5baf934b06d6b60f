package main

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestHandleSignals: the first signal cancels the context with the signal
// as its cause and says so; the second calls exit with 128+signal.
func TestHandleSignals(t *testing.T) {
	out := newSyncBuffer()
	exited := make(chan int, 1)
	ctx, stop := handleSignals(context.Background(), out, func(code int) { exited <- code })
	defer stop()

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	var se signalError
	if !errors.As(context.Cause(ctx), &se) || se.sig != syscall.SIGTERM {
		t.Errorf("cause = %v, want the SIGTERM", context.Cause(ctx))
	}
	if !interrupted(ctx) || interruptedCode(ctx) != 143 {
		t.Errorf("interrupted = %v, code %d; want true, 143", interrupted(ctx), interruptedCode(ctx))
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := <-exited; code != 130 {
		t.Errorf("second signal: exit %d, want 130", code)
	}
	if got := out.String(); !strings.Contains(got, "terminated: stopping") || !strings.Contains(got, "interrupt again: exiting now") {
		t.Errorf("got %q, want both signals reported", got)
	}
}

// TestSignalStopsImport: a signal stops a running import; it prints the
// summary of what it did, what it did is in the store, and the exit status
// is the signal's.
func TestSignalStopsImport(t *testing.T) {
	bin := buildBinary(t)
	for _, tc := range []struct {
		name string
		sig  os.Signal
		code int
	}{
		{"SIGINT", syscall.SIGINT, 130},
		{"SIGTERM", syscall.SIGTERM, 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, data := t.TempDir(), t.TempDir()
			writeCaps2Fixture(t, src, 20)
			// One worker, held by the hook after its first file until the
			// signal comes: exactly one file is imported.
			p := startBinary(t, bin, []string{"CAPSENGINE_TESTHOOK=hold"}, nil, "db", "--data", data, "import", "--jobs", "1", src)
			p.waitStderr("testhook: import held")
			p.signal(tc.sig)
			if code := p.wait(); code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, p.stderr.String())
			}
			out := p.stdout.String()
			for _, want := range []string{"20 files: 1 imported into the user store", "interrupted: 19 of 20 files not processed"} {
				if !strings.Contains(out, want) {
					t.Errorf("summary lacks %q:\n%s", want, out)
				}
			}
			if !strings.Contains(p.stderr.String(), ": stopping;") {
				t.Errorf("stderr does not say it is stopping:\n%s", p.stderr.String())
			}
			code, out, _ := runCmd(t, "", "db", "--data", data, "stats")
			if code != 0 || !regexp.MustCompile(`user +1 entries`).MatchString(out) {
				t.Errorf("stats after the interrupted import: exit %d\n%s", code, out)
			}
		})
	}
}

// TestSecondSignalExitsAtOnce: a command that does not stop on the first
// signal (held by the hook without looking at its context) ends on the
// second, at once, without its summary.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	bin := buildBinary(t)
	src, data := t.TempDir(), t.TempDir()
	writeCaps2Fixture(t, src, 5)
	p := startBinary(t, bin, []string{"CAPSENGINE_TESTHOOK=ignore-cancel"}, nil, "db", "--data", data, "import", "--jobs", "1", src)
	p.waitStderr("testhook: import held")
	p.signal(syscall.SIGINT)
	p.waitStderr("interrupt: stopping;")
	p.signal(syscall.SIGINT)
	if code := p.wait(); code != 130 {
		t.Errorf("exit %d, want 130; stderr:\n%s", code, p.stderr.String())
	}
	if out := p.stdout.String(); out != "" {
		t.Errorf("printed %q after the second signal, want nothing", out)
	}
	if !strings.Contains(p.stderr.String(), "interrupt again: exiting now") {
		t.Errorf("stderr:\n%s", p.stderr.String())
	}
}

// TestSignalStopsVerStdin: "ver -" waiting on a standard input that never
// ends stops on the first signal.
func TestSignalStopsVerStdin(t *testing.T) {
	bin := buildBinary(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close() // held open: the read never ends by itself
	p := startBinary(t, bin, []string{"CAPSENGINE_TESTHOOK=report"}, r, "ver", "-")
	r.Close()
	p.waitStderr("testhook: signals handled")
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 143 {
		t.Errorf("exit %d, want 143; stderr:\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "capsengine ver: interrupted\n") {
		t.Errorf("stderr:\n%s", p.stderr.String())
	}
}
