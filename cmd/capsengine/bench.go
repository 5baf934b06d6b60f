package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // --pprof
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/capsengine/capsengine/bench"
)

const benchLong = `Benchmark the engine on millions of simulated presences, side by side with a
naive baseline.

bench generates a deterministic workload from --seed before any timing: a
stream of presence stanzas (about 350 bytes each) from --jids full JIDs, each
running one client whose disco#info is one of --unique realistic documents
(a share with XEP-0128 forms, a share also announced with XEP-0390 hashes),
picked with Zipf popularity. Simulated peers answer the engine's disco#info
queries after --latency (log-normal --jitter); a share of them lie, fail or
never answer.

The stream goes through the engine's public API (IngestRawBatch from --workers
goroutines) three times: cold (empty store), warm (every key known), and with
--restart once more after closing and reopening the store on disk. With
--baseline the same stream goes through a naive pipeline in the same run
(encoding/xml, sharded mutex maps, singleflight, hashing.Verify; see
bench/baseline.go) and the report gives the ratio per phase.

With --cluster N the stream goes through one engine process, then through N
engine processes forming a cluster on loopback (this program, re-executed),
each fed the JIDs hashed to it: cold and warm passes, then --trickle new keys
per process one at a time; the report gives cluster ÷ single ratios, the query
counts and the cost per cross-node lookup.

With --soak DURATION the stream is generated on the fly for that long, and
never stops introducing new keys (--soak-keys-per-sec, default 7,000/s) and new
JIDs (--soak-jids-per-key per key) and retiring old ones, far past
MaxLookups, the hot cache and any JID count. Every second it samples the
engine's live lookups, queued and in-flight queries, waiting JIDs, JIDs
online, goroutines, RSS, heap, queries against new keys, failures by cause
and event drops. It exits 1 if a guarantee broke: a resolvable key queried
twice or never resolved, a sampled Wait that outlived the lookup timeout, a
liar believed, live lookups reaching MaxLookups, or RSS, live lookups or
goroutines (beside the query workers, which follow the load within their
bound) growing after the warm-up (first 20%) by more than 10% of their
level over the run (bench/README.md, "Soak", gives the exact rule). The
target of issue 11 — 2,000,000 keys and 5,000,000 JIDs in 5 minutes — is the
default pace: capsengine bench --soak 5m --report soak.html

Output: a summary on stdout, or one JSON object with --json (fields in
bench/README.md); --report writes a self-contained HTML page with plots.
Progress goes to stderr: a bar on a terminal, plain lines otherwise.

--check also holds the run to its performance targets and runs the baseline
for them: the warm pass at least --target-warm (5) times the baseline's
presences/s, the cold pass --target-cold (3) times, peak RSS under 1 GiB, and
the run without the baseline under a minute. Each missed target is named on
stderr with what was measured.

Exit status: 0, or 1 when the engine broke a correctness guarantee (a second
query for a verified key, a liar believed, a hang) or, with --check, missed a
target; 2 for a usage error.`

const benchExample = `  capsengine bench
  capsengine bench --baseline --restart --report out.html
  capsengine bench --check                                 # exit 1 unless every target is met
  capsengine bench --presences 20000 --jids 10000 --unique 500 --json
  capsengine bench --gen stream.xml --presences 100000   # writes stream.xml and stream.xml.disco
  capsengine bench --input stream.xml --baseline
  capsengine bench --cluster 3
  capsengine bench --soak 5m --report soak.html           # 2.1M keys, 5.25M JIDs
  capsengine bench --soak 30s --soak-keys-per-sec 2000 --max-lookups 5000 --lookup-idle 200ms`

type benchOptions struct {
	o           bench.Options
	gen         string
	json        bool
	report      string
	pprof       string
	quiet       bool
	verbose     bool
	maxLookups  int
	shards      int
	shardQueue  int
	routerQueue int
	cluster     clusterFlags
	members     int // --cluster N
	memberProcs int
	pin         bool
	trickle     int
	check       bool
	lookupTO    time.Duration
	lookupIdle  time.Duration
	sweep       string
}

