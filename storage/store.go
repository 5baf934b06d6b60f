package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/capsengine/capsengine/hashing"
)

// Source names the store an entry comes from.
type Source uint8

const (
	// Trusted is the read-only store, filled offline ("capsengine db import
	// --into trusted"); it wins over User.
	Trusted Source = iota + 1
	// User is the store of entries verified while serving.
	User
)

func (s Source) String() string {
	switch s {
	case Trusted:
		return "trusted"
	case User:
		return "user"
	}
	return fmt.Sprintf("source(%d)", uint8(s))
}

// Kind groups keys for Count: one scheme and algorithm.
type Kind struct {
	Scheme hashing.Scheme
	Alg    hashing.Algorithm
}

func (k Kind) String() string { return k.Scheme.String() + "/" + k.Alg.String() }

// Record is one stored entry, as Scan reads it.
type Record struct {
	Key hashing.Key
	// Entry is nil when Err is set.
	Entry *Entry
	// Err reports stored bytes that do not decode (ErrCorrupt, ErrFormat).
	// Key is the zero Key when the key itself is what failed.
	Err error
}

// formatValue marks a pebble directory as a capsengine store, version 1.
var formatValue = []byte("capsengine-storage\x00\x01")

// store is one pebble database holding entries: the trusted or the user
// store. It does no locking of its own; DB and TrustedWriter guard it.
type store struct {
	src Source
	dir string
	db  *pebble.DB
	// ack and mark are the user store's AckFile and the commit mark of
	// its last commit; only the writer uses them after Open.
	ack  *ackWriter
	mark commitMark
	// filter answers most reads of keys never stored without pebble.
	filter *keyFilter
}

// memTableBytes is each writable store's pebble memtable size.
const memTableBytes = 16 << 20

// memTableReserve is what pebble counts against a store's block cache for
// its memtables: it reserves each memtable's size in the cache, and
// keeps up to three (the one taking writes, one being flushed, and one
// kept for reuse). Without this headroom a block cache no larger than
// the memtables holds nothing at all: with 16 MiB of each, every read
// during a cold flood went to the file (pread) for its filter, index
// and data blocks, and a miss on first contact cost 30 µs of CPU.
func memTableReserve(readOnly bool) int64 {
	if readOnly {
		return 0
	}
	return 3 * memTableBytes
}

type storeOptions struct {
	fs         vfs.FS
	log        *slog.Logger
	blockCache int64
	readOnly   bool
	mustExist  bool
}

// openStore opens one store. Every error is an *OpenError naming the
// store and its directory.
func openStore(ctx context.Context, src Source, dir string, o storeOptions) (*store, error) {
	s, err := openPebble(ctx, src, dir, o)
	if err != nil {
		return nil, &OpenError{Source: src, Dir: dir, Err: err}
	}
	return s, nil
}

