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
// # Hot cache
//
// Lookups run on the caller's goroutine, never through an actor: hot cache,
// then trusted, then user; pebble hits are copied into the cache (trusted
// ones included, so the trusted store is read once per key). Put caches the
// entry it wrote, for Info: the next announcer of a key verified a moment
// ago is served from memory, not from a table compaction moved out of the
// block cache. Get and Lookup, which return the metadata too, read pebble
// for such an entry (the merged one only pebble knows may have more nodes
// seen and a wider seen window) and cache what they read. The cache is
// advisory. ristretto may drop a
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
// not-found becomes ErrNotFound, its corruption errors ErrCorrupt, a held
// directory lock ErrLocked. Match with errors.Is.
package storage
