package actors

import (
	"context"
	"encoding/binary"
	"log/slog"
	"slices"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/storage"
)

// emptyKeySet is the set of a member whose store held nothing.
func emptyKeySet(t *testing.T) (*storage.KeySet, int) {
	t.Helper()
	b := make([]byte, 24+8*2) // 128 bits, 3 hash functions, no key
	binary.BigEndian.PutUint64(b[0:], 128)
	binary.BigEndian.PutUint64(b[8:], 3)
	binary.BigEndian.PutUint64(b[16:], 128)
	set, err := storage.ParseKeySet(b)
	if err != nil {
		t.Fatal(err)
	}
	return set, len(b)
}

// A member's key set keeps owners from probing it about keys it cannot
// hold; members with no set yet are probed as before; a member that
// leaves is forgotten with its set, and asked again if it comes back.
func TestPeerKeys(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := &core{system: sys, cluster: clusterStub{}, counters: &Counters{}, ctx: ctx,
		log: slog.New(slog.DiscardHandler)}
	_, k, _ := client(t, "peerkeys", nil)
	self := sys.Address()
	const a, b = "10.0.0.1:7000", "10.0.0.2:7000"

	// The asks go nowhere here (no remote): their futures time out.
	d.keysTopology([]string{self, a, b})
	p := &d.peerKeys
	p.mu.Lock()
	if !p.asked[a] || !p.asked[b] || p.asked[self] {
		t.Fatalf("asked %v, want %s and %s", p.asked, a, b)
	}
	set, n := emptyKeySet(t)
	p.sets[a], p.size[a], p.bytes = set, n, n
	p.mu.Unlock()

	if got := d.mayHold([]string{a, b}, k); !slices.Equal(got, []string{b}) {
		t.Fatalf("may hold %v, want [%s]: a's set is empty, b sent none", got, b)
	}
	if d.keySets() != 1 {
		t.Fatalf("%d key sets, want 1", d.keySets())
	}

	// a leaves: its set goes, and it is asked again when it comes back.
	d.keysTopology([]string{self, b})
	p.mu.Lock()
	sets, bytes := len(p.sets), p.bytes
	p.mu.Unlock()
	if sets != 0 || bytes != 0 {
		t.Fatalf("%d key sets (%d bytes) after a left, want none", sets, bytes)
	}
	if got := d.mayHold([]string{a}, k); !slices.Equal(got, []string{a}) {
		t.Fatalf("may hold %v after a left: a member with no set is probed", got)
	}
	p.mu.Lock()
	before := p.gen[b]
	p.mu.Unlock()
	d.keysTopology([]string{self, a, b})
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.asked[a] || p.gen[b] != before || p.gen[a] <= before {
		t.Fatalf("after a came back: asked %v, generations %v", p.asked, p.gen)
	}
}
