package storage

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/capsengine/capsengine/hashing"
)

// Defaults for the zero Config fields.
const (
	DefaultCacheBytes      = 64 << 20
	DefaultBlockCacheBytes = 16 << 20
	DefaultMaxBatch        = 4096
)

// Config configures Open. Only Dir is required.
type Config struct {
	// Dir is the user store's directory. Open creates it when missing.
	Dir string

	// TrustedDir is the trusted store's directory, or "" for none. Open
	// opens it read-only and fails with an error wrapping fs.ErrNotExist
	// when it does not exist; OpenTrustedWriter creates and fills it.
	TrustedDir string

	// FS is the filesystem both stores live on. Nil means the operating
	// system's (vfs.Default); tests pass vfs.NewMem().
	FS vfs.FS
	// TrustedFS, when set, is the trusted store's filesystem instead of
	// FS: a user store kept in memory (vfs.NewMem) beside a trusted store
	// on disk, the seed a program ships.
	TrustedFS vfs.FS

	// CacheBytes is the hot cache's capacity (ristretto MaxCost), in bytes
	// of estimated memory. 0 means DefaultCacheBytes (64 MiB); a negative
	// value disables the hot cache.
	//
	// Sizing: a typical client's entry (15–40 features, one identity, maybe
	// a software-version form) encodes to 400–1,000 bytes and costs about
	// 2.2 times that cached, 1–2.5 KiB. 64 MiB holds some 30,000–50,000
	// distinct feature sets, more than a large public network announces
	// at once (the capsdb corpus, years of observations, has 1,525). Size
	// it to the distinct vers seen in a day; a miss costs a pebble read
	// (a few µs), not a network query.
	CacheBytes int64

	// BlockCacheBytes is pebble's block cache for each store, in bytes.
	// 0 means DefaultBlockCacheBytes (16 MiB). The user store's memtables
	// (up to 3 × 16 MiB, which pebble counts against the same budget)
	// come on top.
	BlockCacheBytes int64

	// Verify relaxes the verification Put applies. The zero value is
	// strict.
	Verify hashing.Options

	// MaxBatch caps the number of inserts one synced commit carries.
	// 0 means DefaultMaxBatch (4096).
	MaxBatch int

	// System is the actor system the storage actors run in. Nil means Open
	// creates one, logging to Logger, and Close shuts it down.
	System *actor.ActorSystem

	// Logger receives the store's logs and pebble's (Infof at Debug). Nil
	// means slog.New(slog.DiscardHandler).
	Logger *slog.Logger

	// Repair lets Open start from a damaged user store: instead of failing
	// with ErrCorrupt, it runs Repair (keep every entry that verifies, move
	// the damaged store aside) and opens the result. The trusted store is
	// never repaired. Off by default: losing entries is for an operator to
	// decide.
	Repair bool

	// Retain is how long an entry not seen again stays in the user store:
	// prune passes delete entries whose LastSeen is older. 0 means
	// DefaultRetain (180 days); a negative value keeps entries forever.
	Retain time.Duration

	// MaxBytes caps the user store's live entries (keys and values, what
	// the store holds once compacted): past it, prune passes delete the
	// least recently seen entries down to 90% of it. 0 means no cap. Disk
	// use runs above it by pebble's overhead (write-ahead log, tables not
	// yet compacted).
	MaxBytes int64

	// PruneEvery is how often a prune pass runs while the DB is open; a
	// pass also runs when MaxBytes/8 were written since the last one. 0
	// means DefaultPruneEvery (1 hour); a negative value runs no passes
	// (DB.Prune still does one on demand).
	PruneEvery time.Duration

	// InUse reports keys that prune passes must keep whatever their age or
	// the store's size: the vers live JIDs announce now. It is called from
	// the pass's goroutine, once per candidate, and must be safe for
	// concurrent use and quick. Nil keeps nothing back. The trusted store
	// is never pruned.
	InUse func(hashing.Key) bool

	// Now stamps FirstSeen and LastSeen of entries given to Put without
	// them. Nil means time.Now.
	Now func() time.Time
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.FS == nil {
		out.FS = vfs.Default
	}
	if out.TrustedFS == nil {
		out.TrustedFS = out.FS
	}
	if out.CacheBytes == 0 {
		out.CacheBytes = DefaultCacheBytes
	}
	if out.BlockCacheBytes <= 0 {
		out.BlockCacheBytes = DefaultBlockCacheBytes
	}
	if out.MaxBatch <= 0 {
		out.MaxBatch = DefaultMaxBatch
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.Retain == 0 {
		out.Retain = DefaultRetain
	}
	if out.PruneEvery == 0 {
		out.PruneEvery = DefaultPruneEvery
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	return out
}