func openPebble(ctx context.Context, src Source, dir string, o storeOptions) (*store, error) {
	plog := o.log.With("lib", "pebble", "store", src.String())
	fsys := o.fs
	if o.readOnly {
		fsys = readOnlyFS{fsys}
	}
	opts := &pebble.Options{
		FS:     fsys,
		Logger: pebbleLogger{log: plog},
		Merger: entryMerger,
		EventListener: &pebble.EventListener{
			// pebble's default calls Logger.Fatalf: a damaged block would
			// end the process. Log it; the read fails with ErrCorrupt.
			DataCorruption: func(info pebble.DataCorruptionInfo) {
				plog.Error("storage: corrupt data on disk", "path", info.Path, "err", info.Details)
			},
		},
		ReadOnly:         o.readOnly,
		ErrorIfNotExists: o.mustExist || o.readOnly,
		CacheSize:        o.blockCache + memTableReserve(o.readOnly),
		// A cold start writes thousands of verified entries a second.
		// With pebble's 4 MiB default, a 300,000-key flood flushed a
		// memtable every second or so and compacted L0 behind it: 15% of
		// the engine's CPU. 16 MiB (some 25,000 entries) cut that to 7%;
		// 32 MiB to 4%, but cost 100 MiB more peak RSS in that run.
		MemTableSize: memTableBytes,
		// Verified keys are hashes: every flushed L0 file spans the whole
		// key space, so each L0 compaction rewrites all of Lbase. Waiting
		// for 8 L0 files instead of pebble's 4 halves those rewrites; in
		// the 300,000-document run's cold pass, compaction took 0.44 and
		// 0.64 s of CPU against 1.25 and 1.29 s (alternating profiles).
		// Reads pay little for the deeper L0: a missing key is mostly
		// answered by the key filter, and each file has a bloom filter.
		L0CompactionThreshold: 8,
		L0StopWritesThreshold: 24,
	}
	if !o.readOnly {
		// WAL chunks that record how far the log was synced let pebble
		// tell damage in the middle of a WAL from a torn tail (see
		// integrity.go). Opening an older store upgrades it.
		opts.FormatMajorVersion = pebble.FormatWALSyncChunks
	}
	// Bloom filters make the common negative lookups (a key not yet
	// stored, a user key absent from trusted) skip the data blocks.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	if opts.ErrorIfNotExists {
		// pebble reports a missing read-only directory with an error of its
		// own making; check first, to return fs.ErrNotExist.
		if _, err := o.fs.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fs.ErrNotExist
		}
	}
	if !o.readOnly {
		if err := probeUser(ctx, dir, opts); err != nil {
			return nil, err
		}
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, openErr(err)
	}
	s := &store{src: src, dir: dir, db: db}
	if err := s.checkFormat(o.readOnly); err != nil {
		_ = db.Close()
		return nil, err
	}
	if o.readOnly {
		// A writable store was checked by its probe; a read-only one
		// (trusted) is checked here, and never repaired.
		err = checkStore(ctx, db, opts, dir, false)
	} else if src == User {
		if s.mark, err = readCommitMark(db); err == nil {
			s.ack, err = openAckWriter(o.fs, dir)
		}
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// openErr translates an error of pebble.Open.
func openErr(err error) error {
	if errors.Is(err, pebble.ErrDBDoesNotExist) {
		return fs.ErrNotExist
	}
	if strings.Contains(err.Error(), "merger name from file") {
		// A pebble store written without our merge operator: not
		// ours. pebble has no sentinel for this.
		return fmt.Errorf("%w: not a capsengine store: %w", ErrFormat, err)
	}
	if ce := classifyOpen(err); ce != err {
		return ce
	}
	return translate(err)
}

// checkFormat reads the format marker, writing it into a new writable
// store. A store without the marker must be empty: it is not ours.
func (s *store) checkFormat(readOnly bool) error {
	v, closer, err := s.db.Get(formatKey)
	switch {
	case err == nil:
		defer closer.Close()
		if !bytes.Equal(v, formatValue) {
			if bytes.HasPrefix(v, formatValue[:len(formatValue)-1]) {
				return fmt.Errorf("%w: the store has format %d, this version reads %d",
					ErrFormat, v[len(v)-1], formatValue[len(formatValue)-1])
			}
			return fmt.Errorf("%w: not a capsengine store", ErrFormat)
		}
		return nil
	case !errors.Is(err, pebble.ErrNotFound):
		return translate(err)
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return translate(err)
	}
	empty := !it.First()
	if err := it.Close(); err != nil {
		return translate(err)
	}
	if !empty {
		return fmt.Errorf("%w: not a capsengine store", ErrFormat)
	}
	if readOnly {
		return nil
	}
	if err := s.db.Set(formatKey, formatValue, pebble.Sync); err != nil {
		return fmt.Errorf("writing the format marker: %w", translate(err))
	}
	return nil
}

// get reads and decodes the entry at key kk, also returning the size of its
// encoding. It returns ErrNotFound (unwrapped, so a miss costs no
// allocation of its own) when the key is absent.
func (s *store) get(kk []byte) (*Entry, int, error) {
	it, err := s.find(kk)
	if err != nil {
		return nil, 0, fmt.Errorf("storage: %s store: get %x: %w", s.src, kk, err)
	}
	if it == nil {
		return nil, 0, ErrNotFound
	}
	v, err := it.ValueAndErr()
	if err != nil {
		it.Close()
		return nil, 0, fmt.Errorf("storage: %s store: get %x: %w", s.src, kk, translate(err))
	}
	e, decodeErr := DecodeEntry(v) // copies what it keeps: v dies with it
	n := len(v)
	if err := it.Close(); err != nil {
		return nil, 0, fmt.Errorf("storage: %s store: get %x: %w", s.src, kk, translate(err))
	}
	if decodeErr != nil {
		return nil, 0, fmt.Errorf("storage: %s store: key %x: %w", s.src, kk, decodeErr)
	}
	return e, n, nil
}

// has reports whether key kk is present, without decoding its value.
func (s *store) has(kk []byte) (bool, error) {
	it, err := s.find(kk)
	if err == nil && it != nil {
		err = translate(it.Close())
	}
	if err != nil {
		return false, fmt.Errorf("storage: %s store: get %x: %w", s.src, kk, err)
	}
	return it != nil, nil
}

// getOptions make a point read consult the bloom filters of every level.
// pebble's own Get skips them in the last level (L6), on the theory that
// a key read is usually there; but a store's common read is a key never
// stored (a new client's first presence), and L6 holds nearly all the
// data, so each such miss read an index and a data block. With the
// filters a miss costs less than half what it did, and a hit an eighth
// more (BenchmarkGetL6).
var getOptions = pebble.IterOptions{UseL6Filters: true}

// find returns an iterator positioned on kk, which the caller closes, or
// nil when kk is not stored.
func (s *store) find(kk []byte) (*pebble.Iterator, error) {
	if s.filter != nil && !s.filter.mayHave(kk) {
		return nil, nil
	}
	it, err := s.db.NewIter(&getOptions)
	if err != nil {
		return nil, translate(err)
	}
	// The comparer's prefix of a key is the whole key, so a prefix seek
	// lands on kk or on nothing.
	if it.SeekPrefixGE(kk) && bytes.Equal(it.Key(), kk) {
		return it, nil
	}
	return nil, translate(it.Close())
}

// startFilter starts the store's key filter (keyFilter). Only a DB's
// stores have one: every write to them goes through its writer, which
// tells the filter; the offline writers (repair, TrustedWriter) do not.
func (s *store) startFilter(log *slog.Logger) {
	s.filter = newKeyFilter(s.keys, log.With("store", s.src.String()))
}

// keys calls fn with every entry's key, in order; the key is valid only
// during the call. It returns how many.
//
// The walk reopens its iterator every keysSegment keys, each time on a
// newer state of the store: an iterator pins the memtables and tables it
// reads, and one held over a whole large store while a cold flood writes
// would keep every memtable flushed meanwhile in memory. Each key is
// still seen once, and so is every key committed before the walk began
// (what the key filter needs).
func (s *store) keys(ctx context.Context, fn func(kk []byte)) (int, error) {
	n := 0
	lower := entryLower
	for {
		it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: entryUpper})
		if err != nil {
			return n, translate(err)
		}
		seg := 0
		var last []byte
		for valid := it.First(); valid; valid = it.Next() {
			if ctx.Err() != nil {
				it.Close()
				return n, ctx.Err()
			}
			fn(it.Key())
			n++
			if seg++; seg == keysSegment {
				last = append(last[:0], it.Key()...)
				break
			}
		}
		if err := it.Close(); err != nil {
			return n, translate(err)
		}
		if last == nil {
			return n, nil
		}
		// The next segment starts just after the last key seen.
		lower = append(last, 0)
	}
}

