package bench

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/capsengine/capsengine/internal/units"
)

// WriteText prints the human summary of a cluster run.
func (r *ClusterReport) WriteText(w io.Writer) {
	wl := &r.Workload
	fmt.Fprintf(w, "workload: %s presences (%s JIDs, %s unique keys, %s resolvable), %.0f B/stanza, %s; %s\n",
		count(wl.Presences), count(wl.JIDs), count(wl.UniqueKeys), count(wl.Resolvable),
		wl.AvgStanzaBytes, units.Bytes(wl.Bytes), wl.Source)
	fmt.Fprintf(w, "peers: latency %.2g ms (jitter σ %.2g), liars %d JIDs, errors %d, timeouts %d; workers %d per process, batch %d, store %s\n",
		r.Settings.LatencyMs, r.Settings.Jitter, wl.LiarJIDs, wl.ErrorJIDs, wl.TimeoutJIDs,
		r.Settings.Workers, r.Settings.Batch, r.Settings.Store)
	if r.Pinned {
		fmt.Fprintf(w, "runs: 1 process with the whole stream on 1 core, then %d cluster members on loopback, each on a core of its own with the JIDs hashed to it (GOMAXPROCS 1 each; %d CPUs)\n",
			r.Members, r.Machine.CPUs)
	} else {
		fmt.Fprintf(w, "runs: 1 process with the whole stream (GOMAXPROCS %d), then %d cluster members on loopback, each with the JIDs hashed to it (GOMAXPROCS %d each; %d CPUs)\n",
			r.Machine.GOMAXPROCS, r.Members, r.MemberProcs, r.Machine.CPUs)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	cl := fmt.Sprintf("%d members", r.Members)
	fmt.Fprintf(tw, "phase\t1 process/s\t%s/s\tratio\t1 process/CPU-s\t%s/CPU-s\tCPU ratio\tqueries 1 / %d\t\n", cl, cl, r.Members)
	for _, c := range r.Cluster.Phases {
		s := r.Single.phase(c.Name)
		if s == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f×\t%s\t%s\t%.2f×\t%d / %d\t\n", c.Name,
			count(int(s.PresencesPerSec)), count(int(c.PresencesPerSec)), r.Ratios[c.Name],
			count(int(s.PresencesPerCPUSec)), count(int(c.PresencesPerCPUSec)), r.CPURatios[c.Name],
			s.Queries, c.Queries)
	}
	tw.Flush()
	if r.Pinned {
		fmt.Fprintf(w, "scale-out efficiency, cluster ÷ (%d × 1 process): cold %.2f, warm %.2f\n",
			r.Members, r.Efficiency["cold"], r.Efficiency["warm"])
		if len(r.Parallel) > 0 {
			fmt.Fprintf(w, "  = the machine's scaling, %d independent processes at once ÷ (%d × 1 process alone): cold %.2f, warm %.2f\n",
				r.Members, r.Members, r.MachineScaling["cold"], r.MachineScaling["warm"])
			fmt.Fprintf(w, "  × the cluster's, cluster ÷ %d independent processes at once: cold %.2f, warm %.2f\n",
				r.Members, r.ClusterScaling["cold"], r.ClusterScaling["warm"])
		}
	}
	fmt.Fprintln(w)
	for _, s := range []struct {
		name string
		side *clusterSide
	}{{"1 process", r.Single}, {cl, r.Cluster}} {
		d, l := s.side, &s.side.ResolveLatency
		fmt.Fprintf(w, "%s: queries %d = %d verified + %d failed (resolvable %d, held by every process %d, duplicates %d, hedged %d) → one query per key: %v\n",
			s.name, d.Queries, d.VerifiedQueries, d.FailedQueries, d.ResolvableKeys, d.ResolvedKeysMin, d.DuplicateQueries, d.HedgedQueries, yes(d.OneQueryPerKey))
		fmt.Fprintf(w, "%s: liars caught %d of %d; hangs %d; cold-key resolve p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d keys, %d failed first lookups)\n",
			s.name, d.Liars.Caught, d.Liars.Answers, d.Hangs, l.P50Ms, l.P99Ms, l.MaxMs, l.Count, l.Failed)
		fmt.Fprintf(w, "%s: peak RSS %s in all, %s JIDs; goroutines waited for a CPU up to %.0f ms (p99, cold pass, worst process)\n",
			s.name, units.Bytes(d.PeakRSSBytes), count(d.JIDs), d.worstSchedP99("cold"))
		if t := d.Trickle; t != nil {
			fmt.Fprintf(w, "%s: unloaded, %d new keys one at a time: resolve p50 %.2f ms, p99 %.2f ms; %.0f µs CPU per key; %d queries (%d duplicates)\n",
				s.name, t.Keys, t.Latency.P50Ms, t.Latency.P99Ms, t.CPUMicrosPerKey, t.Queries, t.Duplicates)
		}
	}
	x := &r.CrossNode
	fmt.Fprintln(w)
	fmt.Fprintf(w, "cross-node: %s owner requests, %s of them to an owner on another member; %s queries run by another member; %s entries broadcast\n",
		count(int(x.OwnerRequests)), count(int(x.Lookups)), count(int(x.Queries)), count(int(x.Entries)))
	fmt.Fprintf(w, "cost per cross-node lookup, loaded: %.1f µs of CPU and %.1f goroutines started (the cluster's extra cold pass ÷ cross-node lookups); cold-key resolve p50 %+.2f ms, p99 %+.2f ms\n",
		x.CPUMicrosPerLookup, x.GoroutinesPerLookup, x.AddedP50Ms, x.AddedP99Ms)
	if r.Cluster.Trickle != nil && r.Single.Trickle != nil {
		fmt.Fprintf(w, "cost per new key, unloaded: %+.0f µs of CPU, resolve p50 %+.2f ms\n", x.UnloadedCPUMicrosPerKey, x.UnloadedAddedP50Ms)
	}
	fmt.Fprintf(w, "query ratio %.3f (cluster ÷ 1 process); correct: %v; %.1f s in all\n", r.QueryRatio, yes(r.Correct), r.TotalSeconds)
}
