package actors

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/hashing"
)

// core is the engine's shared state, what every actor of one engine
// reaches: configuration, the ports to the store and the network, and the
// bounded tables that outlive any one lookup actor. One per Runtime.
type core struct {
	cfg      Config
	log      *slog.Logger
	store    Store
	querier  Querier
	hub      *Hub
	counters *Counters
	system   *actor.ActorSystem
	cluster  Cluster // nil unless Config.Cluster
	now      func() time.Time
	shards   []*shard // the ingest shards' JID tables, for telling JIDs outcomes

	bad      *expiring[badKey, struct{}]   // (announcer, key) pairs not to ask again
	failures *expiring[hashing.Key, error] // keys whose last lookup failed
	limiter  *rateLimiter                  // queries per announcer
	// Unhashed entities (unhashed.go): the engine-wide query bucket, the
	// in-flight slots, and the entries one shard may keep.
	unhashedRate     *rateLimiter
	unhashedSlots    chan struct{}
	unhashedPerShard int
	queries          *queryQueue   // queued queries and their workers
	answers          *answerTimes  // recent answer times: the hedge delay
	latency          latencies     // latency and queue-wait histograms
	inflight         chan struct{} // cluster mode: the member's query slots
	backlog          atomic.Int64  // requests queued for the router
	live             atomic.Int64  // live lookup actors (Gauges)
	owners           atomic.Int64  // live cluster owner actors on this member (Gauges)
	looking          *keySet       // keys with a live lookup or a request on its way to the router
	infos            *infoSet      // the verified infos the tables keep, one copy each
	writes           *storeWrites  // store writes per bucket of keys: misses that still hold
	// dispatcher runs the shards', router's and lookups' mailboxes.
	dispatcher *workerDispatcher
	queued     atomic.Int64 // queries waiting for a worker (Gauges)
	parked     atomic.Int64 // requests waiting for a lookup slot (Gauges)
	waiting    atomic.Int64 // JIDs held by lookups to be told (MaxWaitingJIDs)
	seed       maphash.Seed // shard of a JID: maphash.String(seed, jid) % shards

	ctx   context.Context // cancelled by Close: aborts queries
	tasks sync.WaitGroup  // goroutines outside the query pool, waited for by Close

	arriving   arrivingEntries          // cluster mode: entries on their way into the store
	members    atomic.Pointer[[]string] // cluster mode: member addresses (memberAddrs)
	wireWarned atomic.Bool              // cluster mode: a refused message was logged
}
