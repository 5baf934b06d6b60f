package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// built is the binary buildBinary made, shared by the tests of one run;
// TestMain removes its directory.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// buildBinary builds capsengine with the test hooks (testhook.go) into a
// temporary directory, once per test run: signals, exit statuses and build
// information are only real in a process of its own.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.err = fmt.Errorf("go is not on PATH: %v", err)
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "capsengine-bin-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "capsengine")
		// Stamp the revision when there is one to stamp, whatever GOFLAGS
		// says (this project's machines set -buildvcs=false): the version
		// test checks it.
		vcs := "-buildvcs=false"
		if exec.Command("git", "rev-parse", "--git-dir").Run() == nil {
			vcs = "-buildvcs=true"
		}
		out, err := exec.Command(goTool, "build", vcs, "-tags", "capsengine_testhook", "-o", built.bin, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// removeBinary removes what buildBinary made.
func removeBinary() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

// process is a running capsengine whose output a test can wait on.
type process struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	exited         chan struct{}
	code           int
}

func startBinary(t *testing.T, bin string, env []string, stdin io.Reader, args ...string) *process {
	t.Helper()
	p := &process{t: t, stdout: newSyncBuffer(), stderr: newSyncBuffer(), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdin = stdin
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Errorf("wait: %v", err)
		}
		p.code = p.cmd.ProcessState.ExitCode() // -1 when a signal killed it
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// waitStderr waits for a line containing sub on standard error.
func (p *process) waitStderr(sub string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, ok := p.stderr.waitFor(ctx, sub); !ok {
		p.t.Fatalf("no %q on stderr after a minute; stderr:\n%s", sub, p.stderr.String())
	}
}

func (p *process) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit status. The
// bound is generous: it only keeps a broken build from hanging the suite.
func (p *process) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(time.Minute):
		p.t.Fatalf("still running a minute after it was asked to stop; stderr:\n%s", p.stderr.String())
		return 0
	}
}
