package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/pebble/v2"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/protolog"
	"github.com/capsengine/capsengine/internal/supervise"
)

// DB is the two-level entity capabilities store: a read-only trusted store
// and a user store of verified entries, both pebble databases, behind a
// ristretto hot cache.
//
// Lookups run on the caller's goroutine and are safe for concurrent use.
// Writes (Put, Delete) go to one writer actor that commits them in synced
// group commits. All methods are safe for concurrent use.
type DB struct {
	cfg     Config
	log     *slog.Logger
	trusted *store // nil without a trusted store
	user    *store
	cache   *hotCache

	system    *actor.ActorSystem
	ownSystem bool
	writer    *actor.PID
	// writerDone is closed when the writer actor has stopped; every request
	// it accepted has been answered by then.
	writerDone chan struct{}

	// mu guards closed, and the pebble databases and the cache against
	// Close: every use holds it for reading.
	mu     sync.RWMutex
	closed bool

	closeOnce sync.Once
	closeErr  error
	closeDone chan struct{}

	// repaired is what Open's repair did, or nil.
	repaired *RepairReport

	trustedHits, userHits, misses atomic.Uint64
	commits, committed            atomic.Uint64

	// Retention (prune.go). pruneMu serialises passes; the pruner
	// goroutine, when Config.PruneEvery is positive, stops when
	// prunerStop is closed and closes prunerDone.
	pruneMu                    chan struct{}
	pruneKick                  chan struct{}
	prunerStop, prunerDone     chan struct{}
	sinceCheck                 atomic.Int64
	prunedEntries, prunedBytes atomic.Uint64
}

// Open opens the stores cfg names, removes from the user store every key
// the trusted store holds, and starts the writer actor.
//
// It fails with an error wrapping ErrLocked when another process has a
// store open, fs.ErrNotExist when TrustedDir does not exist, ErrFormat for
// a directory that is not a capsengine store, and ErrCorrupt (through a
// *CorruptError naming the file and what is lost) when a store's
// write-ahead log or tables are damaged or acknowledged commits are
// missing. With Config.Repair a damaged user store is repaired instead
// (see Repair and DB.Repaired); a damaged trusted store is always an
// error.
func Open(ctx context.Context, cfg Config) (_ *DB, err error) {
	if cfg.Dir == "" {
		return nil, errors.New("storage: Config.Dir is empty")
	}
	c := cfg.withDefaults()
	db := &DB{
		cfg:        c,
		log:        c.Logger,
		writerDone: make(chan struct{}),
		closeDone:  make(chan struct{}),
		pruneMu:    make(chan struct{}, 1),
	}
	defer func() {
		if err != nil {
			db.closeStores()
		}
	}()
	so := storeOptions{fs: c.FS, log: c.Logger, blockCache: c.BlockCacheBytes}
	if c.TrustedDir != "" {
		ro := so
		ro.readOnly, ro.fs = true, c.TrustedFS
		if db.trusted, err = openStore(ctx, Trusted, c.TrustedDir, ro); err != nil {
			return nil, err
		}
	}
	if db.user, err = openStore(ctx, User, c.Dir, so); err != nil {
		if !c.Repair || !errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		if db.repaired, err = Repair(ctx, c); err != nil {
			return nil, err
		}
		if db.user, err = openStore(ctx, User, c.Dir, so); err != nil {
			return nil, err
		}
	}
	if err = db.dropTrustedFromUser(ctx); err != nil {
		return nil, err
	}
	if db.trusted != nil {
		db.trusted.startFilter(c.Logger)
	}
	db.user.startFilter(c.Logger)
	if db.cache, err = newHotCache(c.CacheBytes); err != nil {
		return nil, fmt.Errorf("storage: hot cache: %w", err)
	}

	db.system = c.System
	if db.system == nil {
		db.system = protolog.NewSystem(c.Logger)
		db.ownSystem = true
	}
	w := &writer{db: db}
	props := actor.PropsFromProducer(func() actor.Actor { return w },
		actor.WithGuardian(supervise.Strategy(c.Logger, "storage")))
	db.writer = db.system.Root.SpawnPrefix(props, "storage-writer-")
	if c.PruneEvery > 0 {
		db.pruneKick = make(chan struct{}, 1)
		db.prunerStop, db.prunerDone = make(chan struct{}), make(chan struct{})
		go db.pruner(db.prunerStop)
	}
	return db, nil
}

// Repaired reports the repair Open ran (Config.Repair), or nil when the
// user store opened intact.
func (db *DB) Repaired() *RepairReport { return db.repaired }

