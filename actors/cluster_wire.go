package actors

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/storage"
)

// Wire messages. There is no protoc here, so each message is a
// wrapperspb.BytesValue, a type every member's protobuf registry resolves
// by name (protoactor's serializer uses google.golang.org/protobuf's
// global registry), holding: a tag byte, a uvarint length and a small JSON
// header, then the disco#info answer if any, in the store's checksummed
// binary entry encoding — JSON for answers cost more CPU than the rest of
// a cross-node lookup put together.
const (
	tagResolve byte = iota + 1 // member → owner: resolve key, my announcer as a fallback
	tagResult                  // owner → member: the verified answer or why not
	tagQuery                   // owner → announcer's member: query this announcer
	tagAnswer                  // announcer's member → owner
	tagEntry                   // owner → every member: a verified entry
	tagProbe                   // new owner → other members: do you have it?
)

type wireKey struct {
	Scheme hashing.Scheme    `json:"s"`
	Alg    hashing.Algorithm `json:"a"`
	Digest []byte            `json:"d"`
}

func toWire(k hashing.Key) wireKey { return wireKey{k.Scheme, k.Alg, k.Digest()} }

func (w wireKey) key() (hashing.Key, error) { return hashing.NewKey(w.Scheme, w.Alg, w.Digest) }

type wireMsg struct {
	Key    wireKey       `json:"k"`
	Others []wireKey     `json:"o,omitempty"`
	JID    string        `json:"j,omitempty"`
	Node   string        `json:"n,omitempty"`
	Origin string        `json:"r,omitempty"` // member address that saw JID
	Seq    uint64        `json:"q,omitempty"`
	Info   *hashing.Info `json:"-"` // after the header, binary
	Err    string        `json:"e,omitempty"`
	Code   int           `json:"c,omitempty"` // see errCode
}

func encode(tag byte, m *wireMsg) *wrapperspb.BytesValue {
	h, err := json.Marshal(m)
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen32+len(h)+256)
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(h)))
	b = append(b, h...)
	if m.Info != nil {
		b = storage.AppendEntry(b, &storage.Entry{Info: *m.Info})
	}
	return &wrapperspb.BytesValue{Value: b}
}

// decode reads a wire message; ok is false for anything else, a
// malformed one included.
func decode(msg any) (tag byte, m *wireMsg, ok bool) {
	bv, isBV := msg.(*wrapperspb.BytesValue)
	if !isBV || len(bv.Value) < 2 {
		return 0, nil, false
	}
	b := bv.Value[1:]
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return 0, nil, false
	}
	m = &wireMsg{}
	if err := json.Unmarshal(b[w:w+int(n)], m); err != nil {
		return 0, nil, false
	}
	if rest := b[w+int(n):]; len(rest) > 0 {
		e, err := storage.DecodeEntry(rest)
		if err != nil {
			return 0, nil, false
		}
		m.Info = &e.Info
	}
	return bv.Value[0], m, true
}

// decodeFor decodes a wire message of kind want and its key; ok is false
// for anything else.
func decodeFor(msg any, want byte) (*wireMsg, hashing.Key, bool) {
	tag, m, ok := decode(msg)
	if !ok || tag != want {
		return nil, hashing.Key{}, false
	}
	k, err := m.Key.key()
	if err != nil {
		return nil, hashing.Key{}, false
	}
	return m, k, true
}

func othersToWire(ks []hashing.Key) []wireKey {
	var out []wireKey
	for _, k := range ks {
		out = append(out, toWire(k))
	}
	return out
}

func othersFromWire(ws []wireKey) []hashing.Key {
	var out []hashing.Key
	for _, w := range ws {
		if k, err := w.key(); err == nil && len(out) < maxKeys-1 {
			out = append(out, k)
		}
	}
	return out
}

// Error codes on the wire, so that typed errors survive the trip.
const (
	codeOther = iota
	codeTimeout
	codeClosed
	codeMismatch
	codeOverloaded
)

func errCode(err error) int {
	var mm *hashing.MismatchError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codeTimeout
	case errors.Is(err, ErrClosed):
		return codeClosed
	case errors.As(err, &mm):
		return codeMismatch
	case errors.Is(err, ErrOverloaded):
		return codeOverloaded
	}
	return codeOther
}

// remoteErr rebuilds an error from the wire: the sentinels that callers
// match keep matching.
func remoteErr(code int, msg string) error {
	switch code {
	case codeTimeout:
		return fmt.Errorf("%w: %s", context.DeadlineExceeded, msg)
	case codeClosed:
		return fmt.Errorf("%w: %s", ErrClosed, msg)
	case codeOverloaded:
		return fmt.Errorf("%w: %s", ErrOverloaded, msg)
	}
	return &RemoteError{Msg: msg}
}

// RemoteError is a query failure that happened on another member.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return "actors: remote: " + e.Msg }
