// Package capsengine resolves XMPP entity capabilities at scale: it turns
// the hashes clients announce in presence (XEP-0115 ver, XEP-0390 caps2)
// into verified feature sets, asks one announcer per unknown hash, keeps
// what it verified across restarts, and announces our own capabilities.
//
//	eng, err := capsengine.Open(ctx, capsengine.Config{DataDir: dir, Querier: q})
//	defer eng.Close(ctx)
//	eng.IngestRaw(ctx, stanza)                  // every presence the server routes
//	ok, err := eng.Supports(jid, "urn:xmpp:jingle:1")
//
// One Engine serves any number of XMPP sessions at once: all its methods
// are safe for concurrent use. See the README for the architecture and
// guarantees.
package capsengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/capsengine/capsengine/actors"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/protolog"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
)

// Querier sends disco#info queries for the engine; see actors.Querier.
type Querier = actors.Querier

// Unreachable is implemented by a Querier's errors that say the announcer
// was not reached (offline, its server unreachable, the connection lost):
// such an announcer is asked again when it announces again. See
// actors.Unreachable.
type Unreachable = actors.Unreachable

// QuerierFunc adapts a function to Querier.
type QuerierFunc = actors.QuerierFunc

// Tuning holds the engine's load controls and timeouts; every field is
// documented with its unit and default in actors.Config.
type Tuning = actors.Config

// Cluster makes an engine one member of a cluster: a *cluster.Member of
// package github.com/capsengine/capsengine/cluster, which an engine that
// runs alone does not import.
type Cluster = actors.Cluster

// Subscription receives events; see Engine.Subscribe.
type Subscription = actors.Subscription

// Gauges are the engine's levels now (see Engine.Gauges).
type Gauges = actors.Gauges

// Latencies are the engine's latency histograms (see Engine.Latencies).
type Latencies = actors.Latencies

// Histogram is a snapshot of one latency histogram.
type Histogram = actors.Histogram

// Config configures Open.
type Config struct {
	// DataDir is where verified entries are kept (the user database). It
	// is created when missing. Required unless InMemory.
	DataDir string
	// TrustedDir is a read-only database of entries trusted without
	// asking anyone (see "capsengine db import --into trusted"); "" for
	// none. Its entries win over the user database's.
	TrustedDir string
	// InMemory keeps the user database in memory: nothing it learns
	// survives Close. For tests, benchmarks, and crawlers that start from
	// a trusted database (TrustedDir, still read from disk) each time.
	InMemory bool
	// CacheBytes is the hot cache's size in bytes; 0 means 64 MiB, a
	// negative value disables it. See storage.Config.CacheBytes.
	CacheBytes int64
	// Retain is how long a verified entry no JID announced stays in the
	// user database; 0 means 180 days, a negative value forever. See
	// storage.Config.Retain.
	Retain time.Duration
	// MaxStoreBytes caps the user database's live entries; past it the
	// least recently seen are pruned. 0: no cap. See
	// storage.Config.MaxBytes. Neither retention nor the cap ever prunes
	// an entry an online JID announces, or the trusted database.
	MaxStoreBytes int64
	// Repair lets Open start from a damaged user database: it keeps every
	// entry that verifies and moves the damaged one aside, instead of
	// failing with an error wrapping storage.ErrCorrupt. See
	// storage.Config.Repair. The trusted database is never repaired.
	Repair bool
	// Querier asks peers for disco#info. Required.
	Querier Querier
	// Logger receives the engine's logs, protoactor's and pebble's. Nil
	// means silent.
	Logger *slog.Logger
	// Cluster, when set, runs the engine as one member of a protoactor
	// cluster: each unknown key has one owner among the members, so a key
	// announced on every member is queried once, and every verified entry
	// is written to every member's user database. Nil: one process.
	Cluster Cluster
	// Tuning: load controls, timeouts, leniencies. The zero value is the
	// documented defaults.
	Tuning Tuning
}

// Engine is one running capabilities engine.
type Engine struct {
	rt *actors.Runtime
	db *storage.DB
}

