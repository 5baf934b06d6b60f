package messages

import (
	"sync"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages/internal/xmlscan"
)

// Limits bound the work and memory of one decode. Peers control every
// byte, so exceeding a limit is an error (ErrTooLarge, ErrTooDeep or
// ErrTooMany), never a silent truncation. A zero or negative field takes
// its default; DefaultLimits lists them.
type Limits struct {
	// MaxPresenceBytes is the longest stanza DecodePresence reads, in bytes.
	// Default 64 KiB. Real presences are under 1 KiB; servers commonly cap
	// any stanza at 64–256 KiB.
	MaxPresenceBytes int
	// MaxDiscoInfoBytes is the longest disco#info answer DecodeDiscoInfo
	// reads, in bytes. Default 1 MiB. The largest answer in the capsdb
	// corpus is 3.5 KiB. Neither size limit can exceed 2 GiB - 1.
	MaxDiscoInfoBytes int
	// MaxDepth is the deepest element nesting accepted, in elements, the
	// root counting as 1. Default 64. The decoders never recurse, so this
	// bounds memory, not stack.
	MaxDepth int
	// MaxAttrs is the most attributes one element may carry, namespace
	// declarations included. Default 64. Duplicate detection is quadratic
	// in it.
	MaxAttrs int
	// MaxNamespaces is the most prefixed namespace declarations in scope
	// at once (xmlns:p='...' on an element and its ancestors). Default 32.
	// Each prefixed name is resolved by a walk over them.
	MaxNamespaces int
	// MaxCaps2Hashes is the most <hash/> children of a XEP-0390 caps
	// element. Default 16 (there are nine algorithms worth announcing).
	MaxCaps2Hashes int
	// MaxIdentities, MaxFeatures and MaxForms bound one disco#info answer.
	// Defaults 64, 1024 and 16; real answers have at most a handful of
	// identities and about 200 features.
	MaxIdentities int
	MaxFeatures   int
	MaxForms      int
	// MaxFields and MaxValues bound the data form fields and values of one
	// answer, all forms together. Defaults 256 and 1024.
	MaxFields int
	MaxValues int
}

// DefaultLimits returns the limits a zero Limits stands for.
func DefaultLimits() Limits {
	return Limits{
		MaxPresenceBytes:  64 << 10,
		MaxDiscoInfoBytes: 1 << 20,
		MaxDepth:          64,
		MaxAttrs:          64,
		MaxNamespaces:     32,
		MaxCaps2Hashes:    16,
		MaxIdentities:     64,
		MaxFeatures:       1024,
		MaxForms:          16,
		MaxFields:         256,
		MaxValues:         1024,
	}
}

func (l *Limits) withDefaults() Limits {
	def := DefaultLimits()
	out := *l
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&out.MaxPresenceBytes, def.MaxPresenceBytes)
	set(&out.MaxDiscoInfoBytes, def.MaxDiscoInfoBytes)
	set(&out.MaxDepth, def.MaxDepth)
	set(&out.MaxAttrs, def.MaxAttrs)
	set(&out.MaxNamespaces, def.MaxNamespaces)
	set(&out.MaxCaps2Hashes, def.MaxCaps2Hashes)
	set(&out.MaxIdentities, def.MaxIdentities)
	set(&out.MaxFeatures, def.MaxFeatures)
	set(&out.MaxForms, def.MaxForms)
	set(&out.MaxFields, def.MaxFields)
	set(&out.MaxValues, def.MaxValues)
	out.MaxPresenceBytes = min(out.MaxPresenceBytes, xmlscan.MaxInput)
	out.MaxDiscoInfoBytes = min(out.MaxDiscoInfoBytes, xmlscan.MaxInput)
	return out
}

// Decoder decodes presence stanzas and disco#info answers, reusing its
// buffers from one call to the next. The zero Decoder is ready to use with
// default limits. A Decoder is not safe for concurrent use: give each
// goroutine its own.
type Decoder struct {
	// Limits may be changed between calls.
	Limits Limits

	s     xmlscan.Scanner
	disco discoState
	// lim is Limits with defaults filled in, computed when Limits changes.
	lim, limFrom Limits
	limSet       bool
}

func (d *Decoder) limits() *Limits {
	if !d.limSet || d.Limits != d.limFrom {
		d.lim, d.limFrom, d.limSet = d.Limits.withDefaults(), d.Limits, true
	}
	return &d.lim
}

func (d *Decoder) reset(b []byte, lim *Limits) *xmlscan.Scanner {
	d.s.Reset(b, xmlscan.Limits{MaxDepth: lim.MaxDepth, MaxAttrs: lim.MaxAttrs, MaxNamespaces: lim.MaxNamespaces})
	return &d.s
}

