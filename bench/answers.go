package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"sync"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// answers are the honest disco#info documents of a workload, by the node
// they are asked at (node#ver, or urn:xmpp:caps#alg.value).
//
// They are kept where writeWorkload wrote them, as encoded lines, and read and
// decoded when asked for: held decoded, the 300,000 documents of a large
// workload took over 500 MB of the process's heap — more than the engine
// under test — and every peak RSS the bench reported counted them as the
// engine's. They are read with pread, not mapped: the kernel maps a
// faulting page's neighbours too, and random reads of a mapped file
// leave most of it resident.
type answers struct {
	src  io.ReaderAt
	file *os.File // src, when the answers come from a file; Close closes it
	offs []int64  // document i is at [offs[i], ends[i]) of src
	ends []int64
	byFP map[uint64]int32 // node's 64-bit fingerprint → document
	seed maphash.Seed
	bufs sync.Pool // *[]byte
	dec  sync.Pool // *messages.Decoder
}

// readAnswers reads newline-delimited disco#info <query/> elements, each
// with the node it answers for, as writeWorkload writes them.
func readAnswers(r io.Reader) (*answers, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("bench: answers: %w", err)
	}
	src := bytes.NewReader(data)
	return indexAnswers(src, src)
}

// readAnswersFile indexes the answers in path; Close closes it.
func readAnswersFile(path string) (*answers, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	a, err := indexAnswers(bufio.NewReaderSize(f, 1<<20), f)
	if err != nil {
		f.Close()
		return nil, err
	}
	a.file = f
	return a, nil
}

// indexAnswers reads the documents from r, once, and keeps where each is
// in src (the same bytes).
func indexAnswers(r io.Reader, src io.ReaderAt) (*answers, error) {
	a := &answers{src: src, byFP: make(map[uint64]int32), seed: maphash.MakeSeed()}
	var d messages.Decoder
	limit := messages.DefaultLimits().MaxDiscoInfoBytes
	br := bufio.NewReaderSize(r, limit+1)
	var off int64
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		doc := off
		off += int64(len(b))
		if err == bufio.ErrBufferFull {
			return nil, fmt.Errorf("bench: answers line %d: %w", line, messages.ErrTooLarge)
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("bench: answers: %w", err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) > 0 {
			in, derr := d.DecodeDiscoInfo(b)
			if derr != nil {
				return nil, fmt.Errorf("bench: answers line %d: %w", line, derr)
			}
			if in.Node == "" {
				return nil, fmt.Errorf("bench: answers line %d: no node attribute", line)
			}
			if err := a.add(in.Node, doc, doc+int64(len(b))); err != nil {
				return nil, fmt.Errorf("bench: answers line %d: %w", line, err)
			}
		}
		if err == io.EOF {
			return a, nil
		}
	}
}

// add indexes the document at [from, to) as node's answer. A second answer
// for a node is ignored. Two nodes with one fingerprint (odds of 2^-64 a
// pair) are refused rather than answered for each other; another run
// draws another seed.
func (a *answers) add(node string, from, to int64) error {
	fp := maphash.String(a.seed, node)
	if i, ok := a.byFP[fp]; ok {
		if other := a.info(i).Node; other != node {
			return fmt.Errorf("nodes %q and %q share a fingerprint", other, node)
		}
		return nil
	}
	a.byFP[fp] = int32(len(a.offs))
	a.offs, a.ends = append(a.offs, from), append(a.ends, to)
	return nil
}

// Len is the number of nodes answered.
func (a *answers) Len() int {
	if a == nil {
		return 0
	}
	return len(a.offs)
}

// index is the document answering node.
func (a *answers) index(node string) (int32, bool) {
	if a == nil {
		return 0, false
	}
	i, ok := a.byFP[maphash.String(a.seed, node)]
	return i, ok
}

// info reads and decodes document i; the caller owns it.
func (a *answers) info(i int32) *hashing.Info {
	n := int(a.ends[i] - a.offs[i])
	bp, _ := a.bufs.Get().(*[]byte)
	if bp == nil || cap(*bp) < n {
		b := make([]byte, n)
		bp = &b
	}
	b := (*bp)[:n]
	_, err := a.src.ReadAt(b, a.offs[i])
	var in *hashing.Info
	if err == nil {
		d, _ := a.dec.Get().(*messages.Decoder)
		if d == nil {
			d = new(messages.Decoder)
		}
		in, err = d.DecodeDiscoInfo(b)
		a.dec.Put(d)
	}
	a.bufs.Put(bp)
	if err != nil {
		// Read and decoded once already while indexing: the file
		// changed under the run.
		panic(fmt.Sprintf("bench: answer %d can no longer be read: %v", i, err))
	}
	return in
}

// lookup is the document answering node, decoded, if any.
func (a *answers) lookup(node string) (int32, *hashing.Info, bool) {
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

// Close closes the answers' file, if they came from one.
func (a *answers) Close() error {
	if a == nil || a.file == nil {
		return nil
	}
	err := a.file.Close()
	a.file = nil
	return err
}
