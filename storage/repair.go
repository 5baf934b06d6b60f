package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/capsengine/capsengine/hashing"
)

// RepairReport says what Repair found and did.
type RepairReport struct {
	// Problem is what the checks found (a *CorruptError), or nil when the
	// store was intact and Repair left it alone.
	Problem error
	// Damaged is where the damaged store was moved; "" when it was not.
	Damaged string
	// Kept counts the entries that verify, now in the repaired store.
	Kept int
	// Rejected counts keys whose every stored value failed to decode or
	// to verify: they were left out.
	Rejected int
	// Skipped lists what could not be read, one line per damaged part
	// ("000005.sst: stopped after 120 records: ...").
	Skipped []string
}

func (r *RepairReport) String() string {
	if r.Problem == nil {
		return "the store is intact; nothing to repair"
	}
	s := fmt.Sprintf("repaired: kept %d entries that verify, left out %d that do not; the damaged store is in %s",
		r.Kept, r.Rejected, r.Damaged)
	if len(r.Skipped) > 0 {
		s += "; unreadable: " + strings.Join(r.Skipped, "; ")
	}
	return s
}

// Repair checks the user store cfg.Dir as Open does and, when it is
// damaged, rebuilds it: it reads every record it can from the store's
// tables and write-ahead logs (skipping damaged blocks and records),
// keeps each entry that decodes and verifies (hashing.Verify, under the
// leniency it was stored with), writes those to a fresh store, moves the
// damaged one aside to Dir.damaged-TIME and the fresh one to Dir. Deletes
// are honoured by their sequence numbers, so a deleted entry stays deleted
// when its tombstone is readable.
//
// The trusted store is never touched: Repair does not open it. A store
// that passes the checks is left as it is (Report.Problem is nil). Repair
// must not run while the store is open.
func Repair(ctx context.Context, cfg Config) (*RepairReport, error) {
	if cfg.Dir == "" {
		return nil, errors.New("storage: Config.Dir is empty")
	}
	c := cfg.withDefaults()
	opts := &pebble.Options{FS: c.FS, Merger: entryMerger, Logger: pebbleLogger{log: c.Logger}}
	opts.EnsureDefaults()
	rep := &RepairReport{}
	rep.Problem = probeUser(ctx, c.Dir, opts)
	if rep.Problem == nil || !errors.Is(rep.Problem, ErrCorrupt) {
		if rep.Problem != nil {
			return nil, &OpenError{Source: User, Dir: c.Dir, Err: rep.Problem}
		}
		return rep, nil
	}
	c.Logger.Warn("storage: repairing the user store", "dir", c.Dir, "err", rep.Problem)

	rc := newRecovered()
	names, err := c.FS.List(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("storage: repair: %w", err)
	}
	slices.Sort(names)
	ropts := opts.MakeReaderOptions()
	for _, n := range names {
		path := c.FS.PathJoin(c.Dir, n)
		switch {
		case strings.HasSuffix(n, ".sst"):
			if msg := rc.readTable(ctx, c.FS, path, ropts); msg != "" {
				rep.Skipped = append(rep.Skipped, n+": "+msg)
			}
		case strings.HasSuffix(n, ".log"):
			num, err := strconv.ParseUint(strings.TrimSuffix(n, ".log"), 10, 64)
			if err != nil {
				continue
			}
			rep.Skipped = append(rep.Skipped, rc.readWAL(c.FS, path, num, n)...)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}

	tmp := c.Dir + ".repair"
	if err := c.FS.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("storage: repair: %w", err)
	}
	fresh, err := openStore(ctx, User, tmp, storeOptions{fs: c.FS, log: c.Logger, blockCache: c.BlockCacheBytes})
	if err != nil {
		return nil, fmt.Errorf("storage: repair: %w", err)
	}
	rep.Kept, rep.Rejected, err = rc.write(fresh)
	if cerr := fresh.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("storage: repair: %w", err)
	}
	rep.Damaged = c.Dir + ".damaged-" + c.Now().UTC().Format("20060102T150405Z")
	if err := c.FS.Rename(c.Dir, rep.Damaged); err != nil {
		return nil, fmt.Errorf("storage: repair: moving the damaged store aside: %w", err)
	}
	if err := c.FS.Rename(tmp, c.Dir); err != nil {
		return nil, fmt.Errorf("storage: repair: moving the repaired store in place (it is in %s): %w", tmp, err)
	}
	if d, err := c.FS.OpenDir(c.FS.PathDir(c.Dir)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	c.Logger.Warn("storage: repaired the user store", "dir", c.Dir, "kept", rep.Kept, "rejected", rep.Rejected,
		"damaged", rep.Damaged, "skipped", strings.Join(rep.Skipped, "; "))
	return rep, nil
}

// recovered collects, per key, the values and the newest deletion read
// from a damaged store's files, in any order: sequence numbers order them.
type recovered struct {
	keys map[string]*recoveredKey
}

type recoveredKey struct {
	delSeq uint64
	vals   []seqValue
}

type seqValue struct {
	seq uint64
	v   []byte
}

func newRecovered() *recovered { return &recovered{keys: map[string]*recoveredKey{}} }

