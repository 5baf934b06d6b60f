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

// Errors a waiter or CapsFailed can carry.
var (
	ErrNotFound = errors.New("actors: not found")
	// ErrClosed: the engine shut down before the key resolved.
	ErrClosed = errors.New("actors: engine closed")
	// ErrOverloaded: the limit of live lookups was reached; the presence
	// was dropped and counted.
	ErrOverloaded = errors.New("actors: too many lookups in progress")
	// ErrAnnouncersFailed: every announcer of the key failed (timed out,
	// answered with an error, or lied) and none is left to ask.
	ErrAnnouncersFailed = errors.New("actors: every announcer failed")
	// ErrLookupTimeout: the key did not resolve within Config.LookupTimeout.
	ErrLookupTimeout = errors.New("actors: lookup timed out")
	// ErrRateLimited: the only announcers left exceeded their query rate.
	ErrRateLimited = errors.New("actors: announcer rate limited")
	// ErrPending: the key is still being looked up.
	ErrPending = errors.New("actors: lookup in progress")
	// ErrUnknownJID: no available presence with caps is known for the JID.
	ErrUnknownJID = errors.New("actors: unknown JID")
	// ErrNoCaps: the JID's presence carried no verifiable caps.
	ErrNoCaps = errors.New("actors: presence carries no verifiable caps")
)
