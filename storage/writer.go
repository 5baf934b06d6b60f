package storage

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/pebble/v2"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/supervise"
)

// writeRequest is one insert or delete on its way to the writer. The
// writer answers on done (buffered) exactly once.
type writeRequest struct {
	key hashing.Key
	del bool
	// seenBefore makes a delete conditional (a prune): it is skipped, and
	// answered with errSeenAgain, when the entry was seen after this time.
	seenBefore time.Time
	enc        []byte // the encoded, verified entry of a put
	// The writer answers on done, or, when then is set, calls then on its
	// own goroutine (PutAsync).
	done chan error
	then func(error)
	skip bool // the writer skipped this conditional delete
}

func (r *writeRequest) op() string {
	if r.del {
		return "delete " + r.key.String()
	}
	return "put " + r.key.String()
}

// flushRequest is the marker the writer sends itself: it arrives after
// every request already in the mailbox, so by then those have joined the
// pending batch.
type flushRequest struct{}

var flush = &flushRequest{}

// errWriterRestarted answers the requests pending when the writer panicked:
// their batch may or may not have been committed.
var errWriterRestarted = errors.New("storage: writer restarted after a panic; the write may not be durable")

// writer is the storage actor that owns every write to the user store.
//
// Group commit: a request joins the pending batch; the first one of a
// batch also queues a flush marker behind whatever is in the mailbox. When
// the marker comes up, the writer commits the batch with one synced
// pebble commit and answers each request. While it commits, new requests
// queue in the mailbox and form the next batch. So a lone insert is
// committed at once, and N concurrent inserters share one fsync.
//
// Everything else happens before a request is sent, on the callers'
// goroutines: verification, encoding, the trusted check. Puts are pebble
// merge operands, or sets of keys the key filter knows are not stored, so
// the writer never reads: its serial work per request is appending it to
// the batch.
//
// Its state outlives a restart (the producer returns the same writer), but
// a restart answers the pending requests with errWriterRestarted.
type writer struct {
	db          *DB
	pending     []*writeRequest
	flushQueued bool
	// failed is set after a commit error that pebble treats as fatal.
	failed error
}

// crashRequest makes the writer panic; tests use it to exercise the
// supervisor.
type crashRequest struct{}

func (w *writer) Receive(c actor.Context) {
	defer supervise.Rethrow()
	switch m := c.Message().(type) {
	case *writeRequest:
		w.pending = append(w.pending, m)
		if len(w.pending) >= w.db.cfg.MaxBatch {
			w.commit()
		} else if !w.flushQueued {
			w.flushQueued = true
			c.Send(c.Self(), flush)
		}
	case *flushRequest:
		w.flushQueued = false
		w.commit()
	case *actor.Stopping:
		w.commit()
	case *actor.Restarting:
		w.answer(errWriterRestarted)
		w.flushQueued = false
	case *actor.Stopped:
		w.answer(fmt.Errorf("storage: writer stopped: %w", ErrClosed))
		close(w.db.writerDone)
	case *crashRequest:
		panic("storage: crash requested")
	}
}

// answer sends err to every pending request and empties the batch; a
// skipped conditional delete gets errSeenAgain instead of success.
func (w *writer) answer(err error) {
	for i, r := range w.pending {
		e := err
		if err == nil && r.skip {
			e = errSeenAgain
		}
		if r.then != nil {
			r.then(e)
		} else {
			r.done <- e
		}
		w.pending[i] = nil
	}
	w.pending = w.pending[:0]
}

// commit writes the pending batch with one synced commit and answers it.
func (w *writer) commit() {
	if len(w.pending) == 0 {
		return
	}
	if w.failed != nil {
		w.answer(w.failed)
		return
	}
	db := w.db
	b := db.user.db.NewBatch()
	defer b.Close()
	var kb keyBuf
	var written int64
	deleted := 0
	db.user.filter.beginWrite()
	defer db.user.filter.endWrite()
	for _, r := range w.pending {
		switch {
		case r.del && !r.seenBefore.IsZero() && w.seenAgain(r):
			r.skip = true
		case r.del:
			_ = b.Delete(kb.of(r.key), nil)
			deleted++
		default:
			kk := kb.of(r.key)
			// Before the commit: a key committed is never filtered out.
			if db.user.filter.add(kk) {
				// Nothing to merge with: a set spares pebble the merge
				// operator on every later read and compaction of the key
				// (a copy of the value each time).
				_ = b.Set(kk, r.enc, nil)
			} else {
				_ = b.Merge(kk, r.enc, nil)
			}
			written += int64(len(r.enc)) + maxKeyLen
		}
	}
	db.user.filter.deleted(deleted)
	// The commit mark rides in the batch; once the batch is synced it is
	// copied to the AckFile, which Open compares with the store to find
	// acknowledged commits a damaged WAL lost.
	next := commitMark{Commits: db.user.mark.Commits + 1, Writes: db.user.mark.Writes + uint64(len(w.pending))}
	var mb [commitMarkSize]byte
	_ = b.Set(commitKey, next.append(mb[:0]), nil)
	if err := w.apply(b); err != nil {
		w.answer(err)
		return
	}
	db.user.mark = next
	if err := db.user.ack.write(next); err != nil {
		// Only the next Open's check is weaker for it; the commit is
		// durable.
		db.log.Warn("storage: writing the acknowledgement record", "err", err)
	}
	db.commits.Add(1)
	db.committed.Add(uint64(len(w.pending)))
	db.wrote(written)
	for _, r := range w.pending {
		if r.del {
			db.cache.del(r.key)
		}
	}
	w.answer(nil)
}

// seenAgain reports whether a prune's delete must be skipped: a put of
// the same key waits in this batch, or the stored entry was seen after
// the prune pass read it. This is the writer's only read, and only
// prunes pay for it.
func (w *writer) seenAgain(r *writeRequest) bool {
	for _, p := range w.pending {
		if !p.del && p.key == r.key {
			return true
		}
	}
	var kb keyBuf
	e, _, err := w.db.user.get(kb.of(r.key))
	if err != nil {
		// Absent: nothing to delete. Unreadable: deleting a damaged
		// value loses nothing that verifies.
		return errors.Is(err, ErrNotFound)
	}
	return e.LastSeen.After(r.seenBefore)
}

// apply commits b with Sync. pebble reports a failed WAL write through
// Logger.Fatalf, which pebbleLogger turns into a *fatalError panic: it is
// recovered here and fails the store for writing, since pebble's commit
// pipeline cannot go on after it.
func (w *writer) apply(b *pebble.Batch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(*fatalError)
			if !ok {
				panic(r)
			}
			w.failed = fmt.Errorf("%w: %w", ErrFailed, fe)
			w.db.log.Error("storage: user store failed", "err", fe)
			err = w.failed
		}
	}()
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("storage: commit: %w", translate(err))
	}
	return nil
}
