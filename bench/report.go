package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/units"
)

// Report is the outcome of Run; --json prints it. Field by field in
// bench/README.md.
type Report struct {
	Version      int                `json:"version"`
	Command      string             `json:"command,omitempty"`
	Machine      machineInfo        `json:"machine"`
	Workload     workloadReport     `json:"workload"`
	Settings     settings           `json:"settings"`
	Engine       *systemReport      `json:"engine"`
	Baseline     *systemReport      `json:"baseline"`
	Ratios       map[string]float64 `json:"ratios"`
	CPURatios    map[string]float64 `json:"cpu_ratios"`
	Targets      targetReport       `json:"targets"`
	TotalSeconds float64            `json:"total_seconds"`
	// BaselineSeconds is the part of TotalSeconds spent on the baseline.
	BaselineSeconds float64 `json:"baseline_seconds"`
}

// machineInfo is where the run happened.
type machineInfo struct {
	Go         string  `json:"go"`
	OS         string  `json:"os"`
	Arch       string  `json:"arch"`
	CPUs       int     `json:"cpus"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	CPUModel   string  `json:"cpu_model,omitempty"`
	Load1      float64 `json:"load1"` // 1-minute load average when the run started
}

// workloadReport describes the stream.
type workloadReport struct {
	Source string `json:"source"` // "generated" or the --input file
	Spec   *Spec  `json:"spec,omitempty"`
	meta
	AvgStanzaBytes float64 `json:"avg_stanza_bytes"`
	Answers        int     `json:"answers"` // disco#info documents the simulated peers know
	GenSeconds     float64 `json:"generate_seconds"`
	ScanSeconds    float64 `json:"scan_seconds"`
}

// settings are the run's knobs.
type settings struct {
	Workers        int     `json:"workers"`
	Batch          int     `json:"batch"`
	LatencyMs      float64 `json:"latency_ms"`
	Jitter         float64 `json:"jitter"`
	QueryTimeoutMs float64 `json:"query_timeout_ms"`
	Liars          float64 `json:"liars"`
	Errors         float64 `json:"errors"`
	Timeouts       float64 `json:"timeouts"`
	Store          string  `json:"store"` // "disk" or "memory"
	Restart        bool    `json:"restart"`
	Baseline       bool    `json:"baseline"`
	Cluster        bool    `json:"cluster"` // the engine was a cluster member (--cluster-name)
}

// systemReport is what one pipeline (the engine or the baseline) did.
type systemReport struct {
	Name   string        `json:"name"`
	Phases []phaseReport `json:"phases"`
	// Queries counts every disco#info query the simulated peers received;
	// VerifiedQueries those answered honestly (and so verified);
	// FailedQueries those answered by liars, with errors, or never.
	Queries          int64 `json:"queries"`
	VerifiedQueries  int64 `json:"verified_queries"`
	FailedQueries    int64 `json:"failed_queries"`
	DuplicateQueries int64 `json:"duplicate_queries"` // honest answers beyond the first for a key, hedges aside
	// HedgedQueries are honest answers beyond the first for a key that
	// the engine asked for as hedges — a second announcer asked while the
	// first was past the hedge delay — and counted itself as duplicate
	// answers. They are the price of a fast fallback on a loaded machine,
	// not a second query for a verified key.
	HedgedQueries  int64 `json:"hedged_queries"`
	UniqueKeys     int   `json:"unique_keys"`
	ResolvableKeys int   `json:"resolvable_keys"`
	ResolvedKeys   int   `json:"resolved_keys"` // keys with a verified entry after the warm pass
	// SeededKeys are the workload's keys the trusted seed holds
	// (Options.SeedTrusted): they resolve without a query, resolvable
	// or not, and are left out of the one-query-per-key count.
	SeededKeys int `json:"seeded_keys,omitempty"`
	// seededResolvable and seededOther split SeededKeys by whether an
	// honest announcer announces them.
	seededResolvable, seededOther int
	// QueriesEqualUniqueKeys: exactly one verified query per resolvable
	// key, every resolvable key resolved, and no query beyond those and
	// the failed ones. With no liars, errors or timeouts it is queries ==
	// unique keys.
	QueriesEqualUniqueKeys bool       `json:"queries_equal_unique_keys"`
	DedupJoins             int64      `json:"dedup_joins"`
	Liars                  liarReport `json:"liars"`
	// ResolveLatency is, per key of the cold pass, the time from the
	// chunk holding its first presence being handed over to the key's
	// verification (the engine's KeyVerified, the baseline's onResolve).
	ResolveLatency latency `json:"resolve_latency"`
	// HonestFirstLatency is ResolveLatency over the keys whose first
	// announcer answers honestly: the pipeline's own latency, without
	// the wait for another announcer that a liar, an error or a silence
	// first costs (the stream's timing, the top percent or so of keys).
	HonestFirstLatency latency `json:"honest_first_latency"`
	// FromHonestLatency is, per resolvable key, the time from the chunk
	// holding its first presence by an honest announcer to its
	// verification: what the pipeline takes once it could resolve the
	// key, past failed announcers (its fallback) and silent ones (its
	// hedge), without the stream's wait for an honest one.
	FromHonestLatency latency `json:"from_honest_latency"`
	// StreamWait is, over ResolveLatency's keys, the time from a key's
	// first presence to its first presence by an honest announcer: the
	// part of ResolveLatency that is the stream's, and a floor under each
	// of its percentiles (keyLatencies).
	StreamWait latency `json:"stream_wait"`
	// WaitLatency (engine only) is the stricter figure the report gave
	// before: until Engine.Wait returned for the key's first JID, on a
	// goroutine started per key. It adds the JID's shard queue and that
	// goroutine's own waits for a CPU, twice: started, and woken.
	WaitLatency latency `json:"wait_latency"`
	// EventsLost (engine only): KeyVerified events the bench's
	// subscription lost; their keys are left out of ResolveLatency.
	EventsLost uint64 `json:"events_lost,omitempty"`
	// QueryDelay is the part of it before the key's first query: how long
	// the pipeline took to act on the key's first presence.
	QueryDelay latency `json:"query_delay"`
	// IngestDelay (engine only) samples, every 20 ms of the cold pass, how
	// long a Sync took: how far the ingest shards lagged behind IngestRawBatch.
	IngestDelay    latency `json:"ingest_delay"`
	Hangs          int     `json:"hangs"`
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
	HeapBytes      int64   `json:"heap_bytes"`
	JIDs           int     `json:"jids"`
	BytesPerJID    float64 `json:"bytes_per_jid"`
	StoreDiskBytes int64   `json:"store_disk_bytes"`
	// StoreReads are the engine's store lookups over the cold and warm
	// passes (the engine only): how many the hot cache served, and how
	// the rest ended in pebble.
	StoreReads *storeReads       `json:"store_reads,omitempty"`
	Counters   map[string]uint64 `json:"counters"`
}

// storeReads counts store lookups: CacheHits + CacheMisses in all, and of
// the misses TrustedHits + UserHits found in pebble, Misses nowhere;
// Filtered counts the reads of a store its key filter answered.
type storeReads struct {
	CacheHits   uint64 `json:"cache_hits"`
	CacheMisses uint64 `json:"cache_misses"`
	TrustedHits uint64 `json:"trusted_hits"`
	UserHits    uint64 `json:"user_hits"`
	Misses      uint64 `json:"misses"`
	Filtered    uint64 `json:"filtered"`
}

// phaseReport is one pass over the stream.
type phaseReport struct {
	Name      string `json:"name"` // cold, warm, restart
	Presences int    `json:"presences"`
	// Seconds runs from the first stanza to the moment every presence
	// was applied and every lookup it started had ended; IngestSeconds
	// stops when the last presence was applied.
	Seconds         float64 `json:"seconds"`
	IngestSeconds   float64 `json:"ingest_seconds"`
	PresencesPerSec float64 `json:"presences_per_sec"`
	// CPUSeconds is the process's CPU time (user + system) during the
	// phase; PresencesPerCPUSec divides by it. On a machine shared with
	// other work it is steadier than wall time.
	CPUSeconds         float64 `json:"cpu_seconds"`
	PresencesPerCPUSec float64 `json:"presences_per_cpu_sec"`
	// SysCPUSeconds is the system part of CPUSeconds, and MinorFaults the
	// page faults the phase took without reading from disk: most are
	// first touches of fresh memory.
	SysCPUSeconds float64 `json:"sys_cpu_seconds"`
	MinorFaults   int64   `json:"minor_faults"`
	// GoroutinesStarted is how many goroutines the process started during
	// the phase: each costs a stack, grown again by deep calls.
	GoroutinesStarted uint64 `json:"goroutines_started"`
	Queries           int64  `json:"queries"`
	DedupJoins        int64  `json:"dedup_joins"`
	// Sched is how long runnable goroutines waited for a CPU during the
	// phase; MaxGoroutines the most goroutines seen at a sample.
	Sched         schedLatency      `json:"sched_latency"`
	MaxGoroutines int               `json:"max_goroutines"`
	GCCycles      uint32            `json:"gc_cycles"`
	GCPauseMs     float64           `json:"gc_pause_ms"`
	Counters      map[string]uint64 `json:"counters"`
	Throughput    []sample          `json:"throughput"`
	// Waits (engine only) is how long each kind of the engine's work sat
	// queued during the phase (capsengine.Latencies.Waits).
	Waits map[string]waitReport `json:"waits,omitempty"`
}

// liarReport: Answers wrong answers were received, Caught of them
// rejected by verification, Accepted believed.
type liarReport struct {
	Answers   int64 `json:"answers"`
	Caught    int64 `json:"caught"`
	Accepted  int64 `json:"accepted"`
	AllCaught bool  `json:"all_caught"`
}

// targetReport are issue 5's goals, checked on this run.
type targetReport struct {
	WarmRatio  float64 `json:"warm_ratio"`  // engine/baseline presences/s; 0 without --baseline
	WarmTarget float64 `json:"warm_target"` // the warm ratio to reach (Options.WarmTarget, 5)
	WarmOK     bool    `json:"warm_ok"`
	ColdRatio  float64 `json:"cold_ratio"`
	ColdTarget float64 `json:"cold_target"` // Options.ColdTarget, 3
	ColdOK     bool    `json:"cold_ok"`

	QueriesEqualUniqueKeys bool `json:"queries_equal_unique_keys"`
	AllLiarsCaught         bool `json:"all_liars_caught"`
	NoHangs                bool `json:"no_hangs"`
	RSSUnder1GiB           bool `json:"rss_under_1gib"`
	// UnderOneMinute: the run without the baseline's part
	// (total_seconds - baseline_seconds) took less than a minute.
	UnderOneMinute bool `json:"under_one_minute"`
}

// Correct reports whether the engine kept its correctness guarantees:
// dedup, every liar caught, nobody hung.
func (t *targetReport) Correct() bool {
	return t.QueriesEqualUniqueKeys && t.AllLiarsCaught && t.NoHangs
}

// Broken returns one line per correctness guarantee the engine broke
// (Correct), saying what was measured; none when it broke none.
func (r *Report) Broken() []string {
	t, e := &r.Targets, r.Engine
	var out []string
	if !t.QueriesEqualUniqueKeys {
		// The paths a second query can take, so that a rare failure (one
		// in CI runs under load) says which one it took.
		c := e.Counters
		out = append(out, fmt.Sprintf("one query per resolvable key: %d queries = %d verified + %d failed for %d resolvable keys (%d resolved), %d duplicates (%d hedges aside); engine: hedges %d, retries %d, timeouts %d, late answers %d, early queries %d, queries cancelled %d, slow abandoned %d, lookup rounds %d",
			e.Queries, e.VerifiedQueries, e.FailedQueries, e.ResolvableKeys, e.ResolvedKeys, e.DuplicateQueries, e.HedgedQueries,
			c["hedges"], c["retries"], c["timeouts"], c["late_answers"], c["early_queries"], c["queries_cancelled"], c["slow_abandoned"], c["lookup_rounds"]))
	}
	if !t.AllLiarsCaught {
		out = append(out, fmt.Sprintf("every liar caught: %d of %d wrong answers believed", e.Liars.Accepted, e.Liars.Answers))
	}
	if !t.NoHangs {
		out = append(out, fmt.Sprintf("no hangs: %d waits unanswered", e.Hangs))
	}
	return out
}

// Missed returns one line per target the run missed, saying what was
// measured and what was wanted; none when every target was met. The
// ratio targets need a baseline: without one they are reported missed,
// not measured.
func (r *Report) Missed() []string {
	t, e := &r.Targets, r.Engine
	var out []string
	if r.Baseline == nil {
		out = append(out, "warm and cold ratios: not measured (no baseline ran; --check runs it)")
	} else {
		if !t.WarmOK {
			out = append(out, fmt.Sprintf("warm: the engine did %.2f× the baseline's presences/s, target ≥ %g×", t.WarmRatio, t.WarmTarget))
		}
		if !t.ColdOK {
			out = append(out, fmt.Sprintf("cold: the engine did %.2f× the baseline's presences/s, target ≥ %g×", t.ColdRatio, t.ColdTarget))
		}
	}
	out = append(out, r.Broken()...)
	if !t.RSSUnder1GiB {
		out = append(out, fmt.Sprintf("peak RSS: %s, target < 1 GiB", units.Bytes(e.PeakRSSBytes)))
	}
	if !t.UnderOneMinute {
		out = append(out, fmt.Sprintf("run time: %.1f s without the baseline, target < 60 s", r.TotalSeconds-r.BaselineSeconds))
	}
	return out
}

func (r *Report) phase(sys *systemReport, name string) *phaseReport {
	if sys == nil {
		return nil
	}
	for i := range sys.Phases {
		if sys.Phases[i].Name == name {
			return &sys.Phases[i]
		}
	}
	return nil
}

// WriteText prints the human summary.
func (r *Report) WriteText(w io.Writer) {
	wl := &r.Workload
	fmt.Fprintf(w, "workload: %s presences (%s JIDs, %s unique keys, %s resolvable), %.0f B/stanza, %s; %s\n",
		count(wl.Presences), count(wl.JIDs), count(wl.UniqueKeys), count(wl.Resolvable),
		wl.AvgStanzaBytes, units.Bytes(wl.Bytes), wl.Source)
	fmt.Fprintf(w, "peers: latency %.2g ms (jitter σ %.2g), liars %d JIDs, errors %d, timeouts %d; workers %d, batch %d, store %s\n",
		r.Settings.LatencyMs, r.Settings.Jitter, wl.LiarJIDs, wl.ErrorJIDs, wl.TimeoutJIDs,
		r.Settings.Workers, r.Settings.Batch, r.Settings.Store)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tengine/s\tbaseline/s\tratio\tengine/CPU-s\tbaseline/CPU-s\tCPU ratio\tqueries\tdedup joins\t")
	for _, p := range r.Engine.Phases {
		b := r.phase(r.Baseline, p.Name)
		bs, ratio, bc, cratio := "-", "-", "-", "-"
		if b != nil {
			bs, bc = count(int(b.PresencesPerSec)), count(int(b.PresencesPerCPUSec))
			ratio = fmt.Sprintf("%.1f×", r.Ratios[p.Name])
			cratio = fmt.Sprintf("%.1f×", r.CPURatios[p.Name])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n", p.Name, count(int(p.PresencesPerSec)), bs, ratio,
			count(int(p.PresencesPerCPUSec)), bc, cratio, p.Queries, p.DedupJoins)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, s := range []*systemReport{r.Engine, r.Baseline} {
		if s == nil {
			continue
		}
		l := &s.ResolveLatency
		fmt.Fprintf(w, "%s: queries %d = %d verified + %d failed (unique keys %d, resolvable %d, resolved %d, duplicates %d, hedged %d) → one query per key: %v\n",
			s.Name, s.Queries, s.VerifiedQueries, s.FailedQueries, s.UniqueKeys, s.ResolvableKeys, s.ResolvedKeys, s.DuplicateQueries, s.HedgedQueries, yes(s.QueriesEqualUniqueKeys))
		if s.SeededKeys > 0 {
			fmt.Fprintf(w, "%s: %d of the workload's keys were in the trusted seed, resolved without a query\n", s.Name, s.SeededKeys)
		}
		fmt.Fprintf(w, "%s: liars caught %d of %d (accepted %d); dedup joins %d; hangs %d\n",
			s.Name, s.Liars.Caught, s.Liars.Answers, s.Liars.Accepted, s.DedupJoins, s.Hangs)
		fmt.Fprintf(w, "%s: cold-key resolve p50 %.2f ms, p99 %.2f ms, p999 %.2f ms, max %.2f ms (%d keys, %d failed first lookups); first query after p50 %.2f ms, p99 %.2f ms\n",
			s.Name, l.P50Ms, l.P99Ms, l.P999Ms, l.MaxMs, l.Count, l.Failed, s.QueryDelay.P50Ms, s.QueryDelay.P99Ms)
		if hl := &s.HonestFirstLatency; hl.Count > 0 {
			fmt.Fprintf(w, "%s: cold-key resolve, the %d keys whose first announcer is honest: p50 %.2f ms, p99 %.2f ms, p999 %.2f ms\n",
				s.Name, hl.Count, hl.P50Ms, hl.P99Ms, hl.P999Ms)
		}
		if fl := &s.FromHonestLatency; fl.Count > 0 {
			fmt.Fprintf(w, "%s: cold-key resolve from the first honest announcer's presence, %d keys: p50 %.2f ms, p99 %.2f ms, p999 %.2f ms\n",
				s.Name, fl.Count, fl.P50Ms, fl.P99Ms, fl.P999Ms)
		}
		if sw := &s.StreamWait; sw.Count > 0 {
			fmt.Fprintf(w, "%s: the stream's own wait, from a key's first presence to its first honest one: p99 %.2f ms, p999 %.2f ms (a floor under the cold-key resolve's)\n",
				s.Name, sw.P99Ms, sw.P999Ms)
		}
		if wl := &s.WaitLatency; wl.Count > 0 {
			fmt.Fprintf(w, "%s: cold-key Wait for its first JID returned after p50 %.2f ms, p99 %.2f ms (through the JID's shard, on a goroutine per key)",
				s.Name, wl.P50Ms, wl.P99Ms)
			if s.EventsLost > 0 {
				fmt.Fprintf(w, "; %d KeyVerified events lost, their keys not timed", s.EventsLost)
			}
			fmt.Fprintln(w)
		}
		for _, p := range s.Phases {
			if p.CPUSeconds > 0 {
				fmt.Fprintf(w, "%s: %s pass CPU %.1f s, %.0f%% of it in the kernel; %s minor page faults; %s goroutines started\n",
					s.Name, p.Name, p.CPUSeconds, 100*p.SysCPUSeconds/p.CPUSeconds, count(int(p.MinorFaults)), count(int(p.GoroutinesStarted)))
			}
		}
		for _, p := range s.Phases {
			var drops []string
			for _, k := range sortedKeys(p.Counters) {
				if strings.HasPrefix(k, "drop_") && p.Counters[k] > 0 {
					drops = append(drops, fmt.Sprintf("%s %d", k, p.Counters[k]))
				}
			}
			if len(drops) > 0 {
				fmt.Fprintf(w, "%s: %s pass dropped: %s\n", s.Name, p.Name, strings.Join(drops, ", "))
			}
		}
		if len(l.FailedBy) > 0 {
			fmt.Fprintf(w, "%s: failed first lookups by cause: %s\n", s.Name, keyValues(l.FailedBy))
		}
		if s.IngestDelay.Count > 0 {
			fmt.Fprintf(w, "%s: ingest queue delay during the cold pass p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d probes)\n",
				s.Name, s.IngestDelay.P50Ms, s.IngestDelay.P99Ms, s.IngestDelay.MaxMs, s.IngestDelay.Count)
		}
		for _, p := range s.Phases {
			if len(p.Waits) == 0 {
				continue
			}
			var parts []string
			for _, kind := range []string{"ingest", "route", "lookup", "query", "answer"} {
				if wr, ok := p.Waits[kind]; ok && wr.Count > 0 {
					parts = append(parts, fmt.Sprintf("%s p50 ≤%s p99 ≤%s", kind, micros(wr.P50Us), micros(wr.P99Us)))
				}
			}
			if len(parts) > 0 {
				fmt.Fprintf(w, "%s: %s pass queue waits: %s\n", s.Name, p.Name, strings.Join(parts, ", "))
			}
		}
		store := ""
		if s.StoreDiskBytes > 0 {
			store = ", store on disk " + units.Bytes(s.StoreDiskBytes)
		}
		fmt.Fprintf(w, "%s: peak RSS %s, heap %s for %s JIDs = %.0f B/JID%s\n",
			s.Name, units.Bytes(s.PeakRSSBytes), units.Bytes(s.HeapBytes), count(s.JIDs), s.BytesPerJID, store)
		if r := s.StoreReads; r != nil {
			fmt.Fprintf(w, "%s: store reads %s: hot cache hits %s; in the stores %s found, %s missing (%s answered by their key filters)\n", s.Name,
				count(int(r.CacheHits+r.CacheMisses)), count(int(r.CacheHits)), count(int(r.TrustedHits+r.UserHits)), count(int(r.Misses)), count(int(r.Filtered)))
		}
	}
	t := &r.Targets
	fmt.Fprintln(w)
	var parts []string
	if r.Baseline != nil {
		parts = append(parts,
			fmt.Sprintf("warm ≥%g× %s (%.1f×)", t.WarmTarget, mark(t.WarmOK), t.WarmRatio),
			fmt.Sprintf("cold ≥%g× %s (%.1f×)", t.ColdTarget, mark(t.ColdOK), t.ColdRatio))
	}
	parts = append(parts,
		"queries == unique keys "+mark(t.QueriesEqualUniqueKeys),
		"liars caught "+mark(t.AllLiarsCaught),
		"no hangs "+mark(t.NoHangs),
		"RSS < 1 GiB "+mark(t.RSSUnder1GiB),
		fmt.Sprintf("run < 1 min %s (%.1f s%s)", mark(t.UnderOneMinute), r.TotalSeconds-r.BaselineSeconds, baselineNote(r)))
	fmt.Fprintf(w, "targets: %s\n", strings.Join(parts, ", "))
}

// micros prints a wait given in microseconds.
func micros(us float64) string {
	if us >= 1000 {
		return trimZeroFloat(us/1000) + " ms"
	}
	return trimZeroFloat(us) + " µs"
}

// keyValues renders m as "k=v" pairs sorted by key, for the text summary
// (a map printed with %v reads as Go, not as a report).
func keyValues[V int | int64 | uint64](m map[string]V) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]uint64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func baselineNote(r *Report) string {
	if r.Baseline == nil {
		return ""
	}
	return fmt.Sprintf(" without the baseline's %.1f s", r.BaselineSeconds)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func mark(b bool) string {
	if b {
		return "ok"
	}
	return "MISSED"
}

// count formats n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// splitHedged splits the peers' duplicate honest answers into those the
// engine asked for as hedges — it counts each answer that lost to another
// as duplicate_answers — and the rest, which break one query per key.
func splitHedged(dups int64, counters map[string]uint64) (duplicate, hedged int64) {
	hedged = min(dups, int64(counters["duplicate_answers"]))
	return dups - hedged, hedged
}

// seed records which of the workload's keys the trusted seed holds.
func (rep *systemReport) seed(keys []keyStat, seeded map[hashing.Key]bool) {
	for i := range keys {
		if !seeded[keys[i].Key] {
			continue
		}
		rep.SeededKeys++
		if keys[i].Honest {
			rep.seededResolvable++
		} else {
			rep.seededOther++
		}
	}
}

// settle fills what every system's report takes from the peers and the
// final counters: query accounting, the dedup verdict, liars caught, and
// peak RSS. ResolvableKeys and ResolvedKeys must be set before.
func (rep *systemReport) settle(p *peers, total map[string]uint64) {
	rep.PeakRSSBytes = readStatus("VmHWM")
	rep.Counters = total
	rep.Queries = p.Queries.Load()
	rep.VerifiedQueries = p.HonestAnswers.Load()
	rep.FailedQueries = p.Failed()
	dups := p.Duplicates()
	rep.DuplicateQueries, rep.HedgedQueries = splitHedged(dups, total)
	rep.DedupJoins = int64(total["dedup_joins"])
	rep.QueriesEqualUniqueKeys = rep.DuplicateQueries == 0 &&
		rep.VerifiedQueries-rep.HedgedQueries == int64(rep.ResolvableKeys-rep.seededResolvable) &&
		rep.ResolvedKeys == rep.ResolvableKeys+rep.seededOther &&
		rep.Queries == rep.VerifiedQueries+rep.FailedQueries
	caught := int64(total["mismatches"] + total["rejected"])
	rep.Liars = liarReport{Answers: p.LiarAnswers.Load(), Caught: caught, Accepted: p.LiarAnswers.Load() - caught}
	rep.Liars.AllCaught = rep.Liars.Accepted == 0
}
