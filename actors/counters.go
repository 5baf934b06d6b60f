package actors

import (
	"reflect"
	"sync/atomic"
)

// Counters are the engine's running totals. Every drop has its own counter:
// nothing is discarded silently.
type Counters struct {
	Presences   atomic.Uint64 // presences ingested
	Unavailable atomic.Uint64 // unavailable presences
	Hits        atomic.Uint64 // key already known (cache, trusted or user DB)
	Misses      atomic.Uint64 // key unknown on arrival: sent to a lookup
	// Lookups started by the ingesting caller at a key's first contact,
	// ahead of its shard (first.go).
	EarlyLookups atomic.Uint64
	// Of those, the ones whose first query the caller sent itself
	// (early.go): the key was new to the whole engine.
	EarlyQueries atomic.Uint64
	Queries      atomic.Uint64 // disco#info queries sent
	// The query queue: jobs queued, and of those dropped unsent because
	// their lookup ended first (or their deadline passed).
	QueriesQueued    atomic.Uint64
	QueriesCancelled atomic.Uint64
	Hedges           atomic.Uint64 // queries sent while another for the key was out, unanswered past the hedge delay
	DuplicateAnswers atomic.Uint64 // verified answers that came after another had won (a hedge's cost)
	LateAnswers      atomic.Uint64 // verified answers that came after their lookup failed: told and stored all the same
	SlowAbandoned    atomic.Uint64 // queries past the hedge delay abandoned: MaxSlowQueries reached
	LookupRounds     atomic.Uint64 // lookups that reached LookupTimeout and went on with untried announcers
	Retries          atomic.Uint64 // announcers asked once more after their query timed out
	DedupJoins       atomic.Uint64 // presences that joined a lookup already under way
	Resolved         atomic.Uint64 // keys resolved by a verified answer
	Mismatches       atomic.Uint64 // answers that did not hash to the key
	Rejected         atomic.Uint64 // answers breaking a §5.4 rule
	QueryErrors      atomic.Uint64 // queries answered with an error
	Timeouts         atomic.Uint64 // queries that timed out
	Failed           atomic.Uint64 // lookups that ended without a verified answer
	StoreErrors      atomic.Uint64 // verified answers the store could not keep
	LenientOK        atomic.Uint64 // answers verified only under Config.Verify leniencies
	Malformed        atomic.Uint64 // stanzas that did not decode, or bad caps (unknown alg, bad base64)
	NoCaps           atomic.Uint64 // available presences without verifiable caps (none, or legacy)
	// Config.QueryUnhashed: disco#info queries to JIDs without a
	// verifiable hash, their usable answers, their failures (error,
	// timeout, oversized or missing answer), and the JIDs not asked:
	// over UnhashedRate, MaxUnhashedInFlight reached, MaxUnhashed reached.
	UnhashedQueries  atomic.Uint64
	UnhashedAnswers  atomic.Uint64
	UnhashedFailures atomic.Uint64
	UnhashedDropRate atomic.Uint64
	UnhashedDropBusy atomic.Uint64
	UnhashedDropFull atomic.Uint64
	DropMUC          atomic.Uint64 // MUC occupant presences skipped (SkipMUC)
	DropLookups      atomic.Uint64 // presences dropped: MaxLookups reached
	DropAnnounce     atomic.Uint64 // announcers not remembered: MaxAnnouncersPerKey reached
	DropRate         atomic.Uint64 // announcers skipped: over their query rate
	DropBad          atomic.Uint64 // announcers skipped: recently failed for this key
	EventDrops       atomic.Uint64 // events not delivered to a slow subscriber
	DropNotify       atomic.Uint64 // presences not told how their lookup ended: MaxWaitingJIDs reached
	VerChanges       atomic.Uint64 // VerChanged events published
	// Panics recovered inside the engine's actors (a bug: each is logged
	// with its stack at Error). Counted so that a run without a logger,
	// such as a soak, still shows them.
	// WireRefused counts cluster messages refused: another wire version
	// (a member not upgraded) or malformed.
	WireRefused atomic.Uint64
	Panics      atomic.Uint64

	ClusterRequests atomic.Uint64 // requests to a key's cluster owner
	ClusterRetries  atomic.Uint64 // of which failed to reach it (and were retried)
	ClusterEntries  atomic.Uint64 // verified entries received from other members
	// Owner side: requests this member's owners got from another member
	// (cross-node lookups), and queries they granted another member (of
	// that member's announcer).
	ClusterRemoteResolves atomic.Uint64
	ClusterRemoteQueries  atomic.Uint64
	// Probes new owners sent to past owners of their key (at most 3 per
	// key, whatever the cluster's size).
	ClusterProbes atomic.Uint64
	// Owners that gave up waiting: for the member running their query,
	// and for the other members' answer to a probe. Either may cost a
	// second query for a key under heavy load.
	ClusterOwnerTimeouts atomic.Uint64
	ClusterProbeTimeouts atomic.Uint64
	// Requests an owner dropped rather than grant them: they had waited
	// longer than their member does for an answer (RequestTimeout).
	ClusterStaleRequests atomic.Uint64
}

// Snapshot returns every counter by field name.
func (c *Counters) Snapshot() map[string]uint64 {
	out := make(map[string]uint64)
	v := reflect.ValueOf(c).Elem()
	for i := 0; i < v.NumField(); i++ {
		out[v.Type().Field(i).Name] = v.Field(i).Addr().Interface().(*atomic.Uint64).Load()
	}
	return out
}
