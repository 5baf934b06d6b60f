package actors

import (
	"errors"
	"unsafe"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// presenceType classifies a presence by its type attribute.
type presenceType uint8

const (
	typeAvailable presenceType = iota
	typeUnavailable
	typeOther // subscription management, probes, errors: not availability
)

func classify[T string | []byte](typ T) presenceType {
	switch string(typ) {
	case "":
		return typeAvailable
	case "unavailable":
		return typeUnavailable
	}
	return typeOther
}

// fill turns one decoded presence into it and reports whether the shard has
// anything to do; what is dropped here is counted here.
func (r *Runtime) fill(it *item, jid string, typ presenceType, muc bool, ks []hashing.Key, keyErr error, node string) bool {
	c := r.d.counters
	if jid == "" {
		c.Malformed.Add(1)
		return false
	}
	it.jid = jid
	switch typ {
	case typeUnavailable:
		c.Unavailable.Add(1)
		it.kind = itemUnavailable
		return true
	case typeOther:
		return false
	}
	if muc && r.d.cfg.SkipMUC {
		c.DropMUC.Add(1)
		return false
	}
	// XEP-0390 says to ignore hash functions one does not implement; any
	// other bad hash (bad base64, wrong length) is the peer's fault.
	if keyErr != nil && !errors.Is(keyErr, hashing.ErrUnknownAlgorithm) {
		c.Malformed.Add(1)
	}
	if !it.setKeys(ks) {
		c.NoCaps.Add(1)
		if !r.d.cfg.QueryUnhashed {
			return false
		}
		// Asked per JID (unhashed.go); the query needs no node.
		it.key, it.others, it.node = hashing.Key{}, nil, ""
		it.kind = itemUnhashed
		return true
	}
	it.node = node
	it.kind = itemAvailable
	return true
}

func (r *Runtime) fromPresence(it *item, p *messages.Presence) bool {
	var buf [maxKeys + 4]hashing.Key
	ks, err := p.AppendKeys(buf[:0])
	node := ""
	if p.Caps != nil {
		node = p.Caps.Node
	}
	return r.fill(it, p.From, classify(p.Type), p.MUC, ks, err, node)
}

// rawDecoder is one goroutine's decoding state, pooled. Decoded JIDs and
// nodes are copied into an arena of large chunks, so a presence costs no
// allocation of its own: the shard clones the few strings it keeps (a new
// JID, a lookup's announcer) and the chunks die with their batches.
type rawDecoder struct {
	dec   messages.Decoder
	view  messages.PresenceView
	keys  []hashing.Key
	arena []byte
}

func (r *Runtime) getDecoder() *rawDecoder {
	if rd, ok := r.dec.Get().(*rawDecoder); ok {
		return rd
	}
	return &rawDecoder{dec: messages.Decoder{Limits: r.d.cfg.Limits}}
}

const arenaChunk = 32 << 10

// str copies b into the arena. Bytes once written are never written again
// (appends go past them, a full chunk is replaced, not reused), which is
// what makes the unsafe.String view immutable.
func (rd *rawDecoder) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(rd.arena)-len(rd.arena) < len(b) {
		rd.arena = make([]byte, 0, max(arenaChunk, len(b)))
	}
	at := len(rd.arena)
	rd.arena = append(rd.arena, b...)
	return unsafe.String(&rd.arena[at], len(b))
}

// fromRaw decodes stanza into it. A stanza that does not decode is counted
// and its error returned.
func (r *Runtime) fromRaw(rd *rawDecoder, it *item, stanza []byte) (bool, error) {
	v := &rd.view
	if err := rd.dec.DecodePresence(stanza, v); err != nil {
		r.d.counters.Malformed.Add(1)
		return false, err
	}
	var err error
	rd.keys, err = v.AppendKeys(rd.keys[:0])
	node := ""
	if v.HasCaps {
		node = rd.str(v.Caps.Node)
	}
	return r.fill(it, rd.str(v.From), classify(v.Type), v.MUC, rd.keys, err, node), nil
}
