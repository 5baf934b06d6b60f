package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capsengine/capsengine/hashing"
)

// PeerSpec describes the simulated network behind the stream: how the
// announcers answer disco#info queries.
type PeerSpec struct {
	Seed uint64
	// Liars, Errors and Timeouts are shares of announcers (full JIDs) that
	// answer with a wrong disco#info, with an IQ error, or never. A JID's
	// behaviour is fixed by the seed and the JID.
	Liars, Errors, Timeouts float64
	// Latency is the median answer time, Jitter the σ of its log-normal
	// spread (0: every answer takes Latency).
	Latency time.Duration
	Jitter  float64
}

// defaultPeerSpec is the network of a plain "capsengine bench".
func defaultPeerSpec() PeerSpec {
	return PeerSpec{Seed: 1, Liars: 0.01, Errors: 0.005, Timeouts: 0.001, Latency: time.Millisecond, Jitter: 0.5}
}

func (ps *PeerSpec) validate() error {
	for _, v := range []struct {
		name string
		v    float64
	}{{"liars", ps.Liars}, {"errors", ps.Errors}, {"timeouts", ps.Timeouts}} {
		if v.v < 0 || v.v > 1 || math.IsNaN(v.v) {
			return fmt.Errorf("bench: %s must be a share between 0 and 1", v.name)
		}
	}
	if ps.Liars+ps.Errors+ps.Timeouts > 1 {
		return errors.New("bench: liars + errors + timeouts must not exceed 1")
	}
	if ps.Latency < 0 || ps.Jitter < 0 {
		return errors.New("bench: latency and jitter must not be negative")
	}
	return nil
}

// behaviour is how one announcer answers.
type behaviour uint8

const (
	honest  behaviour = iota
	liar              // answers a disco#info that does not hash to what it announced
	iqError           // answers with an error
	silent            // never answers: the query times out
)

func (b behaviour) String() string {
	return [...]string{"honest", "liar", "error", "silent"}[b]
}

func hashJID[T string | []byte](seed uint64, jid T) uint64 {
	h := fnv.New64a()
	var s [8]byte
	for i := range s {
		s[i] = byte(seed >> (8 * i))
	}
	h.Write(s[:])
	h.Write([]byte(jid))
	return mix(h.Sum64(), 0)
}

// Behaviour returns how jid answers.
func (ps *PeerSpec) Behaviour(jid string) behaviour { return behaviourOf(ps, jid) }

func behaviourOf[T string | []byte](ps *PeerSpec, jid T) behaviour {
	if ps.Liars == 0 && ps.Errors == 0 && ps.Timeouts == 0 {
		return honest
	}
	u := unit(hashJID(ps.Seed, jid))
	switch {
	case u < ps.Liars:
		return liar
	case u < ps.Liars+ps.Errors:
		return iqError
	case u < ps.Liars+ps.Errors+ps.Timeouts:
		return silent
	}
	return honest
}

// peers simulates the announcers of a workload: it implements
// capsengine.Querier and counts every query by outcome and by node.
type peers struct {
	spec PeerSpec
	ans  *answers
	// perNode counts the honest answers given for each node: more than
	// one means the pipeline asked twice for a key it had verified.
	perNode []atomic.Int32
	// firstAsked is when each node was first asked (Unix ns, 0 never).
	firstAsked []atomic.Int64

	// Queries counts every query; each ends as one of HonestAnswers,
	// LiarAnswers, ErrorAnswers, Silences (silent peers), Unknown (no
	// answer for the node) or Expired (the asker gave up first).
	Queries, HonestAnswers, LiarAnswers, ErrorAnswers, Silences, Unknown, Expired atomic.Int64
	// InFlight is the number of queries being answered now.
	InFlight atomic.Int64

	// extra are documents added after the start (AddAnswer), with the
	// honest answers given for each.
	extraMu sync.Mutex
	extra   map[string]*extraAnswer
}

type extraAnswer struct {
	info     *hashing.Info
	answered int32
}

// AddAnswer makes the peers know info, asked at node, from now on.
func (p *peers) AddAnswer(node string, info *hashing.Info) {
	p.extraMu.Lock()
	defer p.extraMu.Unlock()
	if p.extra == nil {
		p.extra = make(map[string]*extraAnswer)
	}
	p.extra[node] = &extraAnswer{info: info}
}

// extraAnswers returns the honest answers given per added node.
func (p *peers) extraAnswers() map[string]int32 {
	p.extraMu.Lock()
	defer p.extraMu.Unlock()
	out := make(map[string]int32, len(p.extra))
	for n, e := range p.extra {
		if e.answered > 0 {
			out[n] = e.answered
		}
	}
	return out
}

// answerExtra answers node from the added documents.
func (p *peers) answerExtra(node string) (*hashing.Info, bool) {
	p.extraMu.Lock()
	defer p.extraMu.Unlock()
	e := p.extra[node]
	if e == nil {
		return nil, false
	}
	e.answered++
	return e.info, true
}

