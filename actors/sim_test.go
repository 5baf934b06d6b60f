package actors

import (
	"context"
	"errors"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// memStore is a Store in a map: the actors' tests need its behaviour, not
// pebble's.
type memStore struct {
	mu   sync.Mutex
	m    map[hashing.Key]*hashing.Info
	puts atomic.Int64
	// unproven counts puts whose Verified.Proof does not prove the info
	// against the key: a real store would hash those again.
	unproven atomic.Int64
}

func newMemStore() *memStore { return &memStore{m: make(map[hashing.Key]*hashing.Info)} }

func (s *memStore) Get(k hashing.Key) (*hashing.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if info, ok := s.m[k]; ok {
		return info, nil
	}
	return nil, ErrNotFound
}

func (s *memStore) Put(_ context.Context, k hashing.Key, info *hashing.Info, v Verified) error {
	s.puts.Add(1)
	if m, ok := v.Proof.For(k, info, hashing.Options{}); !ok || m != v.Method {
		s.unproven.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = info
	return nil
}

// peers simulates the network: each JID answers honestly, lies, fails,
// never answers, or waits for a gate.
type peers struct {
	mu       sync.Mutex
	behave   map[string]behaviour
	infos    map[string]*hashing.Info // node → honest answer
	asked    map[string]int           // jid → queries received
	total    atomic.Int64
	gate     chan struct{} // when non-nil, honest answers wait for it
	hold     chan struct{} // when non-nil, every answer waits for it
	liarInfo *hashing.Info
	delay    time.Duration // honest answers take this long
}

type behaviour uint8

const (
	honest behaviour = iota
	liar
	iqError
	silent
)

func newPeers() *peers {
	return &peers{behave: map[string]behaviour{}, infos: map[string]*hashing.Info{}, asked: map[string]int{},
		liarInfo: &hashing.Info{Features: []string{"urn:xmpp:evil"}}}
}

func (p *peers) QueryInfo(ctx context.Context, jid, node string) (*hashing.Info, error) {
	p.total.Add(1)
	p.mu.Lock()
	p.asked[jid]++
	b, info, gate, hold := p.behave[jid], p.infos[node], p.gate, p.hold
	p.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	switch b {
	case liar:
		return p.liarInfo, nil
	case iqError:
		return nil, errors.New("service-unavailable")
	case silent:
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if info == nil {
		return nil, errors.New("item-not-found")
	}
	if p.delay > 0 {
		select {
		case <-time.After(p.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return info, nil
}

func (p *peers) set(jid string, b behaviour) {
	p.mu.Lock()
	p.behave[jid] = b
	p.mu.Unlock()
}

func (p *peers) queries(jid string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.asked[jid]
}

// client builds a disco#info, its XEP-0115 key and a presence announcing it.
func client(t testing.TB, name string, p *peers) (*hashing.Info, hashing.Key, string) {
	t.Helper()
	info := &hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: name}},
		Features:   []string{"http://jabber.org/protocol/caps", "urn:xmpp:" + name},
	}
	k, err := hashing.Compute(hashing.XEP0115, hashing.SHA1, info)
	if err != nil {
		t.Fatal(err)
	}
	node := "https://example.org/" + name
	if p != nil {
		p.mu.Lock()
		p.infos[node+"#"+k.Ver()] = info
		p.mu.Unlock()
	}
	return info, k, node
}

func presence(jid, node string, k hashing.Key) *messages.Presence {
	return &messages.Presence{From: jid, Caps: &messages.Caps{Hash: k.Alg.String(), Node: node, Ver: k.Ver()}}
}

func start(t testing.TB, cfg Config, s Store, q Querier) *Runtime {
	t.Helper()
	if cfg.Debounce == 0 {
		cfg.Debounce = -1
	}
	r, err := Start(cfg, Ports{Store: s, Querier: q})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			if os.Getenv("CAPSENGINE_DUMP") != "" {
				_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
			}
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func waitCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// until waits for cond, yielding between looks, and fails the test when
// it does not hold within waitCtx's bound: a broken engine fails, it does
// not hang the suite.
func until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx := waitCtx(t)
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