// Open opens the stores and starts the actors.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Querier == nil {
		return nil, errors.New("capsengine: Config.Querier is required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	scfg := storage.Config{
		Dir:        cfg.DataDir,
		TrustedDir: cfg.TrustedDir,
		CacheBytes: cfg.CacheBytes,
		Verify:     cfg.Tuning.Verify,
		Logger:     logger,
		Repair:     cfg.Repair,
		Retain:     cfg.Retain,
		MaxBytes:   cfg.MaxStoreBytes,
	}
	// Prune passes keep what online JIDs announce. The runtime that knows
	// them starts after the store, so the hook learns it once it exists.
	live := &liveKeys{}
	scfg.InUse = live.has
	if cfg.InMemory {
		// The trusted store, if any, stays where it is: on disk.
		scfg.FS, scfg.TrustedFS, scfg.Dir = vfs.NewMem(), vfs.Default, "user"
	} else if cfg.DataDir == "" {
		return nil, errors.New("capsengine: Config.DataDir is required (or InMemory)")
	}
	// One actor system per engine: the store's writer and the engine's
	// actors run in it. The engine stops it once both are closed.
	system := protolog.NewSystem(logger)
	scfg.System = system
	db, err := storage.Open(ctx, scfg)
	if err != nil {
		system.Shutdown()
		return nil, fmt.Errorf("capsengine: %w", err)
	}
	rt, err := actors.Start(cfg.Tuning, actors.Ports{
		Store: storeAdapter{db}, Querier: cfg.Querier, Cluster: cfg.Cluster, Logger: logger, System: system,
	})
	if err != nil {
		err = errors.Join(facadeError(err), db.Close(ctx))
		system.Shutdown()
		return nil, err
	}
	live.rt.Store(rt)
	return &Engine{rt: rt, db: db}, nil
}

// liveKeys is storage.Config.InUse for the engine: the keys online JIDs
// announce, from a snapshot of the runtime's tables taken at most once a
// minute, since a prune pass asks once per candidate.
type liveKeys struct {
	rt   atomic.Pointer[actors.Runtime]
	mu   sync.Mutex
	at   time.Time
	keys map[hashing.Key]struct{}
}

func (l *liveKeys) has(k hashing.Key) bool {
	rt := l.rt.Load()
	if rt == nil {
		return true // not started yet: who is online is unknown, keep all
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil || time.Since(l.at) > time.Minute {
		keys := make(map[hashing.Key]struct{}, len(l.keys))
		rt.Keys(func(k hashing.Key) { keys[k] = struct{}{} })
		l.keys, l.at = keys, time.Now()
	}
	_, ok := l.keys[k]
	return ok
}

// storeAdapter lets the actors use storage.DB.
type storeAdapter struct{ db *storage.DB }

func (s storeAdapter) Get(k hashing.Key) (*hashing.Info, error) {
	e, err := s.db.Get(k)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, actors.ErrNotFound
		}
		return nil, err
	}
	return &e.Info, nil
}

func (s storeAdapter) Put(ctx context.Context, k hashing.Key, info *hashing.Info, v actors.Verified) error {
	return trustedIsStored(s.db.Put(ctx, k, entryOf(info, v)))
}

// PutAsync makes storeAdapter an actors.AsyncStore.
func (s storeAdapter) PutAsync(k hashing.Key, info *hashing.Info, v actors.Verified, done func(error)) {
	s.db.PutAsync(k, entryOf(info, v), func(err error) { done(trustedIsStored(err)) })
}

func entryOf(info *hashing.Info, v actors.Verified) *storage.Entry {
	e := &storage.Entry{Info: *info, Method: v.Method, FirstSeen: v.At, LastSeen: v.At, Proof: v.Proof}
	if v.Node != "" {
		e.Nodes = []string{v.Node}
	}
	return e
}

// trustedIsStored: a key the trusted store holds needs nothing kept.
func trustedIsStored(err error) error {
	if errors.Is(err, storage.ErrTrusted) {
		return nil
	}
	return err
}

