package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"time"

	"github.com/capsengine/capsengine"
)

// Options configure Run. DefaultOptions gives the values of a plain
// "capsengine bench".
type Options struct {
	Spec  Spec     // the generated workload (unused with Input)
	Peers PeerSpec // the simulated network

	// Input reads the stanzas from this file (one per line) instead of
	// generating them; the answers come from Input+".disco" when it exists
	// (see Generate), otherwise every honest peer answers item-not-found.
	Input string

	Workers      int           // goroutines feeding each pipeline; 0: GOMAXPROCS
	Batch        int           // stanzas per IngestRawBatch call; 0: 256
	QueryTimeout time.Duration // per disco#info query; 0: 250ms
	HangTimeout  time.Duration // a cold-key wait longer than this is a hang; 0: 2 min

	// WarmTarget and ColdTarget are the engine ÷ baseline presences/s
	// ratios the warm and cold passes should reach (Targets); 0: 5 and 3,
	// issue 5's goals.
	WarmTarget, ColdTarget float64

	// Soak shapes the stream of Soak; Run ignores it.
	Soak SoakOptions

	Restart  bool // a third pass after reopening the store
	Baseline bool // run the baseline on the same stream
	InMemory bool // keep the engine's store in memory (no restart pass, no store size)

	// SeedTrusted pre-loads the engine's trusted store with the answers
	// of this many of the workload's most popular documents — the seed a
	// release ships of popular clients — so that a run with and one
	// without show what it saves in the cold pass. 0: none.
	SeedTrusted int

	// CacheBytes and Tuning are passed to the engine; zero values are the
	// engine's defaults, except that the benchmark sets QueryTimeout and
	// lifts the per-announcer query rate.
	CacheBytes int64
	Tuning     capsengine.Tuning
	// Cluster, when set, runs the engine as a member of a cluster.
	Cluster capsengine.Cluster

	TmpDir     string // where the workload file and the store go; "": the system's
	Keep       bool   // keep the temporary directory
	CPUProfile string // CPU profile of the engine's cold and warm passes
	// CPUProfilePhase narrows CPUProfile to one pass: "cold" or "warm";
	// "" profiles both.
	CPUProfilePhase string
	Trace           string // execution trace of the engine's cold pass
	MemProfile      string // heap profile after the engine's warm pass

	Progress Progress
	Logger   *slog.Logger
	Command  string // recorded in the report

	tmpDir     string
	cpuProfile *os.File
}

// DefaultOptions are the defaults of "capsengine bench".
func DefaultOptions() Options {
	return Options{
		Spec:         defaultSpec(),
		Peers:        defaultPeerSpec(),
		Batch:        256,
		QueryTimeout: 250 * time.Millisecond,
		HangTimeout:  2 * time.Minute,
		WarmTarget:   5,
		ColdTarget:   3,
	}
}

func (o *Options) setDefaults() {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 250 * time.Millisecond
	}
	if o.HangTimeout <= 0 {
		o.HangTimeout = 2 * time.Minute
	}
	if o.WarmTarget <= 0 {
		o.WarmTarget = 5
	}
	if o.ColdTarget <= 0 {
		o.ColdTarget = 3
	}
}

// GenerateFiles writes the workload of spec to path (stanzas, one per
// line) and its honest answers to path+".disco".
func GenerateFiles(spec Spec, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	a, err := os.Create(path + ".disco")
	if err != nil {
		f.Close()
		return err
	}
	err = writeWorkload(spec, f, a)
	return errors.Join(err, f.Close(), a.Close())
}

// Run generates (or reads) the workload, then runs the engine — and with
// Options.Baseline the baseline — over it, and reports.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.setDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.InMemory {
		o.Restart = false
	}
	begin := time.Now()
	rep := &Report{Version: 1, Command: o.Command, Machine: machine(), Ratios: map[string]float64{}, CPURatios: map[string]float64{}}
	rep.Settings = o.settings()

	dir, cleanup, err := o.workDir("capsengine-bench-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	o.tmpDir = dir

	// The workload, before any timing.
	wl, err := o.workload(dir, &rep.Workload)
	if err != nil {
		return nil, err
	}
	w, ans := wl.w, wl.ans
	defer w.Close()
	defer ans.Close()

	defer o.stopCPUProfile()
	eng := &engineRun{o: &o, w: w, peers: newPeers(o.Peers, ans)}
	if rep.Engine, err = eng.run(ctx, o.Progress); err != nil {
		return nil, err
	}
	if o.Baseline {
		br := &baselineRun{o: &o, w: w, peers: newPeers(o.Peers, ans)}
		t := time.Now()
		if rep.Baseline, err = br.run(ctx, o.Progress); err != nil {
			return nil, err
		}
		rep.BaselineSeconds = time.Since(t).Seconds()
		for _, p := range rep.Engine.Phases {
			if b := rep.phase(rep.Baseline, p.Name); b != nil && b.PresencesPerSec > 0 {
				rep.Ratios[p.Name] = round3(p.PresencesPerSec / b.PresencesPerSec)
			}
			if b := rep.phase(rep.Baseline, p.Name); b != nil && b.PresencesPerCPUSec > 0 {
				rep.CPURatios[p.Name] = round3(p.PresencesPerCPUSec / b.PresencesPerCPUSec)
			}
		}
	}
	rep.TotalSeconds = time.Since(begin).Seconds()
	rep.Targets = targets(rep, &o)
	return rep, nil
}