// dropTrustedFromUser deletes from the user store every key the trusted
// store holds: trusted wins, and a copy in user is dead weight. It walks
// the trusted keys (the smaller, curated store) and probes user for each,
// which its bloom filters make cheap.
func (db *DB) dropTrustedFromUser(ctx context.Context) error {
	if db.trusted == nil {
		return nil
	}
	b := db.user.db.NewBatch()
	defer b.Close()
	var kb keyBuf
	err := db.trusted.scan(ctx, true, func(r Record) error {
		if r.Err != nil {
			return nil
		}
		kk := kb.of(r.Key)
		ok, err := db.user.has(kk)
		if err != nil || !ok {
			return err
		}
		return b.Delete(kk, nil)
	})
	if err != nil {
		return err
	}
	if n := b.Count(); n > 0 {
		if err := b.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("storage: drop trusted keys from user store: %w", translate(err))
		}
		db.log.Info("storage: removed user entries the trusted store holds", "count", n)
	}
	return nil
}

// Get returns the entry for k: from the hot cache, else the trusted store,
// else the user store. It fails with ErrNotFound (unwrapped, so a miss
// does not allocate) when no store has k, with ErrClosed after Close, and
// with an error wrapping ErrCorrupt when the stored bytes are damaged.
//
// The entry is shared: do not modify it.
func (db *DB) Get(k hashing.Key) (*Entry, error) {
	e, _, err := db.Lookup(k)
	return e, err
}

// Lookup is Get that also says which store the entry came from (a hot
// cache hit reports the store it was read from first).
func (db *DB) Lookup(k hashing.Key) (*Entry, Source, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, 0, ErrClosed
	}
	if c, ok := db.cache.get(k); ok {
		return c.entry, c.src, nil
	}
	var kb keyBuf
	kk := kb.of(k)
	if db.trusted != nil {
		e, n, err := db.trusted.get(kk)
		if err == nil {
			db.trustedHits.Add(1)
			db.cache.set(k, e, Trusted, n)
			return e, Trusted, nil
		}
		if err != ErrNotFound {
			return nil, 0, err
		}
	}
	e, n, err := db.user.get(kk)
	if err != nil {
		if err == ErrNotFound {
			db.misses.Add(1)
		}
		return nil, 0, err
	}
	db.userHits.Add(1)
	db.cache.set(k, e, User, n)
	return e, User, nil
}

// Put verifies e.Info against k (hashing.Verify with Config.Verify) and
// stores it in the user store. It returns once the entry is durable:
// written in a synced pebble batch, together with the inserts of every
// other goroutine that was waiting (group commit).
//
// Putting a key the store already holds merges the two entries: the nodes
// seen are joined, FirstSeen and LastSeen widened, and the older Info and
// Method kept. The merge is pebble's (a merge operator), so Put never
// reads before it writes.
//
// Put neither modifies nor retains e. The stored entry records the
// verification method, and FirstSeen and LastSeen from Config.Now when e
// leaves them zero.
//
// Errors: the verification error (a *hashing.RuleError or
// *hashing.MismatchError, matched with errors.As); ErrTrusted when the
// trusted store holds k (nothing to do: the key is already durable);
// ErrTooLarge; ErrClosed; ErrFailed after a disk write failure; ctx.Err()
// when ctx ends first, in which case the entry may still be written.
func (db *DB) Put(ctx context.Context, k hashing.Key, e *Entry) error {
	enc, err := encodeVerified(&db.cfg, k, e)
	if err != nil {
		return err
	}
	req := &writeRequest{key: k, enc: enc}
	if err := db.write(ctx, req); err != nil {
		return err
	}
	db.merged(k)
	return nil
}

// PutAsync is Put without waiting for the commit: done is called exactly
// once with Put's error — after the group commit, on the writer's
// goroutine, or at once on the caller's when the entry is refused (it
// does not verify, the trusted store holds it, the store is closed). done
// must not block: it holds up the writer's answers to the rest of its
// batch.
//
// It is for callers with many entries in flight: each blocked Put is a
// goroutine, and a group commit made hundreds of them runnable at once,
// queued on the CPU ahead of the work that was waiting for one (the
// engine's lookups, under a cold flood). Close commits every entry it
// accepted, and calls their done.
func (db *DB) PutAsync(k hashing.Key, e *Entry, done func(error)) {
	enc, err := encodeVerified(&db.cfg, k, e)
	if err != nil {
		done(err)
		return
	}
	req := &writeRequest{key: k, enc: enc, then: func(err error) {
		if err == nil {
			db.merged(k)
		}
		done(err)
	}}
	if err := db.send(req); err != nil {
		done(err)
	}
}