// DecodePresence decodes a presence stanza into v. The stanza must be a
// complete XML document on its own: one <presence/> element in no
// namespace or a stanza namespace (NSClient, NSServer, NSComponent), with
// every prefix it uses declared inside it. An XML declaration, comments and
// processing instructions are allowed around and inside it.
//
// Only direct children of the presence are read: the first XEP-0115 caps
// element, the first XEP-0390 caps element, and a muc#user <x/>. Every
// other element is skipped, but the whole document is checked as strictly
// as an XML 1.0 processor with namespaces would.
//
// On success the slices in v point into stanza or into d: they stay valid
// until the next call on d, as long as the caller leaves stanza unchanged.
// On failure v holds no data. The errors are a
// *SyntaxError for malformed input, ErrTooLarge, ErrTooDeep or ErrTooMany
// when a limit is exceeded, and ErrNotPresence for a well-formed document
// that is not a presence.
func (d *Decoder) DecodePresence(stanza []byte, v *PresenceView) error {
	v.reset()
	lim := d.limits()
	if len(stanza) > lim.MaxPresenceBytes {
		return tooLarge(len(stanza), lim.MaxPresenceBytes)
	}
	s := d.reset(stanza, lim)
	err := decodePresence(s, v, lim)
	if err != nil {
		v.reset()
	}
	return err
}

func decodePresence(s *xmlscan.Scanner, v *PresenceView, lim *Limits) error {
	if _, err := s.Next(); err != nil { // always the root's StartElement
		return scanError(err)
	}
	if string(s.Local()) != "presence" || !isStanzaNS(s.Space()) {
		if err := s.Skip(); err != nil {
			return scanError(err)
		}
		if err := end(s); err != nil {
			return err
		}
		return ErrNotPresence
	}
	for i := range s.NumAttrs() {
		space, local := s.AttrName(i)
		if space != nil {
			continue
		}
		switch string(local) {
		case "from":
			v.From = s.AttrValue(i)
		case "to":
			v.To = s.AttrValue(i)
		case "id":
			v.ID = s.AttrValue(i)
		case "type":
			v.Type = s.AttrValue(i)
		}
	}
	seenCaps2 := false
	for {
		k, err := s.Next()
		if err != nil {
			return scanError(err)
		}
		if k == xmlscan.EndElement { // the presence's own: children are skipped whole
			return end(s)
		}
		if k != xmlscan.StartElement {
			continue
		}
		ns, local := s.Space(), s.Local()
		switch {
		case string(local) == "c" && string(ns) == NSCaps && !v.HasCaps:
			v.HasCaps = true
			readCaps(s, &v.Caps)
		case string(local) == "c" && string(ns) == NSCaps2 && !seenCaps2:
			seenCaps2 = true
			if err := readCaps2(s, v, lim); err != nil {
				return err
			}
			continue
		case string(local) == "x" && string(ns) == NSMUCUser:
			v.MUC = true
		}
		if err := s.Skip(); err != nil {
			return scanError(err)
		}
	}
}

func readCaps(s *xmlscan.Scanner, c *CapsView) {
	for i := range s.NumAttrs() {
		space, local := s.AttrName(i)
		if space != nil {
			continue
		}
		switch string(local) {
		case "hash":
			c.Hash = s.AttrValue(i)
		case "node":
			c.Node = s.AttrValue(i)
		case "ver":
			c.Ver = s.AttrValue(i)
		case "ext":
			c.Ext = s.AttrValue(i)
		}
	}
}

// readCaps2 consumes a XEP-0390 caps element.
func readCaps2(s *xmlscan.Scanner, v *PresenceView, lim *Limits) error {
	depth := s.Depth()
	for {
		k, err := s.Next()
		if err != nil {
			return scanError(err)
		}
		switch k {
		case xmlscan.EndElement:
			if s.Depth() < depth {
				return nil
			}
		case xmlscan.StartElement:
			if string(s.Local()) != "hash" || string(s.Space()) != NSHashes2 {
				if err := s.Skip(); err != nil {
					return scanError(err)
				}
				continue
			}
			if len(v.Caps2) >= lim.MaxCaps2Hashes {
				return tooMany("caps2 hashes", lim.MaxCaps2Hashes)
			}
			algo, _ := s.Attr("algo")
			value, err := s.ElementText()
			if err != nil {
				return scanError(err)
			}
			v.Caps2 = append(v.Caps2, HashView{Algo: algo, Value: value})
		}
	}
}

// end checks that nothing but Misc follows the root element.
func end(s *xmlscan.Scanner) error {
	if _, err := s.Next(); err != nil {
		return scanError(err)
	}
	return nil
}

// decoders serves the allocating convenience functions. Decoders that grew
// on a large input are not kept.
var decoders = sync.Pool{New: func() any { return new(Decoder) }}

const poolMaxInput = 64 << 10

// putDecoder returns d to the pool without the caller's input.
func putDecoder(d *Decoder, inputLen int) {
	if inputLen > poolMaxInput {
		return
	}
	d.s.Reset(nil, xmlscan.Limits{})
	decoders.Put(d)
}

// ParsePresence decodes a presence stanza with default limits into a
// Presence that owns its memory. It is safe for concurrent use and fails
// like Decoder.DecodePresence.
func ParsePresence(b []byte) (*Presence, error) {
	d := decoders.Get().(*Decoder)
	var v PresenceView
	err := d.DecodePresence(b, &v)
	var p *Presence
	if err == nil {
		p = v.Presence()
	}
	putDecoder(d, len(b))
	return p, err
}

// ParseDiscoInfo decodes a disco#info answer with default limits. It is
// safe for concurrent use and fails like Decoder.DecodeDiscoInfo.
func ParseDiscoInfo(b []byte) (*hashing.Info, error) {
	d := decoders.Get().(*Decoder)
	in, err := d.DecodeDiscoInfo(b)
	putDecoder(d, len(b))
	return in, err
}