// keysSegment is how many keys keys walks with one iterator.
const keysSegment = 4096

// scan calls fn for every entry in key order, over a consistent snapshot.
// With keysOnly the values are not decoded (Record.Entry is nil).
func (s *store) scan(ctx context.Context, keysOnly bool, fn func(Record) error) error {
	return s.scanWith(ctx, keysOnly, func(r Record, _ int64) error { return fn(r) })
}

// scanSized is scan that also gives each record's key and value size.
func (s *store) scanSized(ctx context.Context, fn func(Record, int64) error) error {
	return s.scanWith(ctx, false, fn)
}

func (s *store) scanWith(ctx context.Context, keysOnly bool, fn func(Record, int64) error) error {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: entryLower, UpperBound: entryUpper})
	if err != nil {
		return fmt.Errorf("storage: scan %s store: %w", s.src, translate(err))
	}
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				it.Close()
				return err
			}
		}
		var r Record
		size := int64(len(it.Key()))
		r.Key, r.Err = decodeKey(it.Key())
		if r.Err == nil && !keysOnly {
			var v []byte
			if v, err = it.ValueAndErr(); err != nil {
				r.Err = translate(err)
			} else if r.Entry, r.Err = DecodeEntry(v); r.Err != nil {
				r.Err = fmt.Errorf("key %s: %w", r.Key, r.Err)
			}
			size += int64(len(v))
		}
		if err := fn(r, size); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("storage: scan %s store: %w", s.src, translate(err))
	}
	return nil
}

// count counts entries per scheme and algorithm; keys that do not decode
// are counted under the zero Kind.
func (s *store) count(ctx context.Context) (map[Kind]int, error) {
	out := make(map[Kind]int)
	err := s.scan(ctx, true, func(r Record) error {
		out[Kind{r.Key.Scheme, r.Key.Alg}]++
		return nil
	})
	return out, err
}

// diskBytes is the space the store's files take.
func (s *store) diskBytes() uint64 { return s.db.Metrics().DiskSpaceUsage() }

func (s *store) close() error {
	if s.filter != nil {
		s.filter.stop()
	}
	if err := s.ack.close(); err != nil {
		s.ack = nil
		_ = s.db.Close()
		return fmt.Errorf("storage: close %s store %s: %w", s.src, s.dir, err)
	}
	s.ack = nil
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("storage: close %s store %s: %w", s.src, s.dir, translate(err))
	}
	return nil
}
