package actors

// Gauges are the engine's levels now, as opposed to Counters' running
// totals. Each is bounded by what is live — keys in flight, queries
// waiting, JIDs online — never by what was ever seen; a soak that watches
// them checks exactly that.
type Gauges struct {
	LiveLookups     int64 // lookup actors alive (querying, or idle before passivation)
	QueuedQueries   int64 // disco#info queries waiting for a slot
	QueriesInFlight int64 // disco#info queries sent and not yet answered, slow ones included
	ParkedRequests  int64 // requests waiting for a lookup (MaxLookups reached)
	SlowQueries     int64 // queries past the hedge delay, not holding a slot
	// QueryWorkers are the query worker goroutines, idle ones included: at
	// most MaxQueriesInFlight hold a slot, and the slow ones are
	// SlowQueries. An idle worker leaves after 10 s without a job.
	QueryWorkers  int64
	WaitingJIDs   int64 // JIDs held by lookups to be told how they end
	RouterBacklog int64 // lookup requests queued for the router
	JIDs          int64 // online JIDs with caps
	// UnhashedJIDs are the online JIDs without a verifiable hash kept
	// with their own answer (Config.QueryUnhashed; not in JIDs).
	UnhashedJIDs int64
	// LiveOwners are the key owners (cluster mode) live on this member:
	// keys it owns that are being resolved, or were until the owner
	// passivates. 0 outside cluster mode.
	LiveOwners int64
	// IdleWorkers are the actor dispatch workers parked for the next
	// mailbox run: at most 64 per CPU, kept across bursts.
	IdleWorkers int64
}

func (r *Runtime) unhashedJIDs() int {
	n := 0
	for _, sh := range r.shards {
		n += sh.table.unhashedLen()
	}
	return n
}

// Gauges reads the engine's levels. Each is read atomically on its own;
// together they are a near-instant, not a consistent, snapshot.
func (r *Runtime) Gauges() Gauges {
	d := r.d
	return Gauges{
		LiveLookups:     d.live.Load(),
		QueuedQueries:   d.queued.Load(),
		QueriesInFlight: d.queries.running.Load(),
		ParkedRequests:  d.parked.Load(),
		SlowQueries:     d.queries.slow.Load(),
		QueryWorkers:    d.queries.alive.Load(),
		WaitingJIDs:     d.waiting.Load(),
		RouterBacklog:   d.backlog.Load(),
		JIDs:            int64(r.JIDs()),
		UnhashedJIDs:    int64(r.unhashedJIDs()),
		LiveOwners:      d.owners.Load(),
		IdleWorkers:     int64(d.dispatcher.idle.Load()),
	}
}
