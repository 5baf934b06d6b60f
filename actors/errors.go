package actors

import (
	"errors"
)

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
