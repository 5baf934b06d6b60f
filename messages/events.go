package messages

import (
	"time"

	"github.com/capsengine/capsengine/hashing"
)

// Event is what the engine publishes to subscribers: *CapsResolved,
// *CapsFailed, *EntityGone, *VerChanged or *KeyVerified, and *EventsLost
// when a subscriber fell behind. Events are immutable once published; subscribers
// must not modify them or the Info they point to.
type Event interface {
	Kind() EventKind
}

// EventKind selects events in a subscription; kinds combine with |.
type EventKind uint8

const (
	KindCapsResolved EventKind = 1 << iota
	KindCapsFailed
	KindEntityGone
	KindVerChanged
	// KindEventsLost is delivered to every subscription that lost events,
	// whatever kinds it selected.
	KindEventsLost
	KindKeyVerified

	// AllKinds selects every event.
	AllKinds = KindCapsResolved | KindCapsFailed | KindEntityGone | KindVerChanged | KindEventsLost | KindKeyVerified
)

func (k EventKind) String() string {
	switch k {
	case KindCapsResolved:
		return "CapsResolved"
	case KindCapsFailed:
		return "CapsFailed"
	case KindEntityGone:
		return "EntityGone"
	case KindVerChanged:
		return "VerChanged"
	case KindEventsLost:
		return "EventsLost"
	case KindKeyVerified:
		return "KeyVerified"
	}
	return "mixed"
}

// CapsResolved: the entity JID announced Key, and Key is now known to mean
// Info — verified by a disco#info answer, or found in the cache or the
// trusted database (Cached).
//
// Unverified marks the answer of an entity that announced no verifiable
// hash (the engine's QueryUnhashed option): Key is zero and Info is what
// JID itself answered, true of that JID alone and checked by nothing.
type CapsResolved struct {
	JID        string
	Key        hashing.Key
	Info       *hashing.Info
	Cached     bool
	Unverified bool
}

// CapsFailed: what JID announced could not be resolved. Err matches the
// engine's sentinels with errors.Is (all announcers failed, overloaded,
// rate limited, closed, ...).
type CapsFailed struct {
	JID string
	Key hashing.Key
	Err error
}

// KeyVerified: the engine learnt what Key means — an announcer's
// disco#info answer hashed to it (or, in a cluster, another member's
// verified entry did, checked again here) — at At. It comes once per key
// the engine verifies, before the CapsResolved of the JIDs announcing it;
// a key already in the store or the trusted database is not verified
// again, and has none. It is the moment a new key stops costing queries:
// what a crawler records as "first seen", and what capsengine bench times
// a cold key by.
type KeyVerified struct {
	Key  hashing.Key
	Info *hashing.Info
	At   time.Time
}

// EntityGone: JID sent unavailable presence; its entry was dropped.
type EntityGone struct {
	JID string
}

// VerChanged: our own capabilities changed, so the hashes we announce did.
// Old is the zero Announcement for the first one.
type VerChanged struct {
	Old, New Announcement
}

// EventsLost: this subscriber fell behind and missed Count events of the
// kinds it subscribed to. It comes just before the first event after the
// gap, so the stream says where the gap was; state that the lost events
// would have updated (an entity's caps, a failure) must be re-read, e.g.
// with Engine.Caps.
type EventsLost struct {
	Count uint64
}

// Announcement is what we put in outgoing presence: the XEP-0115 <c/> and
// the XEP-0390 hashes.
type Announcement struct {
	Caps  Caps
	Caps2 []Hash
}

func (*CapsResolved) Kind() EventKind { return KindCapsResolved }
func (*CapsFailed) Kind() EventKind   { return KindCapsFailed }
func (*EntityGone) Kind() EventKind   { return KindEntityGone }
func (*VerChanged) Kind() EventKind   { return KindVerChanged }
func (*EventsLost) Kind() EventKind   { return KindEventsLost }
func (*KeyVerified) Kind() EventKind  { return KindKeyVerified }
