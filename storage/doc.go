// Package storage keeps verified entity capabilities: for each announced
// hash (hashing.Key: scheme, algorithm, digest) the disco#info that hashes
// to it, in two pebble databases behind a ristretto hot cache.
//
//	db, err := storage.Open(ctx, storage.Config{Dir: dir, TrustedDir: trusted})
//	defer db.Close(ctx)
//	err = db.Put(ctx, key, &storage.Entry{Info: *answer, Nodes: []string{node}}) // verified, durable
//	e, err := db.Get(key)                                                         // cache → trusted → user
//
// # Stores
//
// The trusted store is read-only while serving: Open opens it with pebble's
// ReadOnly, and nothing in DB writes to it. It is filled offline through
// OpenTrustedWriter ("capsengine db import --into trusted"). It wins over
// the user store: Open deletes from the user store every key the trusted
// store holds, and Put refuses such keys with ErrTrusted.
//
// The user store holds what the engine verified while serving. Put runs
// hashing.Verify on every entry before it is written; an answer that does
// not hash to its key never reaches the disk.
//
// # Durability
//
// Put returns once its entry is in a synced pebble commit. Writes go to one
// writer actor (protoactor-go) that group-commits them: while one synced
// batch is being committed, new inserts accumulate, and they are committed
// together next. Callers verify and encode in parallel before they hand an
// insert to the writer, and an insert is a pebble merge operand (entries of
// one key merge: nodes joined, first/last seen widened), so the writer never
// reads; its serial work per insert is one append to the batch.
//
// An entry acknowledged by Put survives kill -9 and power loss; the crash
// test kills a writing child process at random moments and finds every
// acknowledged entry. After a failed disk write (disk full) the user store
// fails further writes with ErrFailed until it is reopened; nothing
// acknowledged is lost.
//
// # Damage is never silent
//
// pebble replays a write-ahead log up to its first bad record and takes
// the rest for a torn tail, so damage in the middle of a WAL, or a WAL cut
// short, would drop acknowledged entries without a word. Open prevents
// that three ways (integrity.go): the user store is written in pebble's
// FormatWALSyncChunks format, whose chunks let pebble prove mid-log
// damage; every group commit stores a commit mark that the writer copies,
// after the sync, to the AckFile, so a store whose mark is behind it lost
// acknowledged commits (a crash never causes that: the copy is written
// after the data is durable); and every table's block checksums are read.
// The checks run on a read-only open, so a damaged store is left as it was
// found. Open then fails with a *CorruptError (wrapping ErrCorrupt) that
// names the file and what is lost, unless Config.Repair is set: Repair
// rebuilds the user store from every record it can still read, keeping
// each entry that verifies, and moves the damaged store aside. The trusted
// store is checked too, and never repaired.
//
// # Retention
//
// A prune pass (prune.go) deletes from the user store the entries not seen
// for Config.Retain (180 days by default) and, past Config.MaxBytes, the
// least recently seen; it keeps what Config.InUse reports (the engine
// supplies the vers online JIDs announce) and never touches the trusted
// store. A goroutine runs passes every Config.PruneEvery and when MaxBytes/8
// were written since the last; DB.Prune runs one on demand ("capsengine db
// prune"). Stats counts what was pruned.
//
// # Hot cache
//
// Lookups run on the caller's goroutine, never through an actor: hot cache,
// then trusted, then user; pebble hits are copied into the cache (trusted
// ones included, so the trusted store is read once per key). Put does not
// fill the cache, since only pebble knows the merged entry; the next lookup
// reads it from the memtable. The cache is advisory. ristretto may drop a
// Set and shows it only after it has been applied, so a miss always falls
// through to pebble, which is the truth. Entries of one key differ only in
// metadata (nodes seen, first and last seen), never in their disco#info, so
// a stale cached copy is never a wrong answer.
//
// # Encoding
//
// A key is encoded as a kind byte, the scheme, the algorithm and the raw
// digest (23 bytes for sha-1). A value is a versioned, checksummed binary
// encoding of Entry (see AppendEntry); DecodeEntry rejects damaged bytes
// with ErrCorrupt and never panics.
//
// # Errors
//
// Dependency errors are translated at this package's boundary: pebble's
// not-found becomes ErrNotFound, its corruption errors ErrCorrupt (a
// missing or resized table, which pebble reports in words only, too), a
// held directory lock ErrLocked. Match with errors.Is; errors.As gives the
// *OpenError (which store) and the *CorruptError (which file, what is lost).
package storage
