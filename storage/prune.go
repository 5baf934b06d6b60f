package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/capsengine/capsengine/hashing"
)

// Retention. Without it the user store only grows: every ver ever
// verified stays, as in ejabberd's caps table (issue 17). A prune pass
// scans the user store and deletes, least recently seen first:
//
//   - every entry not seen for Retain (by its LastSeen), then
//   - while the live entries' bytes exceed MaxBytes, the least recently
//     seen ones, down to pruneLowWater of MaxBytes, so that a store at its
//     cap is not pruned again by the next few writes.
//
// It never touches the trusted store, never deletes a key InUse reports
// (a ver a live JID announces), and never deletes an entry seen again
// since the pass read it: the delete is conditional, checked by the writer
// against the stored LastSeen.
//
// Size is measured as the live entries' keys and values, which is what
// the store holds once compacted; its files run above that by pebble's
// overhead (the WAL, tables not yet compacted), and shrink only as pebble
// compacts the deletions away.

// Retention defaults.
const (
	DefaultRetain     = 180 * 24 * time.Hour
	DefaultPruneEvery = time.Hour
)

// pruneLowWater is the fraction of MaxBytes a size-driven pass prunes down
// to.
const pruneLowWater = 0.9

// PruneOptions overrides, for one Prune call, the Config fields of the
// same names; zero fields keep the Config's.
type PruneOptions struct {
	// DryRun counts what would be pruned and deletes nothing.
	DryRun bool
	// Retain: see Config.Retain.
	Retain time.Duration
	// MaxBytes: see Config.MaxBytes.
	MaxBytes int64
}

// PruneResult is what one prune pass found and did.
type PruneResult struct {
	// Scanned counts the user store's entries, ScannedBytes their keys
	// and values.
	Scanned      int
	ScannedBytes int64
	// ByAge and BySize count the entries the pass chose to prune (in a dry
	// run, would prune) for not being seen within Retain, and to bring the
	// store under MaxBytes; SeenAgain of them were kept after all. Bytes is
	// the keys and values of those pruned.
	ByAge, BySize int
	Bytes         int64
	// InUse counts entries that would have been pruned but InUse kept.
	InUse int
	// Unreadable counts entries that do not decode; pruning leaves them to
	// "capsengine db verify".
	Unreadable int
	// LiveBytes is the entries' keys and values after the pass.
	LiveBytes int64
	// SeenAgain counts deletes the writer skipped because the entry was
	// seen again after the pass read it.
	SeenAgain int
}

// Pruned is ByAge + BySize.
func (r PruneResult) Pruned() int { return r.ByAge + r.BySize }

// pruneCandidate is one entry a pass may delete.
type pruneCandidate struct {
	key      hashing.Key
	lastSeen time.Time
	size     int64
}