// merged drops k's cached copy after a put: the store merged the entry
// with what it had, and a cached copy may miss what it merged; the next
// lookup reads the result. A new entry is not cached here: the next
// lookup reads it from the memtable and caches it.
func (db *DB) merged(k hashing.Key) {
	db.mu.RLock()
	if !db.closed {
		db.cache.del(k)
	}
	db.mu.RUnlock()
}

// Delete removes k from the user store, durably. It fails with ErrTrusted
// when the trusted store holds k (the trusted store is only changed
// offline, through OpenTrustedWriter), and otherwise like Put. Deleting an
// absent key is not an error.
//
// A lookup running concurrently with Delete may put the old entry back in
// the hot cache; the cache is advisory and the entry verified, so such a
// copy is served until evicted. Delete is meant for offline maintenance.
func (db *DB) Delete(ctx context.Context, k hashing.Key) error {
	return db.write(ctx, &writeRequest{key: k, del: true})
}

// write checks the trusted store, hands req to the writer and waits for
// its answer.
func (db *DB) write(ctx context.Context, req *writeRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req.done = make(chan error, 1)
	if err := db.send(req); err != nil {
		return err
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-db.writerDone:
		// The writer answers everything it accepted before it stops; a
		// request it never saw gets ErrClosed.
		select {
		case err := <-req.done:
			return err
		default:
			return fmt.Errorf("storage: %s: %w", req.op(), ErrClosed)
		}
	}
}

// send checks the trusted store and hands req to the writer. It holds mu
// for reading while it does, so a request is either in the writer's
// mailbox before Close poisons it, or refused.
func (db *DB) send(req *writeRequest) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return fmt.Errorf("storage: %s: %w", req.op(), ErrClosed)
	}
	if db.trusted != nil {
		var kb keyBuf
		in, err := db.trusted.has(kb.of(req.key))
		if err != nil {
			return fmt.Errorf("storage: %s: %w", req.op(), err)
		}
		if in {
			return fmt.Errorf("storage: %s: %w", req.op(), ErrTrusted)
		}
	}
	db.system.Root.Send(db.writer, req)
	return nil
}

// Scan calls fn for every entry of one store, in key order, over a
// consistent snapshot; entries whose bytes do not decode come with
// Record.Err set. It stops at the first error fn returns, or when ctx
// ends, and returns that error. Close waits for running scans.
func (db *DB) Scan(ctx context.Context, src Source, fn func(Record) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	s, err := db.storeLocked(src)
	if err != nil {
		return err
	}
	return s.scan(ctx, false, fn)
}

// Count counts the entries of one store per scheme and algorithm, without
// decoding them.
func (db *DB) Count(ctx context.Context, src Source) (map[Kind]int, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	s, err := db.storeLocked(src)
	if err != nil {
		return nil, err
	}
	return s.count(ctx)
}

func (db *DB) storeLocked(src Source) (*store, error) {
	if db.closed {
		return nil, ErrClosed
	}
	switch src {
	case Trusted:
		if db.trusted == nil {
			return nil, fmt.Errorf("storage: no trusted store: %w", ErrNotFound)
		}
		return db.trusted, nil
	case User:
		return db.user, nil
	}
	return nil, fmt.Errorf("storage: unknown source %d", src)
}

// Stats is a snapshot of the DB's counters.
type Stats struct {
	// CacheHits and CacheMisses count hot cache lookups.
	CacheHits, CacheMisses uint64
	// CacheBytes is the estimated memory the hot cache holds, of
	// CacheMaxBytes.
	CacheBytes, CacheMaxBytes int64
	// TrustedHits, UserHits and Misses count the lookups that missed the
	// hot cache, by outcome.
	TrustedHits, UserHits, Misses uint64
	// Commits counts synced group commits, Committed the writes they
	// carried.
	Commits, Committed uint64
	// TrustedDiskBytes and UserDiskBytes are the stores' sizes on disk.
	TrustedDiskBytes, UserDiskBytes uint64
	// PrunedEntries and PrunedBytes count what prune passes deleted from
	// the user store (keys and values), since Open.
	PrunedEntries, PrunedBytes uint64
	// Filtered counts the store reads the stores' key filters answered
	// "absent" without reading pebble (a miss counts once per store it
	// skipped); FilterBuilds the filters built, the first ones at Open.
	Filtered, FilterBuilds uint64
}