// newPeers returns the simulated network spec over the documents ans
// (nil: every node unknown).
func newPeers(spec PeerSpec, ans *answers) *peers {
	return &peers{spec: spec, ans: ans, perNode: make([]atomic.Int32, ans.Len()), firstAsked: make([]atomic.Int64, ans.Len())}
}

// errItemNotFound is what an honest peer answers for a node it does not
// know (only with an --input stream whose answers are missing).
var errItemNotFound = errors.New("bench: simulated peer: item-not-found")

// errServiceUnavailable is the IQ error of the peers that fail.
var errServiceUnavailable = errors.New("bench: simulated peer: service-unavailable")

// QueryInfo answers like the peer jid would, after the simulated latency.
func (p *peers) QueryInfo(ctx context.Context, jid, node string) (*hashing.Info, error) {
	p.Queries.Add(1)
	p.InFlight.Add(1)
	defer p.InFlight.Add(-1)
	if i, ok := p.ans.index(node); ok {
		p.firstAsked[i].CompareAndSwap(0, time.Now().UnixNano())
	}
	b := behaviourOf(&p.spec, jid)
	if b == silent {
		p.Silences.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if d := p.latency(jid, node); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			p.Expired.Add(1)
			return nil, ctx.Err()
		}
	}
	if b == iqError {
		p.ErrorAnswers.Add(1)
		return nil, errServiceUnavailable
	}
	i, honest, known := p.ans.lookup(node)
	switch b {
	case liar:
		p.LiarAnswers.Add(1)
		return lie(honest, node, hashJID(p.spec.Seed^0x11e, jid)), nil
	}
	if !known {
		if info, ok := p.answerExtra(node); ok {
			p.HonestAnswers.Add(1)
			return info, nil
		}
		p.Unknown.Add(1)
		return nil, errItemNotFound
	}
	p.HonestAnswers.Add(1)
	p.perNode[i].Add(1)
	return honest, nil
}

// latency is log-normal around the median, fixed per (jid, node).
func (p *peers) latency(jid, node string) time.Duration { return p.spec.latency(jid, node) }

// latency is how long jid takes to answer a query for node: log-normal
// around the median, fixed per (jid, node).
func (ps *PeerSpec) latency(jid, node string) time.Duration {
	d := ps.Latency
	if d <= 0 || ps.Jitter == 0 {
		return d
	}
	h := hashJID(ps.Seed^0x1a7, jid+"\x00"+node)
	u1, u2 := max(unit(h), 1e-12), unit(mix(h, 1))
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return time.Duration(float64(d) * math.Exp(ps.Jitter*z))
}

// idle returns once no query has been in flight for quiet, or ctx ends.
func (p *peers) idle(ctx context.Context, quiet time.Duration) {
	const step = 5 * time.Millisecond
	for calm := time.Duration(0); calm < quiet; {
		select {
		case <-time.After(step):
		case <-ctx.Done():
			return
		}
		if p.InFlight.Load() == 0 {
			calm += step
		} else {
			calm = 0
		}
	}
}

// FirstAsked is when node number i of the answers was first asked.
func (p *peers) firstAskedAt(i int32) (time.Time, bool) {
	if i < 0 || int(i) >= len(p.firstAsked) {
		return time.Time{}, false
	}
	ns := p.firstAsked[i].Load()
	return time.Unix(0, ns), ns != 0
}

// Failed is the number of queries that got no honest answer.
func (p *peers) Failed() int64 {
	return p.LiarAnswers.Load() + p.ErrorAnswers.Load() + p.Silences.Load() + p.Unknown.Load() + p.Expired.Load()
}

// Duplicates is the number of honest answers beyond the first for any
// node: queries a deduplicating pipeline should never have sent.
func (p *peers) Duplicates() int64 {
	var n int64
	for i := range p.perNode {
		if c := p.perNode[i].Load(); c > 1 {
			n += int64(c - 1)
		}
	}
	return n
}

// NodesAnswered is the number of nodes that got at least one honest answer.
func (p *peers) NodesAnswered() int {
	n := 0
	for i := range p.perNode {
		if p.perNode[i].Load() > 0 {
			n++
		}
	}
	return n
}

// lie returns a wrong answer for node: the honest one with a feature
// added, one removed, one duplicated (a §5.4 violation), or the identity
// renamed — or a made-up one when the honest answer is unknown.
func lie(honest *hashing.Info, node string, h uint64) *hashing.Info {
	if honest == nil || len(honest.Features) < 2 || len(honest.Identities) == 0 {
		return &hashing.Info{
			Node:       node,
			Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "Forged"}},
			Features:   []string{"http://jabber.org/protocol/disco#info", "urn:xmpp:bench:forged"},
		}
	}
	out := *honest
	out.Node = node
	switch h % 4 {
	case 0:
		out.Features = append(append([]string(nil), honest.Features...), "urn:xmpp:bench:forged")
	case 1:
		out.Features = append([]string(nil), honest.Features[1:]...)
	case 2:
		out.Features = append(append([]string(nil), honest.Features...), honest.Features[0])
	case 3:
		out.Identities = append([]hashing.Identity(nil), honest.Identities...)
		out.Identities[0].Name += " (forged)"
	}
	return &out
}