func newBenchCmd() *cobra.Command {
	bo := benchOptions{o: bench.DefaultOptions()}
	c := &cobra.Command{
		Use:     "bench [flags]",
		Short:   "Benchmark the engine on a simulated network, against a naive baseline",
		Long:    benchLong,
		Example: benchExample,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runBench(c, &bo)
		},
	}
	o := &bo.o
	f := c.Flags()
	f.Uint64Var(&o.Spec.Seed, "seed", o.Spec.Seed, "seed of the workload and of the peers' behaviour")
	f.IntVar(&o.Spec.Presences, "presences", o.Spec.Presences, "presence stanzas in the stream")
	f.IntVar(&o.Spec.JIDs, "jids", o.Spec.JIDs, "distinct full JIDs")
	f.IntVar(&o.Spec.Unique, "unique", o.Spec.Unique, "distinct disco#info documents (caps keys)")
	f.Float64Var(&o.Spec.Zipf, "zipf", o.Spec.Zipf, "Zipf exponent of client popularity (0: uniform)")
	f.Float64Var(&o.Spec.Unavailable, "unavailable", o.Spec.Unavailable, "share of unavailable presences")
	f.Float64Var(&o.Spec.MUC, "muc", o.Spec.MUC, "share of JIDs that are MUC occupants")
	f.Float64Var(&o.Spec.Forms, "forms", o.Spec.Forms, "share of documents with a XEP-0128 form")
	f.Float64Var(&o.Spec.Caps2, "caps2", o.Spec.Caps2, "share of documents also announced with a XEP-0390 hash")
	f.Float64Var(&o.Peers.Liars, "liars", o.Peers.Liars, "share of announcers that answer a wrong disco#info")
	f.Float64Var(&o.Peers.Errors, "errors", o.Peers.Errors, "share of announcers that answer with an error")
	f.Float64Var(&o.Peers.Timeouts, "timeouts", o.Peers.Timeouts, "share of announcers that never answer")
	f.DurationVar(&o.Peers.Latency, "latency", o.Peers.Latency, "median disco#info answer time")
	f.Float64Var(&o.Peers.Jitter, "jitter", o.Peers.Jitter, "σ of the log-normal latency spread (0: fixed)")
	f.DurationVar(&o.QueryTimeout, "query-timeout", o.QueryTimeout, "timeout of one disco#info query (engine and baseline)")
	f.IntVar(&o.Workers, "workers", 0, "goroutines feeding each pipeline (default GOMAXPROCS)")
	f.IntVar(&o.Batch, "batch", o.Batch, "stanzas per IngestRawBatch call")
	f.IntVar(&bo.maxLookups, "max-lookups", 0, "engine Tuning.MaxLookups (0: the engine's default)")
	f.IntVar(&bo.shards, "shards", 0, "engine Tuning.Shards (0: the engine's default)")
	f.IntVar(&bo.shardQueue, "shard-queue", 0, "engine Tuning.ShardQueue (0: the engine's default)")
	f.IntVar(&bo.routerQueue, "router-queue", 0, "engine Tuning.RouterQueue (0: the engine's default)")
	f.Int64Var(&o.CacheBytes, "cache-bytes", 0, "engine hot cache size in bytes (0: the engine's default)")
	f.BoolVar(&o.Restart, "restart", false, "a third pass after closing and reopening the store")
	f.BoolVar(&o.Baseline, "baseline", false, "run the naive baseline on the same stream and report ratios")
	f.BoolVar(&bo.check, "check", false, "exit 1 when a target is missed (speed ratios against the baseline, which it runs; RSS; run time), naming each")
	f.Float64Var(&o.WarmTarget, "target-warm", o.WarmTarget, "warm-pass target: engine presences/s ÷ the baseline's")
	f.Float64Var(&o.ColdTarget, "target-cold", o.ColdTarget, "cold-pass target: engine presences/s ÷ the baseline's")
	f.BoolVar(&o.InMemory, "in-memory", false, "keep the engine's store in memory (no --restart, no store size)")
	f.IntVar(&o.SeedTrusted, "trusted-seed", 0, "pre-load the engine's trusted store with the answers of the `N` most popular documents of the workload (a release's seed of popular clients), to compare the cold pass with and without one")
	f.StringVar(&o.Input, "input", "", "read the stream from `FILE` (one stanza per line; answers from FILE.disco)")
	f.StringVar(&bo.gen, "gen", "", "write the generated stream to `FILE` (and its answers to FILE.disco), then exit")
	f.StringVar(&o.TmpDir, "tmpdir", "", "directory for the workload file and the store (default the system's)")
	f.BoolVar(&o.Keep, "keep", false, "keep the temporary directory")
	f.BoolVar(&bo.json, "json", false, "print one JSON object instead of the summary")
	f.StringVar(&bo.report, "report", "", "write a self-contained HTML report with plots to `FILE`")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the engine's cold and warm passes to `FILE`")
	f.StringVar(&o.CPUProfilePhase, "cpuprofile-phase", "", "with --cpuprofile: profile only the `PHASE` pass, cold or warm")
	f.StringVar(&o.MemProfile, "memprofile", "", "write a heap profile after the engine's warm pass to `FILE`")
	f.StringVar(&o.Trace, "trace", "", "write an execution trace of the engine's cold pass to `FILE` (go tool trace)")
	f.StringVar(&bo.pprof, "pprof", "", "serve net/http/pprof on `ADDR` (e.g. localhost:6060) during the run")
	f.BoolVarP(&bo.quiet, "quiet", "q", false, "no progress output")
	f.BoolVarP(&bo.verbose, "verbose", "v", false, "log the engine's debug messages to stderr")
	f.IntVar(&bo.members, "cluster", 0, "run the stream through `N` engine processes forming a cluster on loopback, after one process alone, and report the ratios")
	f.IntVar(&bo.memberProcs, "member-procs", 0, "GOMAXPROCS of each --cluster member (0: the CPUs shared out among them)")
	f.BoolVar(&bo.pin, "pin", false, "with --cluster: run the single process on one core and each member on a core of its own (GOMAXPROCS 1), and report the scale-out efficiency, cluster ÷ (N × single), split by a run of N single processes at once into the machine's scaling and the cluster's")
	f.IntVar(&bo.trickle, "trickle", 100, "with --cluster: new keys each process announces one at a time after the passes (the unloaded cold path)")
	f.DurationVar(&o.Soak.Duration, "soak", 0, "run the soak for `DURATION` (e.g. 5m): an endless stream of new keys and JIDs instead of the passes")
	so := bench.DefaultSoakOptions()
	f.Float64Var(&o.Soak.KeysPerSec, "soak-keys-per-sec", so.KeysPerSec, "soak: new keys per second (0: as fast as the engine takes them)")
	f.Float64Var(&o.Soak.JIDsPerKey, "soak-jids-per-key", so.JIDsPerKey, "soak: new JIDs per new key")
	f.DurationVar(&o.Soak.JIDLife, "soak-jid-life", so.JIDLife, "soak: how long a JID stays online on average")
	f.DurationVar(&bo.lookupTO, "lookup-timeout", 0, "engine Tuning.LookupTimeout (0: the engine's default, 60s)")
	f.DurationVar(&bo.lookupIdle, "lookup-idle", 0, "engine Tuning.LookupIdle (0: the engine's default: a finished lookup stops at once)")
	f.StringVar(&bo.sweep, "sweep", "", "run once per size in `SIZES` (e.g. 1M,2M,5M,10M presences; JIDs and keys scaled with them), each in a process of its own, and report the cost curve")
	bo.cluster.add(f)
	return c
}

