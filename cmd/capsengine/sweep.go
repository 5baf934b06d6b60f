package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/capsengine/capsengine/bench"
)

// sweepPassed are the bench flags a sweep hands on to each run: the
// workload's shape, the peers and the engine's knobs. The sizes are the
// sweep's; output, checks and profiles are not per run.
var sweepPassed = map[string]bool{
	"zipf": true, "unavailable": true, "muc": true, "forms": true, "caps2": true,
	"liars": true, "errors": true, "timeouts": true, "latency": true, "jitter": true,
	"query-timeout": true, "workers": true, "batch": true, "max-lookups": true, "shards": true,
	"shard-queue": true, "router-queue": true, "cache-bytes": true, "in-memory": true,
	"tmpdir": true, "lookup-timeout": true, "lookup-idle": true, "verbose": true, "trusted-seed": true,
}

// runSweep is bench --sweep: each size runs in a child "capsengine bench
// --json", so that its peak RSS and heap are its own.
func runSweep(c *cobra.Command, bo *benchOptions, o bench.Options) error {
	sizes, _ := bench.ParseSizes(bo.sweep) // checked by runBench
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var passed []string
	c.Flags().Visit(func(f *pflag.Flag) {
		if sweepPassed[f.Name] {
			passed = append(passed, "--"+f.Name+"="+f.Value.String())
		}
	})
	stderr := c.ErrOrStderr()
	so := bench.SweepOptions{Sizes: sizes, Spec: o.Spec, Command: o.Command,
		Run: func(ctx context.Context, spec bench.Spec) (*bench.Report, error) {
			args := append([]string{"bench", "--json", "--quiet",
				"--presences", strconv.Itoa(spec.Presences), "--jids", strconv.Itoa(spec.JIDs),
				"--unique", strconv.Itoa(spec.Unique)}, passed...)
			cmd := exec.CommandContext(ctx, exe, args...)
			cmd.Env = append(os.Environ(), memberEnv+"=1") // a test binary runs main
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, stderr
			// Exit status 1 with a report is a run that broke a
			// guarantee: the sweep reports it, not the child's status.
			runErr := cmd.Run()
			var rep bench.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				if runErr != nil {
					return nil, runErr
				}
				return nil, fmt.Errorf("reading the run's report: %w", err)
			}
			return &rep, nil
		}}
	if !bo.quiet {
		so.Progress = func(i int, spec bench.Spec) {
			fmt.Fprintf(stderr, "sweep %d/%d: %d presences, %d JIDs, %d keys\n", i+1, len(sizes), spec.Presences, spec.JIDs, spec.Unique)
		}
	}
	rep, err := bench.Sweep(c.Context(), so)
	if err != nil {
		return err
	}
	if err := emitReport(c, bo, rep, func(path string) error { return bench.WriteSweepHTMLFile(path, rep) }, rep.WriteText); err != nil {
		return err
	}
	if !rep.Correct {
		fmt.Fprintln(stderr, "capsengine bench:", bench.ErrIncorrect)
		return exitError{1}
	}
	return nil
}
