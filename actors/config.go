package actors

import (
	"runtime"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// Config tunes the actors. The zero value of each field means its default.
type Config struct {
	// Shards is the number of ingest actors; presences of one full JID
	// always go to the same one, in order. Default: 2 × GOMAXPROCS.
	Shards int
	// ShardQueue bounds the presences queued for one ingest shard, in
	// presences; Ingest waits (backpressure, honouring its context) when
	// it is full. Default 16384 (measured: 4096 halved warm throughput
	// on 2 cores, 65536 tripled cold-key latency).
	ShardQueue int

	// QueryTimeout is how long one disco#info query may take before the
	// next announcer is asked. Default 10s.
	QueryTimeout time.Duration
	// LookupTimeout bounds a whole lookup, every announcer included: when
	// it passes, every waiter gets ErrLookupTimeout. Default 60s.
	LookupTimeout time.Duration
	// BadAnnouncerTTL is how long an (announcer, key) pair that failed or
	// lied is not asked again. Default 10m.
	BadAnnouncerTTL time.Duration
	// FailureTTL is how long a key whose lookup failed is reported as
	// failed by Caps. Default 1m.
	FailureTTL time.Duration
	// LookupIdle keeps a finished lookup actor this long without
	// messages before it is stopped. Default 0: at once — the store and
	// the failure table answer for a finished key, so live lookups are
	// bounded by the keys in flight.
	LookupIdle time.Duration
	// HedgeMin is the least hedge delay: a query unanswered for the
	// hedge delay — 4 × the p99 of recent honest answer times, at least
	// HedgeMin, at most QueryTimeout — gives up its slot (see
	// MaxSlowQueries) and its lookup asks the next announcer too; the
	// first verified answer wins. Default 250ms; negative: never hedge.
	HedgeMin time.Duration

	// MaxLookups bounds live lookup actors (about 1 KiB each plus their
	// announcer lists). Presences needing a new one beyond it are dropped
	// and counted. Default 100,000.
	MaxLookups int
	// RouterQueue bounds the lookup requests waiting for the router that
	// dispatches them to lookup actors; beyond it presences with unknown
	// keys are dropped and counted (DropLookups). Default 65,536.
	RouterQueue int
	// MaxAnnouncersPerKey bounds the announcers remembered as fallbacks
	// for one key. Default 32.
	MaxAnnouncersPerKey int
	// MaxWaitingJIDs bounds the presences held, across all lookups, to
	// be told by a CapsResolved or CapsFailed event when their lookup
	// ends (held only while someone subscribes to those events). Past
	// it a presence is counted in DropNotify and gets no event. Default
	// 1,000,000.
	MaxWaitingJIDs int
	// MaxQueriesInFlight bounds concurrent disco#info queries younger
	// than the hedge delay (each one a worker goroutine). Default 1024.
	MaxQueriesInFlight int
	// MaxSlowQueries bounds the queries still unanswered past the hedge
	// delay, which no longer hold one of MaxQueriesInFlight: past it a
	// slow query is abandoned as timed out (SlowAbandoned). Default 4 ×
	// MaxQueriesInFlight.
	MaxSlowQueries int
	// AnnouncerRate is the disco#info queries per second one announcer
	// (full JID) may cause, with AnnouncerBurst; beyond it the announcer
	// is skipped and counted. Defaults 1/s and 10.
	AnnouncerRate  float64
	AnnouncerBurst int
	// MaxTrackedAnnouncers bounds the rate-limit and bad-announcer tables.
	// Default 1,000,000.
	MaxTrackedAnnouncers int

	// QueryUnhashed asks entities whose presence has no verifiable hash
	// (no caps, legacy XEP-0115 v1.0 caps, an unknown algorithm, a hash
	// that does not decode) one disco#info each, to their full JID
	// without a node (unhashed.go says why), and keeps each answer for that
	// JID alone, in memory: never in the store, never for another JID,
	// dropped when the JID goes offline. Caps, Supports and Wait serve
	// it; its CapsResolved is marked Unverified. Off by default: such a
	// query costs a round trip per JID, not per client version.
	QueryUnhashed bool
	// UnhashedTTL is how long such an answer is served before the JID is
	// asked again (on its next presence, Caps or Wait). Default 1h.
	UnhashedTTL time.Duration
	// MaxUnhashed bounds the unhashed JIDs kept (spread over the shards).
	// A full shard forgets a stale entry to make room; with none, a new
	// JID is not asked and stays unknown, counted (UnhashedDropFull).
	// Default 100,000.
	MaxUnhashed int
	// UnhashedRate and UnhashedBurst are the engine-wide token bucket of
	// unhashed queries, per second; MaxUnhashedInFlight bounds those
	// unanswered at once. A JID over either is not asked, counted, and
	// told ErrRateLimited or ErrOverloaded until its next presence.
	// Defaults 20/s, 50 and 64.
	UnhashedRate        float64
	UnhashedBurst       int
	MaxUnhashedInFlight int

	// SkipMUC drops presences of MUC occupants (those carrying
	// muc#user), counted, for crawlers that only want direct contacts.
	SkipMUC bool
	// Verify admits the real-world hashing leniencies; strict by default.
	Verify hashing.Options

	// Debounce coalesces changes of our own disco#info within this window
	// into one VerChanged. Default 25ms; negative means none.
	Debounce time.Duration
	// LocalHash is the XEP-0115 algorithm of our own ver (default sha-1,
	// what every client verifies); LocalCaps2 the XEP-0390 ones (default
	// sha-256 and sha3-256). LocalNode is our caps node.
	LocalHash  hashing.Algorithm
	LocalCaps2 []hashing.Algorithm
	LocalNode  string

	// Limits bound decoded stanzas (see messages.Limits); zero fields take
	// their defaults.
	Limits messages.Limits
}

func (c *Config) setDefaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Shards, 2*runtime.GOMAXPROCS(0))
	def(&c.ShardQueue, 16384)
	defD(&c.QueryTimeout, 10*time.Second)
	defD(&c.LookupTimeout, 60*time.Second)
	defD(&c.BadAnnouncerTTL, 10*time.Minute)
	defD(&c.FailureTTL, time.Minute)
	def(&c.MaxLookups, 100_000)
	def(&c.RouterQueue, 65_536)
	def(&c.MaxAnnouncersPerKey, 32)
	def(&c.MaxWaitingJIDs, 1_000_000)
	def(&c.MaxQueriesInFlight, 1024)
	def(&c.MaxSlowQueries, 4*c.MaxQueriesInFlight)
	defD(&c.HedgeMin, 250*time.Millisecond)
	if c.AnnouncerRate <= 0 {
		c.AnnouncerRate = 1
	}
	def(&c.AnnouncerBurst, 10)
	def(&c.MaxTrackedAnnouncers, 1_000_000)
	if c.UnhashedTTL <= 0 {
		c.UnhashedTTL = time.Hour
	}
	def(&c.MaxUnhashed, 100_000)
	if c.UnhashedRate <= 0 {
		c.UnhashedRate = 20
	}
	def(&c.UnhashedBurst, 50)
	def(&c.MaxUnhashedInFlight, 64)
	defD(&c.Debounce, 25*time.Millisecond)
	if c.Debounce < 0 {
		c.Debounce = 0
	}
	if !hashing.XEP0115.Emittable(c.LocalHash) {
		c.LocalHash = hashing.SHA1
	}
	if c.LocalCaps2 == nil {
		c.LocalCaps2 = []hashing.Algorithm{hashing.SHA256, hashing.SHA3_256}
	}
	if c.LocalNode == "" {
		c.LocalNode = "https://capsengine.invalid"
	}
}