func runBench(c *cobra.Command, bo *benchOptions) error {
	o := bo.o
	stderr := c.ErrOrStderr()
	if bo.gen != "" && o.Input != "" {
		return usageError(c, errors.New("--gen and --input exclude each other"))
	}
	o.Peers.Seed = o.Spec.Seed // one seed for the stream and the peers' behaviour
	o.Tuning.MaxLookups = bo.maxLookups
	o.Tuning.Shards = bo.shards
	o.Tuning.ShardQueue = bo.shardQueue
	o.Tuning.RouterQueue = bo.routerQueue
	o.Tuning.LookupTimeout = bo.lookupTO
	o.Tuning.LookupIdle = bo.lookupIdle
	if o.Soak.Duration != 0 {
		switch {
		case o.Soak.Duration < 0:
			return usageError(c, errors.New("--soak needs a positive duration"))
		case o.Baseline || o.Restart || bo.gen != "" || o.Input != "" || bo.members != 0 || o.InMemory || bo.check:
			return usageError(c, errors.New("--soak runs the engine alone on its own stream, stored on disk: no --baseline, --restart, --gen, --input, --cluster, --in-memory or --check"))
		case o.Soak.KeysPerSec < 0 || o.Soak.JIDsPerKey < 1:
			return usageError(c, errors.New("--soak-keys-per-sec must not be negative, --soak-jids-per-key at least 1"))
		}
	}
	cluster, err := bo.cluster.config()
	if err != nil {
		return usageError(c, err)
	}
	o.Cluster = cluster
	if bo.members != 0 {
		switch {
		case bo.members < 2:
			return usageError(c, errors.New("--cluster needs at least 2 processes"))
		case bo.pin && bo.memberProcs != 0:
			return usageError(c, errors.New("--cluster --pin sets each process's GOMAXPROCS to 1: no --member-procs"))
		case cluster != nil:
			return usageError(c, errors.New("--cluster starts its own members: no --cluster-name"))
		case o.Baseline || o.Restart || bo.gen != "" || bo.report != "" || o.MemProfile != "" || o.Trace != "" || bo.check:
			return usageError(c, errors.New("--cluster runs cold and warm passes only: no --baseline, --restart, --gen, --report, --memprofile, --trace or --check"))
		}
	}
	switch o.CPUProfilePhase {
	case "", "cold", "warm":
	default:
		return usageError(c, fmt.Errorf("--cpuprofile-phase %q: cold or warm", o.CPUProfilePhase))
	}
	if o.CPUProfilePhase != "" && (o.CPUProfile == "" || bo.members != 0 || o.Soak.Duration != 0) {
		return usageError(c, errors.New("--cpuprofile-phase narrows the --cpuprofile of the cold and warm passes: not with --cluster or --soak"))
	}
	if bo.sweep != "" {
		switch {
		case bo.members != 0 || o.Soak.Duration != 0 || bo.gen != "" || o.Input != "" || bo.check || o.Baseline || o.Restart ||
			o.CPUProfile != "" || o.MemProfile != "" || o.Trace != "":
			return usageError(c, errors.New("--sweep runs the engine's cold and warm passes per size: no --cluster, --soak, --gen, --input, --check, --baseline, --restart or profiles"))
		case c.Flags().Changed("presences") || c.Flags().Changed("jids") || c.Flags().Changed("unique"):
			return usageError(c, errors.New("--sweep sets --presences, --jids and --unique per size"))
		}
		if _, err := bench.ParseSizes(bo.sweep); err != nil {
			return usageError(c, fmt.Errorf("--sweep: %w", err))
		}
	}
	if bo.pin && bo.members == 0 {
		return usageError(c, errors.New("--pin goes with --cluster N"))
	}
	if o.WarmTarget <= 0 || o.ColdTarget <= 0 {
		return usageError(c, errors.New("--target-warm and --target-cold must be positive ratios"))
	}
	if bo.check {
		// The ratio targets are against the baseline: --check runs it.
		o.Baseline = true
	}
	if bo.gen != "" {
		t := time.Now()
		if err := bench.GenerateFiles(o.Spec, bo.gen); err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "wrote %s and %s.disco (%d presences) in %.1f s\n", bo.gen, bo.gen, o.Spec.Presences, time.Since(t).Seconds())
		return nil
	}
	if bo.pprof != "" {
		ln, err := net.Listen("tcp", bo.pprof)
		if err != nil {
			return usageError(c, fmt.Errorf("--pprof: %w", err))
		}
		srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		fmt.Fprintf(stderr, "pprof on http://%s/debug/pprof/\n", ln.Addr())
	}
	if !bo.quiet {
		if isTerminal(stderr) {
			o.Progress = bench.NewBarProgress(stderr)
		} else {
			o.Progress = bench.NewLineProgress(stderr, 2*time.Second)
		}
	}
	if bo.verbose {
		o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	o.Command = commandLine(c)
	if bo.members != 0 {
		return runClusterBench(c, bo, o)
	}
	if o.Soak.Duration > 0 {
		return runSoak(c, bo, o)
	}
	if bo.sweep != "" {
		return runSweep(c, bo, o)
	}
	rep, err := bench.Run(c.Context(), o)
	if err != nil {
		return err
	}
	if err := emitReport(c, bo, rep, func(path string) error { return bench.WriteHTMLFile(path, rep) }, rep.WriteText); err != nil {
		return err
	}
	failed := false
	if bo.check {
		for _, m := range rep.Missed() {
			fmt.Fprintln(stderr, "capsengine bench: missed target:", m)
			failed = true
		}
	}
	if !rep.Targets.Correct() {
		fmt.Fprintln(stderr, "capsengine bench:", bench.ErrIncorrect)
		if !bo.check { // --check named them already
			for _, b := range rep.Broken() {
				fmt.Fprintln(stderr, "capsengine bench: broken:", b)
			}
		}
		failed = true
	}
	if failed {
		return exitError{1}
	}
	return nil
}