func (rc *recovered) add(kind pebble.InternalKeyKind, seq uint64, ukey, value []byte) {
	if len(ukey) == 0 || ukey[0] != kindEntry {
		return // metadata: the fresh store writes its own
	}
	rk := rc.keys[string(ukey)]
	if rk == nil {
		rk = &recoveredKey{}
		rc.keys[string(ukey)] = rk
	}
	switch kind {
	case pebble.InternalKeyKindDelete, pebble.InternalKeyKindSingleDelete:
		rk.delSeq = max(rk.delSeq, seq)
	case pebble.InternalKeyKindSet, pebble.InternalKeyKindSetWithDelete, pebble.InternalKeyKindMerge:
		rk.vals = append(rk.vals, seqValue{seq, bytes.Clone(value)})
	}
}

// readTable reads one table's point records until its first damaged block.
// It returns "" when it read the whole table.
func (rc *recovered) readTable(ctx context.Context, fsys vfs.FS, path string, ropts sstable.ReaderOptions) string {
	r, err := openTable(ctx, fsys, path, ropts)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer r.Close()
	it, err := r.NewPointIter(ctx, sstable.IterOptions{})
	if err != nil {
		return "unreadable: " + err.Error()
	}
	// An iterator stops for good at a damaged block. Reading forward to
	// the damage and then backward from the end to it loses only the
	// damaged blocks (several, if the damage is spread).
	n := 0
	var ferr error
	for kv := it.First(); kv != nil; kv = it.Next() {
		v, _, err := kv.V.Value(nil)
		if err != nil {
			ferr = err
			break
		}
		rc.add(kv.K.Kind(), uint64(kv.K.SeqNum()), kv.K.UserKey, v)
		n++
	}
	if ferr == nil {
		ferr = it.Error()
	}
	if err := it.Close(); ferr == nil {
		ferr = err
	}
	if ferr == nil {
		return ""
	}
	back := 0
	if it, err := r.NewPointIter(ctx, sstable.IterOptions{}); err == nil {
		for kv := it.Last(); kv != nil; kv = it.Prev() {
			v, _, err := kv.V.Value(nil)
			if err != nil {
				break
			}
			rc.add(kv.K.Kind(), uint64(kv.K.SeqNum()), kv.K.UserKey, v)
			back++
		}
		_ = it.Close()
	}
	return fmt.Sprintf("damaged: read %d records before the damage and %d after it (%v)", n, back, ferr)
}

// readWAL reads one write-ahead log's batches, past any damage (see
// scanWAL).
func (rc *recovered) readWAL(fsys vfs.FS, path string, num uint64, name string) []string {
	f, err := fsys.Open(path)
	if err != nil {
		return []string{name + ": unreadable: " + err.Error()}
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return []string{name + ": unreadable: " + err.Error()}
	}
	records, damaged := scanWAL(b, uint32(num))
	var skipped []string
	for _, off := range damaged {
		skipped = append(skipped, fmt.Sprintf("%s: damaged at offset %d; read on from the next intact record", name, off))
	}
	for _, data := range records {
		var b pebble.Batch
		if b.SetRepr(data) != nil {
			continue
		}
		seq := uint64(b.SeqNum())
		br := b.Reader()
		for i := uint64(0); ; i++ {
			kind, k, v, ok, err := br.Next()
			if err != nil || !ok {
				break
			}
			rc.add(kind, seq+i, k, v)
		}
	}
	return skipped
}

// write merges each key's live values (newer than its newest deletion),
// keeping those that decode and verify, into s.
func (rc *recovered) write(s *store) (kept, rejected int, err error) {
	keys := make([]string, 0, len(rc.keys))
	for k := range rc.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := s.db.NewBatch()
	defer func() { b.Close() }()
	for _, kk := range keys {
		rk := rc.keys[kk]
		k, kerr := decodeKey([]byte(kk))
		var out *Entry
		if kerr == nil {
			slices.SortFunc(rk.vals, func(a, b seqValue) int { return cmpU64(a.seq, b.seq) })
			for _, sv := range rk.vals {
				if sv.seq <= rk.delSeq {
					continue
				}
				e, err := DecodeEntry(sv.v)
				if err != nil {
					continue
				}
				if _, err := hashing.Verify(k, &e.Info, e.Method.Options()); err != nil {
					continue
				}
				if out == nil {
					out = e
				} else {
					out = merge(out, e)
				}
			}
		}
		switch {
		case out != nil:
			kept++
			if err := b.Merge([]byte(kk), AppendEntry(nil, out), nil); err != nil {
				return 0, 0, translate(err)
			}
		case kerr != nil || len(rk.vals) > 0 && slices.ContainsFunc(rk.vals, func(sv seqValue) bool { return sv.seq > rk.delSeq }):
			rejected++
		}
		if b.Count() >= trustedBatch {
			if err := b.Commit(pebble.NoSync); err != nil {
				return 0, 0, translate(err)
			}
			b.Close()
			b = s.db.NewBatch()
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, 0, translate(err)
	}
	// Flushed, the repaired store has no WAL to replay and its tables are
	// checked on the next Open.
	return kept, rejected, translate(s.db.Flush())
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
