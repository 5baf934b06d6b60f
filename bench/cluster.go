package bench

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capsengine/capsengine/cluster"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/freeport"
	"github.com/capsengine/capsengine/messages"
)

// ClusterOptions configure RunCluster.
type ClusterOptions struct {
	Options
	// Members is the number of processes in the cluster run (at least 2).
	Members int
	// Host is the loopback address members bind; default 127.0.0.1.
	Host string
	// Spawn returns the command that runs RunMember with the config file
	// cfg, its stdin and stdout being the command stream (capsengine
	// re-executes itself as "capsengine bench-member cfg"). Required.
	Spawn func(cfg string) *exec.Cmd
	// Stderr receives the members' stderr, every line prefixed with the
	// member's name. Nil: it is kept, and its end is part of a member's
	// error.
	Stderr io.Writer
	// Trickle is the number of brand-new keys each process announces one
	// at a time after the passes (see clusterSide.Trickle); 0: none.
	Trickle int
	// MemberProcs is each cluster member's GOMAXPROCS. 0: the machine's
	// CPUs shared out, ⌈CPUs / Members⌉, as if each member had a machine
	// of its own; the single process keeps them all.
	MemberProcs int
	// Pin runs every process on a core of its own, with GOMAXPROCS 1:
	// the single process on one core, member i on core i. Cluster ÷
	// (Members × single) is then the scale-out efficiency — N cores
	// against 1 — which members sharing cores cannot show.
	Pin bool
}

// ClusterReport is the outcome of RunCluster: the same stream through one
// engine process and through a cluster of Members processes, in one run.
type ClusterReport struct {
	Version  int            `json:"version"`
	Command  string         `json:"command,omitempty"`
	Machine  machineInfo    `json:"machine"`
	Workload workloadReport `json:"workload"`
	Settings settings       `json:"settings"`
	Members  int            `json:"members"`
	// MemberProcs is each member's GOMAXPROCS (the single process has
	// machineInfo.GOMAXPROCS).
	MemberProcs int          `json:"member_gomaxprocs"`
	Single      *clusterSide `json:"single"`
	Cluster     *clusterSide `json:"cluster"`
	// Ratios and CPURatios are cluster ÷ single, by phase: presences per
	// second of wall time, and per second of CPU time summed over the
	// processes. QueryRatio is cluster ÷ single disco#info queries.
	Ratios    map[string]float64 `json:"ratios"`
	CPURatios map[string]float64 `json:"cpu_ratios"`
	// Pinned: every process had a core of its own (ClusterOptions.Pin).
	// Efficiency, by phase, is then cluster presences/s ÷ (members ×
	// single presences/s): 1 is perfect scale-out.
	Pinned     bool               `json:"pinned"`
	Efficiency map[string]float64 `json:"efficiency,omitempty"`
	// Parallel, with Pin: Members single processes at once, each with
	// the whole stream on a core of its own and no cluster between them —
	// what this machine's cores give independent engines side by side.
	// Its phases' presences sum over the processes.
	Parallel []clusterPhase `json:"parallel,omitempty"`
	// MachineScaling, by phase, is Parallel's presences/s ÷ (members ×
	// single presences/s): below 1 when busy cores slow each other down
	// (SMT siblings, shared caches and memory bandwidth, neighbours).
	// ClusterScaling is cluster presences/s ÷ Parallel's: the cluster's
	// own cost with the machine's taken out. Efficiency is their product.
	MachineScaling map[string]float64 `json:"machine_scaling,omitempty"`
	ClusterScaling map[string]float64 `json:"cluster_scaling,omitempty"`
	QueryRatio     float64            `json:"query_ratio"`
	CrossNode      crossNodeReport    `json:"cross_node"`
	// Correct: both runs queried each resolvable key once, caught every
	// liar and never hung, and every cluster member holds every
	// resolvable key.
	Correct      bool    `json:"correct"`
	TotalSeconds float64 `json:"total_seconds"`
}

