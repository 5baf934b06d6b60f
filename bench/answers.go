package bench

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"io"
	"sync"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// Answers are the honest disco#info documents of a workload, by the node
// they are asked at (node#ver, or urn:xmpp:caps#alg.value).
//
// They are kept as the encoded lines Generate wrote, mapped from the file
// where there is one, and decoded when asked for: held decoded, the
// 300,000 documents of a large workload took over 500 MB of the process's
// heap — more than the engine under test — and every peak RSS the bench
// reported counted them as the engine's.
type Answers struct {
	data  []byte
	offs  []int64 // document i is data[offs[i]:ends[i]]
	ends  []int64
	byFP  map[uint64]int32 // node fingerprint → document; -1: see spill
	spill map[string]int32 // nodes whose fingerprints collided
	seed  maphash.Seed
	// mapped: data is a file mapping whose pages can be dropped from the
	// resident set once read.
	mapped bool
	unmap  func() error
	dec    sync.Pool // *messages.Decoder
}

// ReadAnswers reads newline-delimited disco#info <query/> elements, each
// with the node it answers for, as Generate writes them.
func ReadAnswers(r io.Reader) (*Answers, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("bench: answers: %w", err)
	}
	return indexAnswers(data)
}

// readAnswersFile maps path and indexes it; Close unmaps it.
func readAnswersFile(path string) (*Answers, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	a, err := indexAnswers(data)
	if err != nil {
		unmap()
		return nil, err
	}
	a.mapped, a.unmap = true, unmap
	release(data)
	return a, nil
}

func indexAnswers(data []byte) (*Answers, error) {
	a := &Answers{data: data, byFP: make(map[uint64]int32), seed: maphash.MakeSeed()}
	nodes := make(map[uint64]string) // only while indexing, to tell collisions
	var d messages.Decoder
	max := messages.DefaultLimits().MaxDiscoInfoBytes
	for off, line := int64(0), 1; off < int64(len(data)); line++ {
		end := off + int64(bytes.IndexByte(data[off:], '\n'))
		next := end + 1
		if end < off {
			end, next = int64(len(data)), int64(len(data))
		}
		b := data[off:end]
		doc := off
		off = next
		if len(b) == 0 {
			continue
		}
		if len(b) > max {
			return nil, fmt.Errorf("bench: answers line %d: %w", line, messages.ErrTooLarge)
		}
		in, err := d.DecodeDiscoInfo(b)
		if err != nil {
			return nil, fmt.Errorf("bench: answers line %d: %w", line, err)
		}
		if in.Node == "" {
			return nil, fmt.Errorf("bench: answers line %d: no node attribute", line)
		}
		if _, dup := a.index(in.Node); dup {
			continue
		}
		i := int32(len(a.offs))
		a.offs, a.ends = append(a.offs, doc), append(a.ends, end)
		fp := maphash.String(a.seed, in.Node)
		switch prev, ok := a.byFP[fp]; {
		case !ok:
			a.byFP[fp], nodes[fp] = i, in.Node
		default:
			// Two nodes, one fingerprint: both are looked up by name.
			if a.spill == nil {
				a.spill = make(map[string]int32)
			}
			if prev >= 0 {
				a.spill[nodes[fp]] = prev
				a.byFP[fp] = -1
			}
			a.spill[in.Node] = i
		}
	}
	return a, nil
}

// Len is the number of nodes answered.
func (a *Answers) Len() int {
	if a == nil {
		return 0
	}
	return len(a.offs)
}

// index is the document answering node.
func (a *Answers) index(node string) (int32, bool) {
	if a == nil {
		return 0, false
	}
	i, ok := a.byFP[maphash.String(a.seed, node)]
	if ok && i < 0 {
		i, ok = a.spill[node]
	}
	return i, ok
}

// info decodes document i; the caller owns it. A node's fingerprint may
// match a node never indexed: index's answer is confirmed by the node the
// document names.
func (a *Answers) info(i int32) *hashing.Info {
	b := a.data[a.offs[i]:a.ends[i]]
	d, _ := a.dec.Get().(*messages.Decoder)
	if d == nil {
		d = new(messages.Decoder)
	}
	in, err := d.DecodeDiscoInfo(b)
	a.dec.Put(d)
	if err != nil {
		// Decoded once already while indexing: the file changed under
		// its mapping.
		panic(fmt.Sprintf("bench: answer %d no longer decodes: %v", i, err))
	}
	if a.mapped {
		// The document's pages go back to the page cache: the peers'
		// answers are the bench's, not the engine's, resident memory.
		from := a.offs[i] &^ (pageSize - 1)
		to := min((a.ends[i]+pageSize-1)&^(pageSize-1), int64(len(a.data)))
		release(a.data[from:to])
	}
	return in
}

// lookup is the document answering node, decoded, if any.
func (a *Answers) lookup(node string) (int32, *hashing.Info, bool) {
	i, ok := a.index(node)
	if !ok {
		return 0, nil, false
	}
	in := a.info(i)
	if in.Node != node {
		return 0, nil, false
	}
	return i, in, true
}

// Close unmaps the answers' file, if they came from one.
func (a *Answers) Close() error {
	if a == nil || a.unmap == nil {
		return nil
	}
	err := a.unmap()
	a.unmap, a.data = nil, nil
	return err
}