// validate checks what the user set.
func (o *Options) validate() error {
	if err := o.Peers.validate(); err != nil {
		return err
	}
	if o.SeedTrusted < 0 || o.SeedTrusted > 0 && (o.InMemory || o.Cluster != nil) {
		return errors.New("bench: a trusted seed needs the store on disk and one process")
	}
	if o.Input == "" {
		return o.Spec.validate()
	}
	return nil
}

// workDir makes the run's temporary directory; cleanup removes it unless
// Options.Keep.
func (o *Options) workDir(prefix string) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp(o.TmpDir, prefix)
	if err != nil {
		return "", nil, err
	}
	if o.Keep {
		note(o.Progress, "keeping %s", dir)
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// settings are the knobs o sets, for a report.
func (o *Options) settings() settings {
	st := settings{
		Workers: o.Workers, Batch: o.Batch,
		LatencyMs: float64(o.Peers.Latency) / 1e6, Jitter: o.Peers.Jitter,
		QueryTimeoutMs: float64(o.QueryTimeout) / 1e6,
		Liars:          o.Peers.Liars, Errors: o.Peers.Errors, Timeouts: o.Peers.Timeouts,
		Store: "disk", Restart: o.Restart, Baseline: o.Baseline, Cluster: o.Cluster != nil,
	}
	if o.InMemory {
		st.Store = "memory"
	}
	return st
}

// preparedWorkload is the stream of a run, mapped and scanned, with its
// honest answers (answers "" and ans nil when there are none).
type preparedWorkload struct {
	path, answers string
	ans           *answers
	w             *workload
}

// workload generates the stream into dir (or takes o.Input), reads its
// answers and scans it, filling wr. The caller closes the workload.
func (o *Options) workload(dir string, wr *workloadReport) (*preparedWorkload, error) {
	pw := &preparedWorkload{path: o.Input}
	if pw.path == "" {
		note(o.Progress, "generating %s presences (%s JIDs, %s keys, seed %d)...",
			count(o.Spec.Presences), count(o.Spec.JIDs), count(o.Spec.Unique), o.Spec.Seed)
		t := time.Now()
		pw.path = filepath.Join(dir, "workload.xml")
		if err := GenerateFiles(o.Spec, pw.path); err != nil {
			return nil, err
		}
		wr.GenSeconds = time.Since(t).Seconds()
		wr.Source = "generated"
		spec := o.Spec
		wr.Spec = &spec
	} else {
		wr.Source = o.Input
	}
	if _, err := os.Stat(pw.path + ".disco"); err == nil {
		pw.answers = pw.path + ".disco"
		if pw.ans, err = readAnswersFile(pw.answers); err != nil {
			return nil, err
		}
	}
	t := time.Now()
	w, err := openWorkload(pw.path, &o.Peers, pw.ans)
	if err != nil {
		pw.ans.Close()
		return nil, err
	}
	pw.w = w
	wr.ScanSeconds = time.Since(t).Seconds()
	wr.meta = w.Meta
	wr.Answers = pw.ans.Len()
	wr.AvgStanzaBytes = float64(w.Meta.Bytes)/float64(w.Meta.Presences) - 1
	return pw, nil
}

func targets(r *Report, o *Options) targetReport {
	e := r.Engine
	t := targetReport{
		WarmRatio:              r.Ratios["warm"],
		WarmTarget:             o.WarmTarget,
		ColdRatio:              r.Ratios["cold"],
		ColdTarget:             o.ColdTarget,
		QueriesEqualUniqueKeys: e.QueriesEqualUniqueKeys,
		AllLiarsCaught:         e.Liars.AllCaught,
		NoHangs:                e.Hangs == 0,
		RSSUnder1GiB:           e.PeakRSSBytes > 0 && e.PeakRSSBytes < 1<<30,
		UnderOneMinute:         r.TotalSeconds-r.BaselineSeconds < 60,
	}
	t.WarmOK, t.ColdOK = t.WarmRatio >= t.WarmTarget, t.ColdRatio >= t.ColdTarget
	return t
}

func (o *Options) startCPUProfile() error {
	if o.CPUProfile == "" || o.cpuProfile != nil {
		return nil
	}
	f, err := os.Create(o.CPUProfile)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	o.cpuProfile = f
	return nil
}

// startTrace starts the execution trace, if one was asked for, and returns
// the function that stops it.
func (o *Options) startTrace() (func(), error) {
	if o.Trace == "" {
		return func() {}, nil
	}
	f, err := os.Create(o.Trace)
	if err != nil {
		return nil, err
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { trace.Stop(); f.Close() }, nil
}

func (o *Options) stopCPUProfile() {
	if o.cpuProfile == nil {
		return
	}
	pprof.StopCPUProfile()
	o.cpuProfile.Close()
	o.cpuProfile = nil
}

func machine() machineInfo {
	m := machineInfo{Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range bytes.Split(b, []byte("\n")) {
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && string(bytes.TrimSpace(k)) == "model name" {
				m.CPUModel = string(bytes.TrimSpace(v))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := bytes.Fields(b); len(f) > 0 {
			m.Load1, _ = strconv.ParseFloat(string(f[0]), 64)
		}
	}
	return m
}

// ErrIncorrect is returned by callers that turn a run whose engine broke a
// correctness guarantee (dedup, liars, hangs) into a failure.
var ErrIncorrect = fmt.Errorf("bench: the engine broke a correctness guarantee")