// clusterSide is one run of RunCluster: one process, or the cluster.
type clusterSide struct {
	Processes int            `json:"processes"`
	Phases    []clusterPhase `json:"phases"`
	// Queries are the disco#info queries all processes sent; Duplicate
	// the honest answers beyond the first for a node, across processes.
	Queries          int64 `json:"queries"`
	VerifiedQueries  int64 `json:"verified_queries"`
	FailedQueries    int64 `json:"failed_queries"`
	DuplicateQueries int64 `json:"duplicate_queries"`
	// HedgedQueries are the duplicates the engines asked for as hedges
	// and counted themselves (see systemReport.HedgedQueries).
	HedgedQueries  int64 `json:"hedged_queries"`
	ResolvableKeys int   `json:"resolvable_keys"`
	// ResolvedKeysMin is the fewest resolvable keys any one process holds
	// in its own store after the passes: with a cluster, the entries
	// other members resolved must have reached it too.
	ResolvedKeysMin int        `json:"resolved_keys_min"`
	OneQueryPerKey  bool       `json:"one_query_per_key"`
	Liars           liarReport `json:"liars"`
	ResolveLatency  latency    `json:"resolve_latency"`
	Hangs           int        `json:"hangs"`
	// PeakRSSBytes sums the processes' peak resident sets.
	PeakRSSBytes int64             `json:"peak_rss_bytes"`
	JIDs         int               `json:"jids"`
	Counters     map[string]uint64 `json:"counters"` // summed over processes and passes
	PerProcess   []processReport   `json:"per_process"`
	// Trickle is the unloaded cold path: after the passes, every process
	// announces new keys one at a time, each from a new JID, and waits
	// for it.
	Trickle *trickleStats `json:"trickle,omitempty"`
}

// trickleStats: Keys new keys announced in all, their resolve time, the
// CPU time all processes spent meanwhile per key (beyond their idle rate,
// measured just before), and the queries sent for them (Duplicates beyond
// one per key).
type trickleStats struct {
	Keys            int     `json:"keys"`
	Latency         latency `json:"latency"`
	CPUMicrosPerKey float64 `json:"cpu_us_per_key"`
	Queries         int     `json:"queries"`
	Duplicates      int     `json:"duplicates"`
}

// clusterPhase is one pass over the whole stream, every process feeding
// its share at once. Seconds is wall time from the command to the last
// process's end; CPUSeconds sums the processes' CPU time.
type clusterPhase struct {
	Name               string  `json:"name"`
	Presences          int     `json:"presences"`
	Seconds            float64 `json:"seconds"`
	PresencesPerSec    float64 `json:"presences_per_sec"`
	CPUSeconds         float64 `json:"cpu_seconds"`
	PresencesPerCPUSec float64 `json:"presences_per_cpu_sec"`
	Queries            int64   `json:"queries"`
	GoroutinesStarted  uint64  `json:"goroutines_started"` // by all the processes
}

// processReport is one process's share.
type processReport struct {
	Presences    int                `json:"presences"`
	JIDs         int                `json:"jids"`
	PeakRSSBytes int64              `json:"peak_rss_bytes"`
	Queries      int64              `json:"queries"`
	ResolvedKeys int                `json:"resolved_keys"`
	Seconds      map[string]float64 `json:"seconds"`     // by phase, as the process measured it
	CPUSeconds   map[string]float64 `json:"cpu_seconds"` // by phase
	// Sched is how long the process's runnable goroutines waited for a
	// CPU, by phase: every hop of a lookup waits that long.
	Sched map[string]schedLatency `json:"sched_latency"`
}

