package transport

import (
	"errors"
	"fmt"
)

// Errors returned by Conn; match them with errors.Is.
var (
	// ErrClosed: Run has returned (or never started and the Conn was
	// closed), so no query can be sent any more.
	ErrClosed = errors.New("transport: connection closed")
	// ErrDisconnected: the session ended while a query was in flight and
	// no new session came up in time to send it again. It tells the
	// engine that the peer was not reached (capsengine.Unreachable).
	ErrDisconnected error = notReached("transport: disconnected")
	// ErrIQError: the peer (or its server) answered a query with an IQ
	// error. The error is a *StanzaError that carries the details.
	ErrIQError = errors.New("transport: IQ error")
	// ErrSpoofed: an answer came from another address than the one asked.
	ErrSpoofed = errors.New("transport: answer from an unexpected address")
	// ErrTooLarge: an answer was longer than Config.MaxStanzaBytes.
	ErrTooLarge = errors.New("transport: answer too large")
	// ErrAuth: a login failed, before any succeeded, for a reason that
	// retrying will not fix (bad credentials, a refused component secret,
	// no TLS offered without InsecureNoTLS, an untrusted certificate, ...).
	// Run returns it wrapped.
	ErrAuth = errors.New("transport: login failed")
	// ErrNoStartTLS: the server did not offer STARTTLS, and
	// Config.InsecureNoTLS is not set. Run returns it wrapped together
	// with ErrAuth: a client never sends its password in plaintext unless
	// told to.
	ErrNoStartTLS = errors.New("transport: the server offers no STARTTLS")
)

// StanzaError is an IQ error answer to a disco#info query (RFC 6120 §8.3).
// It matches ErrIQError with errors.Is.
type StanzaError struct {
	JID, Node string // whom we asked, and for which node
	// Type is the error type (cancel, modify, wait, auth, continue),
	// Condition the defined condition ("item-not-found",
	// "service-unavailable", ...), Text the optional human-readable text.
	Type, Condition, Text string
}

func (e *StanzaError) Error() string {
	s := fmt.Sprintf("transport: disco#info %s node %q: %s error %s", e.JID, e.Node, e.Type, e.Condition)
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Is reports whether target is ErrIQError.
func (e *StanzaError) Is(target error) bool { return target == ErrIQError }

// Unreachable reports whether the error is one a server sends for the
// entity rather than one the entity sent (capsengine.Unreachable): the
// full JID is not online (RFC 6120 §10.5.3 has the server answer
// service-unavailable for it; some say recipient-unavailable), or its
// server could not be reached. A client that answers service-unavailable
// itself — it does not do disco#info — looks the same, and is asked again
// when it announces again, within the engine's rate limits.
func (e *StanzaError) Unreachable() bool {
	switch e.Condition {
	case "service-unavailable", "recipient-unavailable", "remote-server-not-found", "remote-server-timeout":
		return true
	}
	return false
}

// notReached is an error that says the peer was not reached.
type notReached string

func (e notReached) Error() string     { return string(e) }
func (e notReached) Unreachable() bool { return true }
