package capsengine

import (
	"errors"
	"strings"

	"github.com/capsengine/capsengine/actors"
)

// Errors that Caps, Wait and the other methods return; match them with
// errors.Is. Each also matches the actors error it stands for, so code
// written against those keeps working. CapsFailed events still carry the
// actors package's errors, which errors.Is does not match against these.
var (
	// ErrClosed: the engine shut down before the call finished.
	ErrClosed = newSentinel("capsengine: engine closed", actors.ErrClosed)
	// ErrUnknownJID: no available presence with caps is known for the JID.
	ErrUnknownJID = newSentinel("capsengine: unknown JID", actors.ErrUnknownJID)
	// ErrPending: the JID's caps are still being looked up (see Wait).
	ErrPending = newSentinel("capsengine: lookup in progress", actors.ErrPending)
	// ErrOverloaded: the limit of live lookups was reached; the presence
	// was not looked up.
	ErrOverloaded = newSentinel("capsengine: too many lookups in progress", actors.ErrOverloaded)
	// ErrAnnouncersFailed: every announcer of the hash failed (timed out,
	// answered an error, or answered something that does not hash to it).
	ErrAnnouncersFailed = newSentinel("capsengine: every announcer failed", actors.ErrAnnouncersFailed)
	// ErrLookupTimeout: the hash did not resolve within
	// Tuning.LookupTimeout.
	ErrLookupTimeout = newSentinel("capsengine: lookup timed out", actors.ErrLookupTimeout)
	// ErrRateLimited: the only announcers left exceeded their query rate.
	ErrRateLimited = newSentinel("capsengine: announcer rate limited", actors.ErrRateLimited)
	// ErrClusterUnavailable: in cluster mode, the key's owner could not
	// be reached in time (a member died or the cluster is re-forming).
	ErrClusterUnavailable = newSentinel("capsengine: cluster owner unreachable", actors.ErrClusterUnavailable)
)

var sentinels = []*sentinel{
	ErrClosed.(*sentinel), ErrUnknownJID.(*sentinel), ErrPending.(*sentinel), ErrOverloaded.(*sentinel),
	ErrAnnouncersFailed.(*sentinel), ErrLookupTimeout.(*sentinel), ErrRateLimited.(*sentinel),
	ErrClusterUnavailable.(*sentinel),
}

// sentinel is an error of this package standing for one of package
// actors: its own message, so that a caller of the facade reads
// "capsengine: unknown JID" rather than the name of an internal package,
// and the actors error underneath for errors.Is.
type sentinel struct {
	msg   string
	inner error
}

func newSentinel(msg string, inner error) error { return &sentinel{msg: msg, inner: inner} }

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return s.inner }

// detailed is a sentinel with the context the actors package added to it
// ("every announcer failed: last: ..."), which stays in the chain for
// errors.As (a *hashing.MismatchError, say).
type detailed struct {
	s   *sentinel
	err error
}

func (d *detailed) Error() string {
	if rest, ok := strings.CutPrefix(d.err.Error(), d.s.inner.Error()); ok {
		return d.s.msg + rest
	}
	return d.s.msg + ": " + d.err.Error()
}

func (d *detailed) Unwrap() []error { return []error{d.s, d.err} }

// facadeError translates an error of the actors package into this
// package's: the sentinel itself for a bare actors sentinel (so that even
// err == ErrUnknownJID holds), a wrapper for one with context, and any
// other error unchanged.
func facadeError(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range sentinels {
		if err == s.inner {
			return s
		}
	}
	var already *sentinel
	if errors.As(err, &already) {
		return err
	}
	for _, s := range sentinels {
		if errors.Is(err, s.inner) {
			return &detailed{s: s, err: err}
		}
	}
	return err
}
