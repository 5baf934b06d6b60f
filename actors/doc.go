// Package actors is the engine: the protoactor-go actors that turn
// presences into verified capabilities, and the tables they share. The
// root package capsengine is its facade; Runtime is what it drives.
//
// A presence's way through, and where each step lives:
//
//   - ingest.go: the ingest shards (one actor each, a JID hashed to one)
//     parse presences in batches and keep each online JID's key in a
//     table (table.go). A key whose verified info the shard knows is a
//     hit; otherwise the shard asks the store, and for a key not there it
//     sends a lookup request to the router.
//   - first.go: before a batch waits in its shard's mailbox, the caller
//     sends the router a first-contact request for each key nothing knows
//     yet, so that the key's query does not wait for the shard's backlog;
//     the shard's own request for the same presence joins that lookup.
//   - early.go: a caller that is first to meet a key in the whole engine
//     (it claims the key in inflight.go's set) sends the key's first
//     query itself, at once; the lookup the router starts for the key
//     adopts it as its own first query. One query per key holds because
//     only a lookup asks, a key has one lookup at a time, and the claim
//     succeeds only while no lookup and no request for the key exist.
//   - router.go: one actor owns the per-key lookup actors: it spawns them
//     on demand within MaxLookups, parks what cannot start yet, and stops
//     them once they report idle.
//   - lookup.go: a lookup's decisions, kept apart from its actor
//     (lookup_actor.go) and scripted without one in lookup_logic_test.go:
//     whom to ask, hedges (hedge.go), rounds, retries, and who is told.
//   - queries.go: queued disco#info queries and the bounded pool of
//     workers that send them and verify the answers; verified.go stores
//     a verified answer (for every route, cluster included).
//   - settle.go: telling JIDs how their key went, whatever route verified
//     it; hub.go publishes the events to subscribers, each with its own
//     bounded buffer.
//   - unhashed.go: with Config.QueryUnhashed, presences without a
//     verifiable hash: one query per full JID, its answer kept in the
//     shard's table for that JID alone, never stored or shared.
//   - local.go: our own identity and ver, and VerChanged.
//   - cluster.go: the same lookups across a protoactor cluster —
//     configuration, joining and leaving; cluster_request.go, a member
//     handing a key to its owner; cluster_owner.go, the per-key owner (a
//     virtual actor); cluster_members.go, the three actors every member
//     runs for owners; cluster_wire.go, their messages on the wire.
//
// runtime.go is the API the facade drives; decode.go turns stanzas into
// the shards' items. core.go holds what the actors share; ports.go the
// interfaces to the store and the network; errors.go the package's
// errors; limits.go, inflight.go and infos.go the bounded tables;
// dispatch.go runs the hot actors' mailboxes on kept goroutines;
// counters.go and gauges.go are what the engine reports about itself.
package actors
