package messages

import (
	"encoding/base64"

	"github.com/capsengine/capsengine/hashing"
)

// Presence is the part of a presence stanza the engine acts on.
type Presence struct {
	From, To, ID string
	// Type is the type attribute: "" means available, "unavailable" drops
	// the sender's entry; any other value is carried as received.
	Type string
	// Caps is the first XEP-0115 <c xmlns='http://jabber.org/protocol/caps'/>
	// child, or nil.
	Caps *Caps
	// Caps2 are the <hash xmlns='urn:xmpp:hashes:2'/> children of the first
	// XEP-0390 <c xmlns='urn:xmpp:caps'/> child, in document order. It is
	// nil when there are none.
	Caps2 []Hash
	// MUC is true when the presence carries a direct
	// <x xmlns='http://jabber.org/protocol/muc#user'/> child: it comes from
	// a room occupant.
	MUC bool
}

// Caps is a XEP-0115 caps element. Hash is "" for legacy (pre-1.5) caps,
// which carry no verifiable hash; Ext is the legacy extension list, kept
// for reference.
type Caps struct {
	Hash, Node, Ver, Ext string
}

// Hash is one XEP-0300 hash of a XEP-0390 caps element: the IANA algorithm
// name and the base64 value exactly as sent.
type Hash struct {
	Algo, Value string
}

// PresenceView is Presence without the copies: every field is a subslice
// of the decoded stanza or of the Decoder's scratch buffer, valid until the
// next call on the same Decoder. Reusing one view keeps Caps2's backing
// array, so steady-state decoding does not allocate.
type PresenceView struct {
	From, To, ID, Type []byte
	HasCaps            bool // a XEP-0115 caps element was present
	Caps               CapsView
	Caps2              []HashView
	MUC                bool
}

// CapsView is Caps as slices, see PresenceView.
type CapsView struct {
	Hash, Node, Ver, Ext []byte
}

// HashView is Hash as slices, see PresenceView.
type HashView struct {
	Algo, Value []byte
}

func (v *PresenceView) reset() {
	clear(v.Caps2) // do not pin the previous stanza
	*v = PresenceView{Caps2: v.Caps2[:0]}
}

// Presence copies the view into a Presence that owns its memory.
func (v *PresenceView) Presence() *Presence {
	p := &Presence{
		From: string(v.From),
		To:   string(v.To),
		ID:   string(v.ID),
		Type: string(v.Type),
		MUC:  v.MUC,
	}
	if v.HasCaps {
		p.Caps = &Caps{
			Hash: string(v.Caps.Hash),
			Node: string(v.Caps.Node),
			Ver:  string(v.Caps.Ver),
			Ext:  string(v.Caps.Ext),
		}
	}
	if len(v.Caps2) > 0 {
		p.Caps2 = make([]Hash, len(v.Caps2))
		for i, h := range v.Caps2 {
			p.Caps2[i] = Hash{Algo: string(h.Algo), Value: string(h.Value)}
		}
	}
	return p
}

// AppendKeys appends to dst the cache keys the presence announces: the
// XEP-0115 key when the caps element names a hash (legacy caps without one
// announce nothing verifiable and add no key), then one XEP-0390 key per
// hash, in document order. It does not allocate.
//
// A hash that cannot become a key is left out and the others are still
// appended; err is then the first failure, one of hashing.ErrUnknownAlgorithm,
// hashing.ErrAlgorithmNotAllowed, hashing.ErrBadVer or hashing.ErrVerLength,
// returned unwrapped so that counting failures costs nothing.
func (v *PresenceView) AppendKeys(dst []hashing.Key) ([]hashing.Key, error) {
	var hash, ver []byte
	if v.HasCaps {
		hash, ver = v.Caps.Hash, v.Caps.Ver
	}
	return appendKeys(dst, hash, ver, len(v.Caps2), func(i int) ([]byte, []byte) {
		return v.Caps2[i].Algo, v.Caps2[i].Value
	})
}

// AppendKeys is PresenceView.AppendKeys for a Presence.
func (p *Presence) AppendKeys(dst []hashing.Key) ([]hashing.Key, error) {
	var hash, ver string
	if p.Caps != nil {
		hash, ver = p.Caps.Hash, p.Caps.Ver
	}
	return appendKeys(dst, hash, ver, len(p.Caps2), func(i int) (string, string) {
		return p.Caps2[i].Algo, p.Caps2[i].Value
	})
}

// appendKeys is both AppendKeys: the XEP-0115 key when hash is set, then
// one XEP-0390 key for each of the n hashes caps2 returns.
func appendKeys[T string | []byte](dst []hashing.Key, hash, ver T, n int, caps2 func(int) (T, T)) ([]hashing.Key, error) {
	var first error
	if len(hash) > 0 {
		k, err := parseKey(hashing.XEP0115, hash, ver)
		if err != nil {
			first = err
		} else {
			dst = append(dst, k)
		}
	}
	for i := range n {
		algo, value := caps2(i)
		k, err := parseKey(hashing.XEP0390, algo, value)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		dst = append(dst, k)
	}
	return dst, first
}

// strictBase64 is built once: Encoding.Strict returns a fresh pointer.
var strictBase64 = base64.StdEncoding.Strict()

// parseKey is hashing.ParseKeyBytes with its failures checked first, so
// that an invalid announcement yields a bare sentinel and no allocation.
func parseKey[T string | []byte](scheme hashing.Scheme, algo, value T) (hashing.Key, error) {
	alg := hashing.ParseAlgorithmBytes([]byte(algo))
	if !alg.Valid() {
		return hashing.Key{}, hashing.ErrUnknownAlgorithm
	}
	if !scheme.Verifiable(alg) {
		return hashing.Key{}, hashing.ErrAlgorithmNotAllowed
	}
	if len(value) != base64.StdEncoding.EncodedLen(alg.Size()) {
		return hashing.Key{}, hashing.ErrVerLength
	}
	for i := 0; i < len(value); i++ {
		// The base64 decoder skips CR and LF even in strict mode; a value
		// on the wire must not contain them.
		if value[i] == '\r' || value[i] == '\n' {
			return hashing.Key{}, hashing.ErrBadVer
		}
	}
	var sum [hashing.MaxDigestSize + 3]byte
	n, err := strictBase64.Decode(sum[:], []byte(value))
	if err != nil {
		return hashing.Key{}, hashing.ErrBadVer
	}
	if n != alg.Size() {
		return hashing.Key{}, hashing.ErrVerLength
	}
	return hashing.NewKey(scheme, alg, sum[:n])
}