// Ingest takes one parsed presence (an unavailable one drops the JID). It
// returns once the presence is queued; it waits only when the engine is
// saturated, and then no longer than ctx allows.
func (e *Engine) Ingest(ctx context.Context, p *messages.Presence) error {
	return facadeError(e.rt.Ingest(ctx, p))
}

// IngestRaw decodes and ingests one presence stanza. It returns the decode
// error of a stanza that is not a well-formed presence (also counted). The
// engine keeps nothing of stanza: the caller may reuse its memory, e.g. for
// the next read from a socket, as soon as IngestRaw returns.
func (e *Engine) IngestRaw(ctx context.Context, stanza []byte) error {
	return facadeError(e.rt.IngestRaw(ctx, stanza))
}

// IngestBatch ingests many presences at once, cheaper than one by one.
func (e *Engine) IngestBatch(ctx context.Context, ps []*messages.Presence) error {
	return facadeError(e.rt.IngestBatch(ctx, ps))
}

// IngestRawBatch decodes and ingests many stanzas at once. Like IngestRaw,
// it keeps nothing of them once it returns.
func (e *Engine) IngestRawBatch(ctx context.Context, stanzas [][]byte) error {
	return facadeError(e.rt.IngestRawBatch(ctx, stanzas))
}

// Sync returns once every presence ingested before the call has reached
// the JID table; lookups it started may still be running (see Wait).
func (e *Engine) Sync(ctx context.Context) error { return facadeError(e.rt.Sync(ctx)) }

// Caps returns the verified disco#info of the caps jid announced last,
// without waiting: ErrUnknownJID, ErrPending, or why the lookup failed.
// The Info is shared: do not modify it.
//
// With Tuning.QueryUnhashed, a JID whose presence carried no verifiable
// hash gets its own answer to one disco#info query: unverified, kept for
// that JID only and never stored (Key returns the zero key for it).
func (e *Engine) Caps(jid string) (*hashing.Info, error) {
	_, info, err := e.rt.Caps(jid)
	return info, facadeError(err)
}

// Key returns the hash jid announced last: the zero Key for a JID
// without a verifiable hash that Tuning.QueryUnhashed keeps.
func (e *Engine) Key(jid string) (hashing.Key, error) {
	k, _, err := e.rt.Caps(jid)
	if errors.Is(err, actors.ErrUnknownJID) {
		return k, ErrUnknownJID
	}
	return k, nil
}

// Wait is Caps that waits for a lookup under way (bounded by ctx and by
// Tuning.LookupTimeout). It sees every presence of jid ingested before it.
func (e *Engine) Wait(ctx context.Context, jid string) (*hashing.Info, error) {
	_, info, err := e.rt.Wait(ctx, jid)
	return info, facadeError(err)
}

// Supports reports whether jid's verified caps list feature (or, with
// Tuning.QueryUnhashed, its own unverified answer: see Caps). An error
// means the caps are not known (yet).
func (e *Engine) Supports(jid, feature string) (bool, error) {
	info, err := e.Caps(jid)
	if err != nil {
		return false, err
	}
	return info.HasFeature(feature), nil
}

// Entities returns the online JIDs whose verified caps list feature — the
// question a server asks to route PEP +notify events.
func (e *Engine) Entities(feature string) []string {
	var out []string
	e.rt.Entities(func(k hashing.Key, info *hashing.Info) bool {
		info = e.verifiedInfo(k, info)
		return info != nil && info.HasFeature(feature)
	}, func(jid string, _ hashing.Key) {
		out = append(out, jid)
	})
	return out
}

// SoftwareCount is one software and version (hashing.SoftwareOf) and how
// many online JIDs with verified caps run it.
type SoftwareCount struct {
	hashing.Software
	JIDs int
}