// crossNodeReport is what the cluster's cold pass cost beyond one
// process, per cross-node lookup.
type crossNodeReport struct {
	// OwnerRequests are the lookups members sent to a key's owner;
	// Lookups those whose owner was on another member; Queries the
	// queries an owner had another member run (its announcer was there);
	// Entries the verified entries members received by broadcast.
	OwnerRequests uint64 `json:"owner_requests"`
	Lookups       uint64 `json:"lookups"`
	Queries       uint64 `json:"queries"`
	Entries       uint64 `json:"entries"`
	// CPUMicrosPerLookup is the cold pass's extra CPU time (cluster sum
	// minus one process) divided by Lookups: everything the cluster adds
	// — owner requests, probes, routed queries, broadcasts, membership —
	// charged to the cross-node lookups.
	CPUMicrosPerLookup float64 `json:"cpu_us_per_lookup"`
	// GoroutinesPerLookup is the cold pass's extra goroutines started,
	// counted the same way.
	GoroutinesPerLookup float64 `json:"goroutines_per_lookup"`
	// AddedP50Ms and AddedP99Ms are the cold-key resolve time's
	// percentiles, cluster minus one process.
	AddedP50Ms float64 `json:"added_p50_ms"`
	AddedP99Ms float64 `json:"added_p99_ms"`
	// Unloaded: the trickle's resolve time p50 and CPU per key, cluster
	// minus one process.
	UnloadedAddedP50Ms      float64 `json:"unloaded_added_p50_ms"`
	UnloadedCPUMicrosPerKey float64 `json:"unloaded_cpu_us_per_key"`
}