// emitReport writes rep: its HTML page to --report (when given), and to
// standard output as JSON with --json, else as text.
func emitReport(c *cobra.Command, bo *benchOptions, rep any, writeHTML func(path string) error, writeText func(io.Writer)) error {
	if bo.report != "" {
		if err := writeHTML(bo.report); err != nil {
			return err
		}
		if !bo.quiet {
			fmt.Fprintf(c.ErrOrStderr(), "report: %s\n", bo.report)
		}
	}
	out := c.OutOrStdout()
	if bo.json {
		return json.NewEncoder(out).Encode(rep)
	}
	writeText(out)
	return nil
}

// runClusterBench is bench --cluster N: the members are this program,
// re-executed as "capsengine bench-member".
func runClusterBench(c *cobra.Command, bo *benchOptions, o bench.Options) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	co := bench.ClusterOptions{Options: o, Members: bo.members, MemberProcs: bo.memberProcs, Pin: bo.pin, Trickle: bo.trickle, Spawn: func(cfg string) *exec.Cmd {
		cmd := exec.Command(exe, "bench-member", cfg)
		cmd.Env = append(os.Environ(), memberEnv+"=1")
		return cmd
	}}
	if bo.verbose {
		co.Stderr = c.ErrOrStderr()
	}
	rep, err := bench.RunCluster(c.Context(), co)
	if err != nil {
		return err
	}
	out := c.OutOrStdout()
	if bo.json {
		if err := json.NewEncoder(out).Encode(rep); err != nil {
			return err
		}
	} else {
		rep.WriteText(out)
	}
	if !rep.Correct {
		fmt.Fprintln(c.ErrOrStderr(), "capsengine bench:", bench.ErrIncorrect)
		return exitError{1}
	}
	return nil
}