// Software is the distribution of the software online JIDs run, most used
// first; JIDs whose verified caps name none count under an empty Name.
// It walks every online JID: a question for dashboards, not for every
// presence.
func (e *Engine) Software() []SoftwareCount {
	counts := map[hashing.Software]int{}
	for _, v := range e.verifiedKeys() {
		sw, _ := hashing.SoftwareOf(v.info)
		counts[sw] += v.jids
	}
	out := make([]SoftwareCount, 0, len(counts))
	for s, n := range counts {
		out = append(out, SoftwareCount{Software: s, JIDs: n})
	}
	slices.SortFunc(out, func(a, b SoftwareCount) int {
		if a.JIDs != b.JIDs {
			return b.JIDs - a.JIDs
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return out
}

// ResourceCaps is one online resource of a user: its full JID, the key
// it announced, and its caps (Info) or why they are not known (Err, as
// Caps returns it: ErrPending while its lookup is under way).
type ResourceCaps struct {
	JID  string
	Key  hashing.Key
	Info *hashing.Info
	Err  error
}

// Resources returns the online resources of the bare JID user (each full
// JID user/…) with their caps, sorted by JID: what each of a user's
// devices can do. With Tuning.QueryUnhashed, resources that announced no
// verifiable hash are there too, with the zero Key and their own answer.
// It walks every online JID, like Entities.
func (e *Engine) Resources(user string) []ResourceCaps {
	prefix := user + "/"
	var jids []string
	add := func(jid string) {
		if strings.HasPrefix(jid, prefix) {
			jids = append(jids, jid)
		}
	}
	e.rt.Entities(func(hashing.Key, *hashing.Info) bool { return true }, func(jid string, _ hashing.Key) { add(jid) })
	e.rt.UnhashedJIDs(add)
	slices.Sort(jids)
	out := make([]ResourceCaps, 0, len(jids))
	for _, jid := range jids {
		k, err := e.Key(jid)
		if err != nil { // gone since the walk
			continue
		}
		info, err := e.Caps(jid)
		out = append(out, ResourceCaps{JID: jid, Key: k, Info: info, Err: err})
	}
	return out
}

// verifiedInfo is k's verified info: the one its table knows (which it
// may before the store has committed it), else the store's, else nil.
func (e *Engine) verifiedInfo(k hashing.Key, known *hashing.Info) *hashing.Info {
	if known != nil {
		return known
	}
	info, err := storeAdapter{e.db}.Get(k)
	if err != nil {
		return nil
	}
	return info
}

// keyUse is one key online JIDs announce with verified caps: its info
// and how many JIDs announce it.
type keyUse struct {
	info *hashing.Info
	jids int
}

// verifiedKeys walks every online JID once and returns, per key with a
// verified entry, its info and how many JIDs announce it: the store is
// read at most once per key (when no table knows its info), not once per
// JID. Keys without one (pending, failed)
// are left out.
func (e *Engine) verifiedKeys() map[hashing.Key]*keyUse {
	uses := map[hashing.Key]*keyUse{}
	e.rt.Entities(func(k hashing.Key, info *hashing.Info) bool {
		if u, seen := uses[k]; seen {
			return u != nil
		}
		info = e.verifiedInfo(k, info)
		if info == nil {
			uses[k] = nil
			return false
		}
		uses[k] = &keyUse{info: info}
		return true
	}, func(_ string, k hashing.Key) {
		uses[k].jids++
	})
	for k, u := range uses {
		if u == nil {
			delete(uses, k)
		}
	}
	return uses
}

// FeatureCount is one feature and how many online JIDs with verified caps
// list it.
type FeatureCount struct {
	Feature string
	JIDs    int
}

// Features is the share of features among online JIDs: how many JIDs
// with verified caps there are, and for each feature any of them lists how
// many list it, most listed first (then by name). Like Software it walks
// every online JID, reading each distinct key once.
func (e *Engine) Features() (verified int, features []FeatureCount) {
	counts := map[string]int{}
	for _, v := range e.verifiedKeys() {
		verified += v.jids
		for _, f := range v.info.Features {
			counts[f] += v.jids
		}
	}
	features = make([]FeatureCount, 0, len(counts))
	for f, n := range counts {
		features = append(features, FeatureCount{Feature: f, JIDs: n})
	}
	slices.SortFunc(features, func(a, b FeatureCount) int {
		if a.JIDs != b.JIDs {
			return b.JIDs - a.JIDs
		}
		return strings.Compare(a.Feature, b.Feature)
	})
	return verified, features
}

// Subscribe starts a subscription to the events of kinds with a buffer of
// size events. The engine never waits for a subscriber, and one that stops
// reading costs it nothing: a subscriber that falls behind by more than its
// buffer and the engine's ring of recent events (at least size) loses
// events, counted (Subscription.Dropped) and told in the stream with a
// *messages.EventsLost, whatever kinds it chose. Close it when done: each
// subscription owns a goroutine until Close or the engine's Close.
func (e *Engine) Subscribe(kinds messages.EventKind, size int) *Subscription {
	return e.rt.Subscribe(kinds, size)
}

// SetLocal replaces our own disco#info. It fails at once with a
// hashing.RuleError when info breaks a XEP-0115 §5.4 rule; otherwise
// VerChanged follows (after Tuning.Debounce) when our hashes change.
// info must not be modified afterwards.
func (e *Engine) SetLocal(info *hashing.Info) error { return facadeError(e.rt.SetLocal(info)) }

// FlushLocal applies a pending SetLocal without waiting for the debounce.
func (e *Engine) FlushLocal(ctx context.Context) error { return facadeError(e.rt.FlushLocal(ctx)) }

// LocalInfo answers a disco#info query for node (our current or one of our
// last three caps nodes, or "").
func (e *Engine) LocalInfo(node string) (*hashing.Info, bool) { return e.rt.LocalInfo(node) }

// Announcement is what outgoing presence carries now.
func (e *Engine) Announcement() (messages.Announcement, bool) { return e.rt.Announcement() }

// OutgoingPresence sets p's caps elements to our current announcement; it
// leaves p alone before the first SetLocal.
func (e *Engine) OutgoingPresence(p *messages.Presence) {
	ann, ok := e.rt.Announcement()
	if !ok {
		return
	}
	c := ann.Caps
	p.Caps = &c
	p.Caps2 = append([]messages.Hash(nil), ann.Caps2...)
}

// Counters returns the engine's counters by name (hits, misses, queries,
// dedup joins, mismatches, timeouts, drops, ...).
func (e *Engine) Counters() map[string]uint64 { return e.rt.Counters().Snapshot() }

// Flush returns once every verified answer served so far is durable. A
// verified answer is served (Caps, Wait, events) as soon as it verifies
// and committed in the store's next group commit; a crash in between
// loses only such entries, which are asked again — never a wrong one.
func (e *Engine) Flush(ctx context.Context) error { return e.rt.Flush(ctx) }

// Gauges is the engine's levels now: live lookups, queued and in-flight
// queries, JIDs waiting to be told, online JIDs.
func (e *Engine) Gauges() Gauges { return e.rt.Gauges() }

// Latencies reads the resolve and query latency histograms, counted
// since Open.
func (e *Engine) Latencies() Latencies { return e.rt.Latencies() }

// JIDs is the number of online JIDs with caps.
func (e *Engine) JIDs() int { return e.rt.JIDs() }

// ClusterMembers is the number of cluster members this engine sees,
// itself included; 0 when not in cluster mode.
func (e *Engine) ClusterMembers() int { return e.rt.ClusterMembers() }

// Storage gives access to the stores, for statistics and maintenance.
func (e *Engine) Storage() *storage.DB { return e.db }

// Close stops intake, drains the actors (waiters get ErrClosed), flushes
// and closes the stores. It is idempotent.
func (e *Engine) Close(ctx context.Context) error {
	// The actors first (their last verified answers reach the store), then
	// the store (its writer commits them), then the actor system both ran
	// in, leaving the cluster if any.
	err := errors.Join(facadeError(e.rt.Close(ctx)), e.db.Close(ctx))
	e.rt.Stop()
	return err
}