// RunCluster generates (or reads) the workload, splits it by JID into
// Members shares (a JID's connection lives on one node), and runs it
// through one engine process and then through a cluster of Members
// engine processes on loopback, each ingesting its share. Both runs are
// child processes of the same binary, so their figures compare.
func RunCluster(ctx context.Context, co ClusterOptions) (*ClusterReport, error) {
	co.Options.setDefaults()
	o := co.Options
	if co.Members < 2 {
		return nil, errors.New("bench: a cluster run needs at least 2 members")
	}
	if co.Spawn == nil {
		return nil, errors.New("bench: ClusterOptions.Spawn is required")
	}
	if co.Host == "" {
		co.Host = "127.0.0.1"
	}
	if co.Pin {
		if co.Members > runtime.NumCPU() {
			return nil, fmt.Errorf("bench: --pin needs a core per member: %d members, %d CPUs", co.Members, runtime.NumCPU())
		}
		co.MemberProcs = 1
	}
	if co.MemberProcs <= 0 {
		co.MemberProcs = (runtime.NumCPU() + co.Members - 1) / co.Members
	}
	if co.Stderr != nil {
		// Every member's lines go there, from a goroutine each.
		co.Stderr = &syncWriter{w: co.Stderr}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	begin := time.Now()
	rep := &ClusterReport{Version: 1, Command: o.Command, Machine: machine(), Members: co.Members, MemberProcs: co.MemberProcs,
		Ratios: map[string]float64{}, CPURatios: map[string]float64{}, Pinned: co.Pin}
	if co.Pin {
		rep.Efficiency, rep.MachineScaling, rep.ClusterScaling = map[string]float64{}, map[string]float64{}, map[string]float64{}
	}
	o.Restart, o.Baseline = false, false
	rep.Settings = o.settings()
	dir, cleanup, err := o.workDir("capsengine-bench-cluster-")
	if err != nil {
		return nil, err
	}
	defer cleanup()

	wl, err := o.workload(dir, &rep.Workload)
	if err != nil {
		return nil, err
	}
	w, path, answers := wl.w, wl.path, wl.answers
	keys := filepath.Join(dir, "keys")
	err = writeKeysFile(keys, w)
	w.Close()
	wl.ans.Close()
	if err != nil {
		return nil, err
	}
	shares, err := splitByJID(path, dir, co.Members, o.Peers.Seed)
	if err != nil {
		return nil, err
	}

	base := memberConfig{
		Answers: answers, Keys: keys, Peers: o.Peers, Trickle: co.Trickle,
		Workers: o.Workers, Batch: o.Batch, QueryTimeout: o.QueryTimeout, HangTimeout: o.HangTimeout,
		CacheBytes: o.CacheBytes, Tuning: o.tuning(),
	}

	note(o.Progress, "one process: the whole stream...")
	single := base
	single.Index, single.Members, single.Workload = 0, 1, path
	if co.Pin {
		single.GOMAXPROCS, single.CPU = 1, new(int)
	}
	if rep.Single, err = co.runSide(ctx, dir, "single", []memberConfig{single}, w.Meta.Resolvable); err != nil {
		return nil, err
	}
	if co.Pin {
		note(o.Progress, "%d processes at once, each the whole stream on a core of its own...", co.Members)
		if rep.Parallel, err = co.runParallel(ctx, dir, single, w.Meta.Resolvable); err != nil {
			return nil, err
		}
	}

	cfgs := make([]memberConfig, co.Members)
	ports, err := freeport.Ports(2 * co.Members)
	if err != nil {
		return nil, err
	}
	var seeds []string
	for i := range cfgs {
		seeds = append(seeds, net.JoinHostPort(co.Host, strconv.Itoa(ports[2*i+1])))
	}
	name := fmt.Sprintf("capsengine-bench-%d", os.Getpid())
	for i := range cfgs {
		c := base
		c.Index, c.Members, c.Workload, c.GOMAXPROCS = i, co.Members, shares[i], co.MemberProcs
		if co.Pin {
			cpu := i
			c.CPU = &cpu
		}
		c.Cluster = &cluster.Config{Name: name,
			Bind:        net.JoinHostPort(co.Host, strconv.Itoa(ports[2*i])),
			AutoManPort: ports[2*i+1], Seeds: seeds}
		cfgs[i] = c
	}
	note(o.Progress, "cluster of %d processes on %s: each its share of the JIDs...", co.Members, co.Host)
	if rep.Cluster, err = co.runSide(ctx, dir, "cluster", cfgs, w.Meta.Resolvable); err != nil {
		return nil, err
	}

	for _, p := range rep.Cluster.Phases {
		if s := rep.Single.phase(p.Name); s != nil {
			rep.Ratios[p.Name] = ratio(p.PresencesPerSec, s.PresencesPerSec)
			rep.CPURatios[p.Name] = ratio(p.PresencesPerCPUSec, s.PresencesPerCPUSec)
			if co.Pin {
				rep.Efficiency[p.Name] = ratio(p.PresencesPerSec, float64(co.Members)*s.PresencesPerSec)
				if par := phaseOf(rep.Parallel, p.Name); par != nil {
					rep.MachineScaling[p.Name] = ratio(par.PresencesPerSec, float64(co.Members)*s.PresencesPerSec)
					rep.ClusterScaling[p.Name] = ratio(p.PresencesPerSec, par.PresencesPerSec)
				}
			}
		}
	}
	rep.QueryRatio = ratio(float64(rep.Cluster.Queries), float64(rep.Single.Queries))
	rep.CrossNode = crossNode(rep.Single, rep.Cluster)
	rep.Correct = rep.Single.correct() && rep.Cluster.correct()
	rep.TotalSeconds = time.Since(begin).Seconds()
	return rep, nil
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return round3(a / b)
}

func crossNode(single, cluster *clusterSide) crossNodeReport {
	c := cluster.Counters
	r := crossNodeReport{
		OwnerRequests: c["cluster_requests"], Lookups: c["cluster_remote_resolves"],
		Queries: c["cluster_remote_queries"], Entries: c["cluster_entries"],
	}
	sc, cc := single.phase("cold"), cluster.phase("cold")
	if sc != nil && cc != nil && r.Lookups > 0 {
		r.CPUMicrosPerLookup = round3((cc.CPUSeconds - sc.CPUSeconds) * 1e6 / float64(r.Lookups))
		r.GoroutinesPerLookup = round3((float64(cc.GoroutinesStarted) - float64(sc.GoroutinesStarted)) / float64(r.Lookups))
	}
	r.AddedP50Ms = round3(cluster.ResolveLatency.P50Ms - single.ResolveLatency.P50Ms)
	r.AddedP99Ms = round3(cluster.ResolveLatency.P99Ms - single.ResolveLatency.P99Ms)
	if st, ct := single.Trickle, cluster.Trickle; st != nil && ct != nil {
		r.UnloadedAddedP50Ms = round3(ct.Latency.P50Ms - st.Latency.P50Ms)
		r.UnloadedCPUMicrosPerKey = round3(ct.CPUMicrosPerKey - st.CPUMicrosPerKey)
	}
	return r
}

func (s *clusterSide) phase(name string) *clusterPhase { return phaseOf(s.Phases, name) }

func phaseOf(ps []clusterPhase, name string) *clusterPhase {
	for i := range ps {
		if ps[i].Name == name {
			return &ps[i]
		}
	}
	return nil
}

// runParallel runs co.Members copies of the single process's config at
// once, copy i on core i, and returns their passes. Each copy queries
// every key itself, so the side's one-query check does not apply; a copy
// that hangs or fails still fails the run.
func (co *ClusterOptions) runParallel(ctx context.Context, dir string, single memberConfig, resolvable int) ([]clusterPhase, error) {
	cfgs := make([]memberConfig, co.Members)
	for i := range cfgs {
		c := single
		cpu := i
		c.CPU, c.Trickle = &cpu, 0
		cfgs[i] = c
	}
	pco := *co
	pco.Trickle = 0
	side, err := pco.runSide(ctx, dir, "parallel", cfgs, resolvable)
	if err != nil {
		return nil, err
	}
	if side.Hangs > 0 || side.ResolvedKeysMin < resolvable {
		return nil, fmt.Errorf("bench: a process of the parallel run left keys unresolved (%d hangs, %d of %d keys in the emptiest store)",
			side.Hangs, side.ResolvedKeysMin, resolvable)
	}
	return side.Phases, nil
}

// worstSchedP99 is the highest p99 scheduler wait of any process in
// phase.
func (s *clusterSide) worstSchedP99(phase string) float64 {
	worst := 0.0
	for _, p := range s.PerProcess {
		worst = max(worst, p.Sched[phase].P99Ms)
	}
	return worst
}

func (s *clusterSide) correct() bool {
	ok := s.OneQueryPerKey && s.Liars.AllCaught && s.Hangs == 0
	if t := s.Trickle; t != nil {
		ok = ok && t.Duplicates == 0 && t.Latency.Hangs == 0 && t.Latency.Failed == 0 && t.Queries == t.Keys
	}
	return ok
}

// runSide starts one process per config, waits until all are ready, runs
// the cold and warm passes on all at once, and collects their accounts.
func (co *ClusterOptions) runSide(ctx context.Context, dir, name string, cfgs []memberConfig, resolvable int) (*clusterSide, error) {
	ms := make([]*memberProc, len(cfgs))
	defer func() {
		for _, m := range ms {
			if m != nil {
				m.kill()
			}
		}
	}()
	for i := range cfgs {
		if !co.InMemory {
			cfgs[i].DataDir = filepath.Join(dir, fmt.Sprintf("%s-%d-store", name, i))
		}
		if co.CPUProfile != "" {
			cfgs[i].CPUProfile = fmt.Sprintf("%s.%s-%d", co.CPUProfile, name, i)
		}
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.json", name, i))
		b, err := json.Marshal(&cfgs[i])
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return nil, err
		}
		label := name
		if len(cfgs) > 1 {
			label = fmt.Sprintf("%s/%d", name, i)
		}
		if ms[i], err = co.start(label, path); err != nil {
			return nil, err
		}
	}
	// Joining takes the provider's refresh period or two.
	if _, err := all(ctx, ms, "", "ready", 90*time.Second); err != nil {
		return nil, err
	}
	side := &clusterSide{Processes: len(cfgs), ResolvableKeys: resolvable, Counters: map[string]uint64{}}
	side.PerProcess = make([]processReport, len(cfgs))
	for i := range side.PerProcess {
		side.PerProcess[i] = processReport{Seconds: map[string]float64{}, CPUSeconds: map[string]float64{}, Sched: map[string]schedLatency{}}
	}
	var timings []time.Duration
	failedBy := map[string]int{}
	failed := 0
	for _, phase := range []string{"cold", "warm"} {
		start := time.Now()
		msgs, err := all(ctx, ms, phase, "phase", co.HangTimeout+5*time.Minute)
		if err != nil {
			return nil, err
		}
		p := clusterPhase{Name: phase, Seconds: time.Since(start).Seconds()}
		for i, m := range msgs {
			p.Presences += m.Phase.Presences
			p.CPUSeconds += m.Phase.CPUSeconds
			p.Queries += m.Phase.Queries
			p.GoroutinesStarted += m.Phase.GoroutinesStarted
			side.PerProcess[i].Seconds[phase] = round3(m.Phase.Seconds)
			side.PerProcess[i].CPUSeconds[phase] = round3(m.Phase.CPUSeconds)
			side.PerProcess[i].Sched[phase] = m.Phase.Sched
			for _, us := range m.TimingsUs {
				timings = append(timings, time.Duration(us)*time.Microsecond)
			}
			failed += m.Failed
			side.Hangs += m.Hangs
			for k, v := range m.FailedBy {
				failedBy[k] += v
			}
		}
		p.PresencesPerSec = perSec(p.Presences, p.Seconds)
		p.PresencesPerCPUSec = perSec(p.Presences, p.CPUSeconds)
		side.Phases = append(side.Phases, p)
		note(co.Progress, "%s %s: %s presences in %.2f s (%s/s, %.2f CPU-s)", name, phase,
			count(p.Presences), p.Seconds, count(int(p.PresencesPerSec)), p.CPUSeconds)
	}
	side.ResolveLatency = summarize(timings, failed, side.Hangs)
	side.ResolveLatency.CDF = nil
	if len(failedBy) > 0 {
		side.ResolveLatency.FailedBy = failedBy
	}
	finals, err := all(ctx, ms, "final", "final", time.Minute)
	if err != nil {
		return nil, err
	}
	answered := map[int32]int32{}
	side.ResolvedKeysMin = resolvable
	for i, m := range finals {
		f := m.Final
		side.Queries += f.Queries
		side.VerifiedQueries += f.Honest
		side.FailedQueries += f.Failed
		side.Liars.Answers += f.LiarAnswers
		side.PeakRSSBytes += f.PeakRSSBytes
		side.JIDs += f.JIDs
		for k, v := range f.Counters {
			side.Counters[k] += v
		}
		for n, c := range f.Answered {
			answered[n] += c
		}
		side.ResolvedKeysMin = min(side.ResolvedKeysMin, f.ResolvedKeys)
		pp := &side.PerProcess[i]
		pp.Presences, pp.JIDs, pp.PeakRSSBytes, pp.Queries, pp.ResolvedKeys = f.Presences, f.JIDs, f.PeakRSSBytes, f.Queries, f.ResolvedKeys
	}
	for _, c := range answered {
		if c > 1 {
			side.DuplicateQueries += int64(c - 1)
		}
	}
	side.DuplicateQueries, side.HedgedQueries = splitHedged(side.DuplicateQueries, side.Counters)
	caught := int64(side.Counters["mismatches"] + side.Counters["rejected"])
	side.Liars.Caught = caught
	side.Liars.Accepted = max(side.Liars.Answers-caught, 0)
	side.Liars.AllCaught = side.Liars.Answers <= caught
	side.OneQueryPerKey = side.DuplicateQueries == 0 &&
		side.VerifiedQueries-side.HedgedQueries == int64(resolvable) &&
		side.ResolvedKeysMin == resolvable &&
		side.Queries == side.VerifiedQueries+side.FailedQueries
	if co.Trickle > 0 {
		msgs, err := all(ctx, ms, "trickle", "trickle", co.HangTimeout+time.Minute)
		if err != nil {
			return nil, err
		}
		side.Trickle = trickleReport(msgs)
		note(co.Progress, "%s trickle: %d new keys one at a time, p50 %.2f ms", name, side.Trickle.Keys, side.Trickle.Latency.P50Ms)
	}
	if _, err := all(ctx, ms, "quit", "closed", time.Minute); err != nil {
		return nil, err
	}
	for _, m := range ms {
		m.wait(10 * time.Second)
	}
	return side, nil
}

