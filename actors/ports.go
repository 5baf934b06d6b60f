package actors

import (
	"context"
	"errors"
	"time"

	"github.com/capsengine/capsengine/hashing"
)

// Querier sends a disco#info query to node of the entity jid and returns
// the answer. The engine calls it from its own goroutines, never more than
// once at a time per key, and always with a deadline in ctx. A host server
// implements it with its routing; the capsengine command over an XMPP
// connection; tests and the benchmark with simulated peers.
//
// An announcer whose query fails is not asked for the same key again for
// a while (Config.BadAnnouncerTTL), even when it announces it again —
// unless the error says it was not reached (see Unreachable).
type Querier interface {
	QueryInfo(ctx context.Context, jid, node string) (*hashing.Info, error)
}

// Unreachable is what a Querier's error implements (anywhere in its
// errors.As chain) to say that the announcer was not reached, through no
// fault of its own: it was offline when the query arrived (its server
// answered for it), its server could not be reached, or the querier's own
// connection was lost. Such an announcer is asked again when it announces
// again. Without this, a server restart that cut queries in flight, with
// the peers not back yet, left their keys unresolved until the
// announcers' failures expired, whatever they announced meanwhile.
type Unreachable interface {
	error
	Unreachable() bool
}

// unreachable reports whether err says its announcer was not reached.
func unreachable(err error) bool {
	var u Unreachable
	return errors.As(err, &u) && u.Unreachable()
}

// QuerierFunc adapts a function to Querier.
type QuerierFunc func(ctx context.Context, jid, node string) (*hashing.Info, error)

// QueryInfo calls f.
func (f QuerierFunc) QueryInfo(ctx context.Context, jid, node string) (*hashing.Info, error) {
	return f(ctx, jid, node)
}

// Store is what the actors need of storage. Get is called on the ingest
// path and must be fast and safe for concurrent use; Put returns only once
// the entry is durable.
type Store interface {
	// Get returns the disco#info stored for k, or an error matching
	// ErrNotFound.
	Get(k hashing.Key) (*hashing.Info, error)
	// Put stores a verified entry.
	Put(ctx context.Context, k hashing.Key, info *hashing.Info, v Verified) error
}

// AsyncStore is a Store that also stores without the caller waiting:
// PutAsync calls done exactly once with what Put would return, once the
// entry is durable or refused. done must not block, and may run on any
// goroutine. The engine uses it when its Store has it: a Put per verified
// answer held a goroutine until the group commit, and every commit made
// hundreds of them runnable at once, queued on the CPU ahead of the
// lookups of a cold flood.
type AsyncStore interface {
	Store
	PutAsync(k hashing.Key, info *hashing.Info, v Verified, done func(error))
}

// Verified says where a stored answer came from.
type Verified struct {
	Node   string         // the announcer's XEP-0115 caps node ("" for XEP-0390)
	JID    string         // the announcer who answered
	Method hashing.Method // how it verified
	At     time.Time
	// Proof proves the entry's info against its key (hashing.Prove),
	// for a store to keep it without hashing it again.
	Proof hashing.Proof
}