// runSoak is bench --soak.
func runSoak(c *cobra.Command, bo *benchOptions, o bench.Options) error {
	rep, err := bench.Soak(c.Context(), o)
	if err != nil {
		return err
	}
	if err := emitReport(c, bo, rep, func(path string) error { return bench.WriteSoakHTMLFile(path, rep) }, rep.WriteText); err != nil {
		return err
	}
	if !rep.OK {
		for _, v := range rep.Violations {
			fmt.Fprintln(c.ErrOrStderr(), "capsengine bench: soak:", v)
		}
		return exitError{1}
	}
	return nil
}

// memberEnv marks a process started as a cluster benchmark member, so that
// a test binary standing in for capsengine runs main instead of its tests.
const memberEnv = "CAPSENGINE_BENCH_MEMBER"

// newBenchMemberCmd is one process of bench --cluster, driven by its
// parent through stdin and stdout (see bench.RunMember).
func newBenchMemberCmd() *cobra.Command {
	var verbose bool
	c := &cobra.Command{
		Use:    "bench-member CONFIG",
		Short:  "One process of bench --cluster (internal)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			logger := slog.New(slog.NewTextHandler(c.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			if err := bench.RunMember(c.Context(), args[0], c.InOrStdin(), c.OutOrStdout(), logger); err != nil {
				return exitError{1} // the error went to the parent on stdout
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "log the engine's debug messages to stderr")
	return c
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// commandLine is the command as run, with the flags that were set.
func commandLine(c *cobra.Command) string {
	args := []string{c.CommandPath()}
	c.Flags().Visit(func(f *pflag.Flag) {
		if f.Value.Type() == "bool" && f.Value.String() == "true" {
			args = append(args, "--"+f.Name)
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return strings.Join(args, " ")
}