func trickleReport(msgs []memberMsg) *trickleStats {
	t := &trickleStats{}
	var ds []time.Duration
	var cpu float64
	failed, hangs := 0, 0
	answered := map[string]int32{}
	for _, m := range msgs {
		for _, us := range m.TimingsUs {
			ds = append(ds, time.Duration(us)*time.Microsecond)
		}
		failed += m.Failed
		hangs += m.Hangs
		cpu += m.CPUSeconds
		for n, c := range m.Answered {
			answered[n] += c
		}
	}
	t.Keys = len(ds) + failed + hangs
	t.Latency = summarize(ds, failed, hangs)
	t.Latency.CDF = nil
	if t.Keys > 0 {
		t.CPUMicrosPerKey = round3(cpu * 1e6 / float64(t.Keys))
	}
	for _, c := range answered {
		t.Queries += int(c)
		t.Duplicates += int(c) - 1
	}
	return t
}

// all sends cmd ("" none) to every member, then waits for each one's
// next message, which must be ev.
func all(ctx context.Context, ms []*memberProc, cmd, ev string, timeout time.Duration) ([]memberMsg, error) {
	if cmd != "" {
		for _, m := range ms {
			if err := m.send(cmd); err != nil {
				return nil, err
			}
		}
	}
	out := make([]memberMsg, len(ms))
	for i, m := range ms {
		msg, err := m.expect(ctx, ev, timeout)
		if err != nil {
			return nil, err
		}
		out[i] = msg
	}
	return out, nil
}

