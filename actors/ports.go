package actors

import (
	"context"
	"time"

	"github.com/capsengine/capsengine/hashing"
)

// Querier sends a disco#info query to node of the entity jid and returns
// the answer. The engine calls it from its own goroutines, never more than
// once at a time per key, and always with a deadline in ctx. A host server
// implements it with its routing; the capsengine command over an XMPP
// connection; tests and the benchmark with simulated peers.
type Querier interface {
	QueryInfo(ctx context.Context, jid, node string) (*hashing.Info, error)
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

// Verified says where a stored answer came from.
type Verified struct {
	Node   string         // the announcer's XEP-0115 caps node ("" for XEP-0390)
	JID    string         // the announcer who answered
	Method hashing.Method // how it verified
	At     time.Time
}
