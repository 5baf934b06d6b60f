package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/capsengine/capsengine/hashing"
)

// TrustedWriter writes the trusted store. It is the only way anything
// writes there, and it is meant for offline use ("capsengine db import
// --into trusted"): it holds the store's lock, so it fails with ErrLocked
// while a DB serves from the store, and a DB cannot open the store while
// a TrustedWriter has it.
//
// Every entry is verified before it is written. Writes are collected in a
// batch that is committed every 1,000 writes, before a Scan, and, synced,
// by Close. A TrustedWriter is not safe for concurrent use.
type TrustedWriter struct {
	cfg   Config
	s     *store
	batch *pebble.Batch
}

const trustedBatch = 1000

// OpenTrustedWriter opens cfg.TrustedDir for writing, creating it if
// needed. Of cfg it uses TrustedDir, TrustedFS (or FS), BlockCacheBytes, Verify, Logger
// and Now.
func OpenTrustedWriter(cfg Config) (*TrustedWriter, error) {
	if cfg.TrustedDir == "" {
		return nil, errors.New("storage: Config.TrustedDir is empty")
	}
	c := cfg.withDefaults()
	s, err := openStore(context.Background(), Trusted, c.TrustedDir, storeOptions{fs: c.TrustedFS, log: c.Logger, blockCache: c.BlockCacheBytes})
	if err != nil {
		return nil, err
	}
	return &TrustedWriter{cfg: c, s: s, batch: s.db.NewIndexedBatch()}, nil
}

// Put verifies e.Info against k and writes it, merged with any entry
// already stored for k as DB.Put merges. It returns the verification error
// like DB.Put. The write is durable after Close.
func (w *TrustedWriter) Put(k hashing.Key, e *Entry) error {
	enc, err := encodeVerified(&w.cfg, k, e)
	if err != nil {
		return err
	}
	var kb keyBuf
	if err := w.batch.Merge(kb.of(k), enc, nil); err != nil {
		return fmt.Errorf("storage: put %s: %w", k, translate(err))
	}
	return w.maybeCommit()
}

// Delete removes k from the trusted store.
func (w *TrustedWriter) Delete(k hashing.Key) error {
	var kb keyBuf
	if err := w.batch.Delete(kb.of(k), nil); err != nil {
		return fmt.Errorf("storage: delete %s: %w", k, translate(err))
	}
	return w.maybeCommit()
}

func (w *TrustedWriter) maybeCommit() error {
	if w.batch.Count() < trustedBatch {
		return nil
	}
	return w.commit(pebble.NoSync)
}

func (w *TrustedWriter) commit(opts *pebble.WriteOptions) error {
	if w.batch.Empty() {
		return nil
	}
	err := w.batch.Commit(opts)
	w.batch.Close()
	w.batch = w.s.db.NewIndexedBatch()
	if err != nil {
		return fmt.Errorf("storage: trusted store: commit: %w", translate(err))
	}
	return nil
}

// Get reads k, including writes not yet committed.
func (w *TrustedWriter) Get(k hashing.Key) (*Entry, error) {
	var kb keyBuf
	v, closer, err := w.batch.Get(kb.of(k))
	if err != nil {
		return nil, translate(err)
	}
	defer closer.Close()
	e, err := DecodeEntry(v)
	if err != nil {
		return nil, fmt.Errorf("storage: trusted store: key %s: %w", k, err)
	}
	return e, nil
}

// Scan is DB.Scan over the trusted store; it commits pending writes first.
func (w *TrustedWriter) Scan(ctx context.Context, fn func(Record) error) error {
	if err := w.commit(pebble.NoSync); err != nil {
		return err
	}
	return w.s.scan(ctx, false, fn)
}

// Count is DB.Count over the trusted store; it commits pending writes
// first.
func (w *TrustedWriter) Count(ctx context.Context) (map[Kind]int, error) {
	if err := w.commit(pebble.NoSync); err != nil {
		return nil, err
	}
	return w.s.count(ctx)
}

// Close commits pending writes with Sync, flushes the memtable so that a
// read-only open has nothing to replay, and closes the store.
func (w *TrustedWriter) Close() error {
	if w.s == nil {
		return nil
	}
	err := w.commit(pebble.Sync)
	w.batch.Close()
	if err == nil {
		if ferr := w.s.db.Flush(); ferr != nil {
			err = fmt.Errorf("storage: trusted store: flush: %w", translate(ferr))
		}
	}
	err = errors.Join(err, w.s.close())
	w.s = nil
	return err
}