// memberProc is one member process and its command stream.
type memberProc struct {
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	msgs   chan memberMsg
	stderr *tailWriter
	done   chan struct{} // closed when stdout ends
}

func (co *ClusterOptions) start(name, cfg string) (*memberProc, error) {
	cmd := co.Spawn(cfg)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	m := &memberProc{name: name, cmd: cmd, in: in, msgs: make(chan memberMsg, 8),
		stderr: &tailWriter{max: 16 << 10}, done: make(chan struct{})}
	if co.Stderr != nil {
		m.stderr.next = co.Stderr
		m.stderr.prefix = name + ": "
	}
	cmd.Stderr = m.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start member %s: %w", name, err)
	}
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 256<<20)
		for sc.Scan() {
			var msg memberMsg
			if json.Unmarshal(sc.Bytes(), &msg) != nil || msg.Ev == "" {
				continue // not ours (a test binary's chatter)
			}
			m.msgs <- msg
		}
	}()
	return m, nil
}

func (m *memberProc) send(cmd string) error {
	if _, err := io.WriteString(m.in, cmd+"\n"); err != nil {
		return fmt.Errorf("bench: member %s: %w%s", m.name, err, m.stderr.tail())
	}
	return nil
}

func (m *memberProc) expect(ctx context.Context, ev string, timeout time.Duration) (memberMsg, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	var msg memberMsg
	select {
	case msg = <-m.msgs:
	case <-m.done:
		// Its last words may be queued behind the end of its stdout.
		select {
		case msg = <-m.msgs:
		default:
			m.wait(5 * time.Second)
			return memberMsg{}, fmt.Errorf("bench: member %s exited (%v) waiting for %q%s", m.name, m.cmd.ProcessState, ev, m.stderr.tail())
		}
	case <-t.C:
		return memberMsg{}, fmt.Errorf("bench: member %s: no %q within %v%s", m.name, ev, timeout, m.stderr.tail())
	case <-ctx.Done():
		return memberMsg{}, ctx.Err()
	}
	switch {
	case msg.Ev == "error":
		return msg, fmt.Errorf("bench: member %s: %s%s", m.name, msg.Err, m.stderr.tail())
	case msg.Ev != ev:
		return msg, fmt.Errorf("bench: member %s said %q, want %q", m.name, msg.Ev, ev)
	case ev == "phase" && msg.Phase == nil, ev == "final" && msg.Final == nil:
		return msg, fmt.Errorf("bench: member %s: %s without its report", m.name, ev)
	}
	return msg, nil
}