// Prune runs one prune pass over the user store now, with opts overriding
// the Config's Retain and MaxBytes. Deletes go through the writer, so
// Prune may run while the store serves; passes do not overlap (a second
// Prune waits for the first). It returns ErrClosed after Close.
func (db *DB) Prune(ctx context.Context, opts PruneOptions) (PruneResult, error) {
	select {
	case db.pruneMu <- struct{}{}:
		defer func() { <-db.pruneMu }()
	case <-ctx.Done():
		return PruneResult{}, ctx.Err()
	}
	retain, maxBytes := db.cfg.Retain, db.cfg.MaxBytes
	if opts.Retain != 0 {
		retain = opts.Retain
	}
	if opts.MaxBytes != 0 {
		maxBytes = opts.MaxBytes
	}
	var res PruneResult
	var keep []pruneCandidate
	var doomed []pruneCandidate
	cutoff := time.Time{}
	if retain > 0 {
		cutoff = db.cfg.Now().Add(-retain)
	}
	inUse := db.cfg.InUse
	err := db.scanSized(ctx, func(r Record, size int64) error {
		res.Scanned++
		res.ScannedBytes += size
		if r.Err != nil {
			res.Unreadable++
			return nil
		}
		c := pruneCandidate{key: r.Key, lastSeen: r.Entry.LastSeen, size: size}
		if !cutoff.IsZero() && c.lastSeen.Before(cutoff) {
			if inUse == nil || !inUse(c.key) {
				res.ByAge++
				doomed = append(doomed, c)
				return nil
			}
			res.InUse++
		}
		// Only a size cap needs the survivors, to drop the oldest: without
		// one a pass holds just what it deletes.
		if maxBytes > 0 {
			keep = append(keep, c)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	live := res.ScannedBytes
	for _, c := range doomed {
		live -= c.size
	}
	if maxBytes > 0 && live > maxBytes {
		target := int64(float64(maxBytes) * pruneLowWater)
		slices.SortFunc(keep, func(a, b pruneCandidate) int { return a.lastSeen.Compare(b.lastSeen) })
		for _, c := range keep {
			if live <= target {
				break
			}
			if inUse != nil && inUse(c.key) {
				res.InUse++
				continue
			}
			res.BySize++
			live -= c.size
			doomed = append(doomed, c)
		}
	}
	for _, c := range doomed {
		res.Bytes += c.size
	}
	res.LiveBytes = live
	if opts.DryRun || len(doomed) == 0 {
		return res, nil
	}
	skipped, skippedBytes, err := db.pruneDelete(ctx, doomed)
	res.SeenAgain = skipped
	res.Bytes -= skippedBytes
	res.LiveBytes += skippedBytes
	return res, err
}

// pruneDelete hands the deletes to the writer, all at once so that they
// share commits, and waits for them. It returns how many the writer
// skipped because their entry was seen again.
func (db *DB) pruneDelete(ctx context.Context, doomed []pruneCandidate) (skipped int, skippedBytes int64, err error) {
	reqs := make([]*writeRequest, 0, len(doomed))
	sizes := make([]int64, 0, len(doomed))
	var errs []error
	for _, c := range doomed {
		req := &writeRequest{key: c.key, del: true, seenBefore: c.lastSeen, done: make(chan error, 1)}
		if err := db.send(req); err != nil {
			if !errors.Is(err, ErrTrusted) {
				errs = append(errs, err)
				break
			}
			continue
		}
		reqs = append(reqs, req)
		sizes = append(sizes, c.size)
	}
	for i, req := range reqs {
		var err error
		select {
		case err = <-req.done:
		case <-ctx.Done():
			return skipped, skippedBytes, ctx.Err()
		case <-db.writerDone:
			select {
			case err = <-req.done:
			default:
				err = fmt.Errorf("storage: prune: %w", ErrClosed)
			}
		}
		switch {
		case errors.Is(err, errSeenAgain):
			skipped++
			skippedBytes += sizes[i]
		case err != nil:
			errs = append(errs, err)
		default:
			db.prunedEntries.Add(1)
			db.prunedBytes.Add(uint64(sizes[i]))
		}
		if len(errs) > 0 {
			break
		}
	}
	return skipped, skippedBytes, errors.Join(errs...)
}

// errSeenAgain answers a conditional delete the writer skipped.
var errSeenAgain = errors.New("storage: entry seen again; not pruned")

// scanSized is Scan over the user store that also gives each record's
// key and value size.
func (db *DB) scanSized(ctx context.Context, fn func(Record, int64) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	return db.user.scanSized(ctx, fn)
}

// pruner runs a prune pass every PruneEvery, and sooner when the writer
// reports that MaxBytes/8 were written since the last pass, until stop is
// closed.
func (db *DB) pruner(stop <-chan struct{}) {
	defer close(db.prunerDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(db.cfg.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-db.pruneKick:
		}
		db.sinceCheck.Store(0)
		res, err := db.Prune(ctx, PruneOptions{})
		switch {
		case err != nil && ctx.Err() == nil:
			db.log.Error("storage: prune", "err", err)
		case res.Pruned() > 0:
			db.log.Info("storage: pruned the user store", "by_age", res.ByAge, "by_size", res.BySize,
				"bytes", res.Bytes, "live_bytes", res.LiveBytes, "in_use", res.InUse)
		}
	}
}

// wrote is the writer's note of n bytes committed; past MaxBytes/8 it
// kicks the pruner, so a flood of new entries is pruned before it runs
// far past the cap.
func (db *DB) wrote(n int64) {
	if db.pruneKick == nil || db.cfg.MaxBytes <= 0 {
		return
	}
	if db.sinceCheck.Add(n) >= db.cfg.MaxBytes/8 {
		select {
		case db.pruneKick <- struct{}{}:
		default:
		}
	}
}
