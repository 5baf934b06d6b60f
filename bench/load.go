package bench

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"sync/atomic"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// workload is a stream of presence stanzas mapped from a file, with what a
// scan before timing learnt about it. The stanzas live in a read-only
// file mapping, outside the Go heap.
type workload struct {
	Path string
	data []byte
	offs []uint32 // start of each stanza; offs[n] is the end of the data
	// released is how far (bytes, page-aligned) the mapping has been
	// dropped from the resident set.
	released atomic.Int64
	unmap    func() error

	Meta meta
	keys map[hashing.Key]int32
}

// meta describes a workload's stream.
type meta struct {
	Presences   int   `json:"presences"`
	Bytes       int64 `json:"bytes"`
	Available   int   `json:"available"`   // available presences with verifiable caps
	Unavailable int   `json:"unavailable"` // type='unavailable'
	Other       int   `json:"other"`       // no caps, other types, malformed
	MUC         int   `json:"muc"`         // presences of MUC occupants
	Caps2       int   `json:"caps2"`       // presences with XEP-0390 hashes
	JIDs        int   `json:"jids"`        // distinct full JIDs
	UniqueKeys  int   `json:"unique_keys"` // distinct keys presences are resolved by
	// Resolvable is the number of keys at least one honest announcer
	// announces: the keys a correct pipeline must resolve.
	Resolvable  int `json:"resolvable_keys"`
	LiarJIDs    int `json:"liar_jids"`
	ErrorJIDs   int `json:"error_jids"`
	TimeoutJIDs int `json:"timeout_jids"`

	Keys   []keyStat `json:"-"`
	Firsts []first   `json:"-"` // first presence of each key, in stream order
	// Honests is, for each resolvable key, its first presence by an
	// announcer that answers it honestly, in stream order.
	Honests []first `json:"-"`
}

// keyStat is what the stream says about one key.
type keyStat struct {
	Key        hashing.Key
	First      int32 // index of its first presence
	Announcers int32 // available presences announcing it
	Honest     bool  // some honest announcer can answer it
	Answer     int32 // index of its first announcer's node in the Answers, -1 unknown
}

// first is the first presence announcing a key.
type first struct {
	Index int32
	Key   int32
	JID   string
}

// openWorkload maps the stanza file path (one stanza per line) and scans
// it, classifying announcers with peers and their answers with ans.
func openWorkload(path string, peers *PeerSpec, ans *answers) (*workload, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	w := &workload{Path: path, data: data, unmap: unmap}
	if err := w.scan(peers, ans); err != nil {
		unmap()
		return nil, err
	}
	return w, nil
}

// Close unmaps the stanzas.
func (w *workload) Close() error {
	if w.unmap == nil {
		return nil
	}
	err := w.unmap()
	w.unmap, w.data = nil, nil
	return err
}

// Len is the number of stanzas.
func (w *workload) Len() int { return len(w.offs) - 1 }

// Stanza returns stanza i, a view into the mapping.
func (w *workload) Stanza(i int) []byte {
	return bytes.TrimRight(w.data[w.offs[i]:w.offs[i+1]], "\r\n")
}

// KeyIndex is the index in meta.Keys of k.
func (w *workload) KeyIndex(k hashing.Key) (int32, bool) {
	i, ok := w.keys[k]
	return i, ok
}

// releaseTo drops the pages before stanza i from the resident set.
func (w *workload) releaseTo(i int) {
	end := int64(w.offs[i]) &^ (pageSize - 1)
	from := w.released.Load()
	if end <= from || !w.released.CompareAndSwap(from, end) {
		return
	}
	release(w.data[from:end])
}

// releaseAll drops every page and starts over.
func (w *workload) releaseAll() {
	release(w.data)
	w.released.Store(0)
}

// decidingKey is the key a presence is resolved by, as the engine picks
// it (hashing.Deciding).
func decidingKey(ks []hashing.Key) (hashing.Key, bool) {
	i := hashing.Deciding(ks)
	if i < 0 {
		return hashing.Key{}, false
	}
	return ks[i], true
}

func (w *workload) scan(peers *PeerSpec, ans *answers) error {
	m := &w.Meta
	m.Bytes = int64(len(w.data))
	w.keys = make(map[hashing.Key]int32)
	seed := maphash.MakeSeed()
	jids := make(map[uint64]struct{})
	var (
		d  messages.Decoder
		v  messages.PresenceView
		ks []hashing.Key
	)
	data := w.data
	w.offs = make([]uint32, 0, len(data)/300+2)
	if int64(len(data)) > 1<<32-1 {
		return errors.New("bench: workloads over 4 GiB are not supported")
	}
	for pos := 0; pos < len(data); {
		end := bytes.IndexByte(data[pos:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += pos
		}
		line := bytes.TrimRight(data[pos:end], "\r")
		if len(line) == 0 {
			// A blank line is skipped: it ends up in the span of the
			// stanza before it, which Stanza trims.
			pos = end + 1
			continue
		}
		i := len(w.offs)
		w.offs = append(w.offs, uint32(pos))
		pos = end + 1

		if err := d.DecodePresence(line, &v); err != nil {
			m.Other++
			continue
		}
		if v.MUC {
			m.MUC++
		}
		if len(v.Caps2) > 0 {
			m.Caps2++
		}
		h := maphash.Bytes(seed, v.From)
		if _, seen := jids[h]; !seen && len(v.From) > 0 {
			jids[h] = struct{}{}
			switch behaviourOf(peers, v.From) {
			case liar:
				m.LiarJIDs++
			case iqError:
				m.ErrorJIDs++
			case silent:
				m.TimeoutJIDs++
			}
		}
		switch string(v.Type) {
		case "unavailable":
			m.Unavailable++
			continue
		case "":
		default:
			m.Other++
			continue
		}
		ks, _ = v.AppendKeys(ks[:0])
		k, ok := decidingKey(ks)
		if !ok || len(v.From) == 0 {
			m.Other++
			continue
		}
		m.Available++
		ki, ok := w.keys[k]
		if !ok {
			ki = int32(len(m.Keys))
			w.keys[k] = ki
			a, ok := ans.index(k.QueryNode(string(v.Caps.Node)))
			if !ok {
				a = -1
			}
			m.Keys = append(m.Keys, keyStat{Key: k, First: int32(i), Answer: a})
			m.Firsts = append(m.Firsts, first{Index: int32(i), Key: ki, JID: string(v.From)})
		}
		ks := &m.Keys[ki]
		ks.Announcers++
		if !ks.Honest && behaviourOf(peers, v.From) == honest {
			if _, ok := ans.index(k.QueryNode(string(v.Caps.Node))); ok {
				ks.Honest = true
				m.Honests = append(m.Honests, first{Index: int32(i), Key: ki, JID: string(v.From)})
			}
		}
	}
	w.offs = append(w.offs, uint32(len(data)))
	m.Presences = len(w.offs) - 1
	if m.Presences == 0 {
		return fmt.Errorf("bench: %s holds no stanza", w.Path)
	}
	w.releaseAll()
	m.JIDs = len(jids)
	m.UniqueKeys = len(m.Keys)
	for i := range m.Keys {
		if m.Keys[i].Honest {
			m.Resolvable++
		}
	}
	return nil
}