// wait reaps the process, killing it after d.
func (m *memberProc) wait(d time.Duration) {
	exited := make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(d):
		_ = m.cmd.Process.Kill()
		<-exited
	}
}

func (m *memberProc) kill() {
	_ = m.in.Close()
	if m.cmd.ProcessState == nil {
		_ = m.cmd.Process.Kill()
		<-m.done
		_ = m.cmd.Wait()
	}
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// tailWriter keeps the last max bytes written and copies every line,
// prefixed, to next.
type tailWriter struct {
	mu     sync.Mutex
	max    int
	buf    []byte
	next   io.Writer
	prefix string
	line   []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > 2*w.max {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-w.max:]...)
	}
	if w.next != nil {
		w.line = append(w.line, p...)
		for {
			i := strings.IndexByte(string(w.line), '\n')
			if i < 0 {
				break
			}
			_, _ = fmt.Fprintf(w.next, "%s%s\n", w.prefix, w.line[:i])
			w.line = w.line[i+1:]
		}
	}
	return len(p), nil
}

// tail is the end of what the process wrote on stderr, for an error.
func (w *tailWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf
	if len(b) > w.max {
		b = b[len(b)-w.max:]
	}
	if len(b) == 0 {
		return ""
	}
	return "; its stderr ends:\n" + string(b)
}