// CacheHitRatio is CacheHits over all hot cache lookups, or 0.
func (s Stats) CacheHitRatio() float64 {
	if n := s.CacheHits + s.CacheMisses; n > 0 {
		return float64(s.CacheHits) / float64(n)
	}
	return 0
}

// Stats returns the DB's counters. After Close the disk sizes are zero.
func (db *DB) Stats() Stats {
	db.mu.RLock()
	defer db.mu.RUnlock()
	s := Stats{
		TrustedHits: db.trustedHits.Load(),
		UserHits:    db.userHits.Load(),
		Misses:      db.misses.Load(),
		Commits:     db.commits.Load(),
		Committed:   db.committed.Load(),

		PrunedEntries: db.prunedEntries.Load(),
		PrunedBytes:   db.prunedBytes.Load(),
	}
	for _, st := range []*store{db.trusted, db.user} {
		if st != nil && st.filter != nil {
			s.Filtered += st.filter.filtered.Load()
			s.FilterBuilds += st.filter.builds.Load()
		}
	}
	if db.closed {
		return s
	}
	cs := db.cache.stats()
	s.CacheHits, s.CacheMisses, s.CacheBytes, s.CacheMaxBytes = cs.hits, cs.misses, cs.used, cs.maxCost
	if db.trusted != nil {
		s.TrustedDiskBytes = db.trusted.diskBytes()
	}
	s.UserDiskBytes = db.user.diskBytes()
	return s
}

// Close stops accepting writes, lets the writer commit everything it has
// accepted, stops it, and closes the hot cache and both stores (and the
// actor system if Open created it). It returns errors.Join of the steps'
// errors. Close is idempotent: later calls wait for the first and return
// its result.
//
// If ctx ends before the writer has drained, Close returns ctx.Err() and
// the remaining steps finish in the background once the writer stops.
func (db *DB) Close(ctx context.Context) error {
	db.closeOnce.Do(func() {
		if db.prunerStop != nil {
			// A running pass is cancelled; its deletes already handed to
			// the writer are committed with everything else.
			close(db.prunerStop)
			<-db.prunerDone
		}
		db.mu.Lock()
		db.closed = true
		db.mu.Unlock()
		// Every request sent before closed was set is in the mailbox ahead
		// of the poison pill; the writer commits them on its way out.
		db.system.Root.Poison(db.writer)
		select {
		case <-db.writerDone:
			db.closeErr = db.finishClose()
			close(db.closeDone)
		case <-ctx.Done():
			db.closeErr = fmt.Errorf("storage: close: writer still draining: %w", ctx.Err())
			go func() {
				<-db.writerDone
				if err := db.finishClose(); err != nil {
					db.log.Error("storage: close", "err", err)
				}
				close(db.closeDone)
			}()
		}
	})
	return db.closeErr
}

func (db *DB) finishClose() error {
	err := db.closeStores()
	if db.ownSystem {
		db.system.Shutdown()
	}
	return err
}

// closeStores closes the cache and the stores that are open.
func (db *DB) closeStores() error {
	db.cache.close()
	var errs []error
	if db.user != nil {
		errs = append(errs, db.user.close())
	}
	if db.trusted != nil {
		errs = append(errs, db.trusted.close())
	}
	return errors.Join(errs...)
}

// encodeVerified is the part of a put shared by both stores: verify e
// against k (unless its Proof already does), record how it verified,
// stamp missing times with cfg.Now, and encode it, refusing entries over
// MaxEntrySize.
func encodeVerified(cfg *Config, k hashing.Key, e *Entry) ([]byte, error) {
	if e == nil {
		return nil, fmt.Errorf("storage: put %s: nil entry", k)
	}
	method, ok := e.Proof.For(k, &e.Info, cfg.Verify)
	if !ok {
		var err error
		if method, err = hashing.Verify(k, &e.Info, cfg.Verify); err != nil {
			return nil, fmt.Errorf("storage: put %s: %w", k, err)
		}
	}
	ne := *e
	ne.Method = method
	normalize(&ne)
	if ne.FirstSeen.IsZero() || ne.LastSeen.IsZero() {
		now := cfg.Now().Round(0).UTC()
		if ne.FirstSeen.IsZero() {
			ne.FirstSeen = now
		}
		if ne.LastSeen.IsZero() {
			ne.LastSeen = now
		}
	}
	enc := AppendEntry(nil, &ne)
	if len(enc) > MaxEntrySize {
		return nil, fmt.Errorf("storage: put %s: %w: %d bytes", k, ErrTooLarge, len(enc))
	}
	return enc, nil
}
