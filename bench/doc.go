// Package bench is the end-to-end benchmark behind "capsengine bench": a
// deterministic workload generator, simulated peers, the engine driven
// through its public API, and a naive baseline fed the identical stream.
//
//	rep, err := bench.Run(ctx, bench.DefaultOptions())
//	rep.WriteText(os.Stdout)
//
// # Workload
//
// writeWorkload writes, from a Spec and its seed, a stream of presence stanzas
// (one per line, about 350 bytes each: show, status, priority, XEP-0115
// caps, sometimes XEP-0390 hashes, muc#user, an avatar hash) and the honest
// disco#info answer for every node they can be asked at. Each JID runs one
// client, so its presences repeat the same caps; client popularity follows
// a Zipf law. Run writes the stream to a file before any timing and maps
// it read-only (OpenWorkload), outside the Go heap; workers drop the pages
// they are done with from the resident set, so the workload does not
// inflate the measured RSS or the heap.
//
// # Simulated peers
//
// peers implements capsengine.Querier: an answer after a log-normal
// latency, or, for a share of announcers fixed by the seed, a wrong
// answer (liar), an error (iqError) or none at all (silent). It counts
// every query by outcome and every honest answer by node, which is how the
// benchmark checks "one query per key" from outside the engine.
//
// # Phases
//
// The engine sees the stream cold (empty store), warm (every key known)
// and, with Options.Restart, once more after closing and reopening its
// store on disk. Options.Baseline runs the baseline (see baseline) over
// the cold and warm passes with the same number of workers. Report holds
// presences/s and presences per CPU-second per phase, queries against
// unique keys, dedup joins, liars caught, the cold-key resolve latency,
// peak RSS, bytes per JID and the store's size; WriteHTMLFile draws it.
//
// # Soak
//
// Soak runs the engine for Options.Soak.Duration on a stream generated on
// the fly (soakstream.go) that keeps introducing new keys and JIDs and
// retiring old ones, far past MaxLookups and the hot cache. It samples the
// engine's Gauges, goroutines and memory every second, gives every key a
// verdict once its lookups have had time to end (soakcheck.go: one honest
// answer per resolvable key), waits for a sample of keys to catch hangs,
// and fits a line to RSS, live lookups and goroutines after a warm-up to
// catch memory that grows with the keys seen. SoakReport.Violations names
// each broken guarantee.
//
// The field-by-field description of the JSON report is in README.md.
package bench