// splitByJID writes the stanzas of path into n files in dir, each JID's
// stanzas to one file (picked by a hash of the JID): the node holding a
// client's connection sees all its presences. Stanzas without a from go
// to the first file.
func splitByJID(path, dir string, n int, seed uint64) ([]string, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	names := make([]string, n)
	files := make([]*os.File, n)
	outs := make([]*bufio.Writer, n)
	closeAll := func() error {
		var errs []error
		for i, f := range files {
			if f != nil {
				errs = append(errs, outs[i].Flush(), f.Close())
			}
		}
		return errors.Join(errs...)
	}
	for i := range n {
		names[i] = filepath.Join(dir, fmt.Sprintf("share-%d.xml", i))
		if files[i], err = os.Create(names[i]); err != nil {
			closeAll()
			return nil, err
		}
		outs[i] = bufio.NewWriterSize(files[i], 256<<10)
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20) // a longer line is an error: the engine would only count it malformed
	var (
		d messages.Decoder
		v messages.PresenceView
	)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		i := 0
		if d.DecodePresence(line, &v) == nil && len(v.From) > 0 {
			i = int(hashJID(seed^0x5a4d, v.From) % uint64(n))
		}
		outs[i].Write(line)
		if err := outs[i].WriteByte('\n'); err != nil {
			closeAll()
			return nil, err
		}
	}
	if err := errors.Join(sc.Err(), closeAll()); err != nil {
		return nil, err
	}
	return names, nil
}

// writeKeysFile lists the resolvable keys of w, one per line, as
// parseKeyLine reads them.
func writeKeysFile(path string, w *workload) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	for _, k := range w.Meta.Keys {
		if k.Honest {
			fmt.Fprintf(bw, "%d %d %x\n", k.Key.Scheme, k.Key.Alg, k.Key.Digest())
		}
	}
	return errors.Join(bw.Flush(), f.Close())
}

func parseKeyLine(s string) (hashing.Key, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return hashing.Key{}, fmt.Errorf("bad key line %q", s)
	}
	scheme, err1 := strconv.ParseUint(f[0], 10, 8)
	alg, err2 := strconv.ParseUint(f[1], 10, 8)
	digest, err3 := hex.DecodeString(f[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return hashing.Key{}, fmt.Errorf("bad key line %q: %w", s, err)
	}
	return hashing.NewKey(hashing.Scheme(scheme), hashing.Algorithm(alg), digest)
}
