package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/hashing"
)

// cacheActor keeps the entries other members resolved: verified again,
// then written to this member's store.
type cacheActor struct{ d *core }

func (c *cacheActor) Receive(ctx actor.Context) {
	m, k, ok := c.d.decodeFor(ctx.Message(), tagEntry)
	if !ok || m.Info == nil {
		return
	}
	d := c.d
	if d.ctx.Err() != nil {
		// The engine is closing, and its store with it: the entry stays
		// with the other members, and the owner has it.
		return
	}
	if _, ok := d.entry(k); ok {
		return
	}
	proof, err := hashing.Prove(k, m.Info, d.cfg.Verify)
	if err != nil {
		d.counters.Rejected.Add(1)
		d.log.Warn("cluster entry did not verify", "key", k.String(), "err", err)
		return
	}
	d.counters.ClusterEntries.Add(1)
	// The store's Put returns once the entry is durable, a disk sync
	// later: putting here, one entry after another, left broadcasts and
	// the probes queued behind them waiting seconds under load. The puts
	// run concurrently (the store commits them together), a bounded
	// number at a time, and the entry is served from arriving meanwhile.
	if !d.arriving.add(k, m.Info) {
		return
	}
	others := othersFromWire(m.Others)
	d.tasks.Add(1)
	go func() {
		defer d.tasks.Done()
		d.putVerified(k, others, m.Info, proof, announcer{})
		d.arriving.remove(k)
		// JIDs here that announce the key — told it failed, or
		// nothing yet — hear that it resolved.
		d.verified(k, others, m.Info)
	}()
}

// probeActor answers owners asking whether this member holds a key. It is
// apart from the cache actor so that a probe never waits behind
// broadcast entries being written.
type probeActor struct{ d *core }

func (p *probeActor) Receive(ctx actor.Context) {
	m, k, ok := p.d.decodeFor(ctx.Message(), tagProbe)
	if !ok {
		return
	}
	// A reply carries no sender: Origin says who answered.
	self := p.d.system.Address()
	if info, ok := p.d.entry(k); ok {
		ctx.Respond(encode(tagEntry, &wireMsg{Key: m.Key, Origin: self, Info: info}))
		return
	}
	ctx.Respond(encode(tagResult, &wireMsg{Key: m.Key, Origin: self}))
}

// entry is the verified answer for k this member holds: in its store, or
// on its way there.
func (d *core) entry(k hashing.Key) (*hashing.Info, bool) {
	if info, ok := d.arriving.get(k); ok {
		return info, true
	}
	info, err := d.store.Get(k)
	return info, err == nil
}

// maxArriving bounds the broadcast entries being written at once; the
// cache actor waits for a slot beyond it.
const maxArriving = 1024

// arrivingEntries are verified entries from other members whose put is
// under way.
type arrivingEntries struct {
	mu    sync.Mutex
	m     map[hashing.Key]*hashing.Info
	slots chan struct{}
}

// add records k and takes a put slot, waiting for one; it is false when
// k is already arriving.
func (a *arrivingEntries) add(k hashing.Key, info *hashing.Info) bool {
	a.mu.Lock()
	if a.m == nil {
		a.m = make(map[hashing.Key]*hashing.Info)
		a.slots = make(chan struct{}, maxArriving)
	}
	if _, dup := a.m[k]; dup {
		a.mu.Unlock()
		return false
	}
	a.m[k] = info
	slots := a.slots
	a.mu.Unlock()
	slots <- struct{}{}
	return true
}

func (a *arrivingEntries) remove(k hashing.Key) {
	a.mu.Lock()
	delete(a.m, k)
	slots := a.slots
	a.mu.Unlock()
	<-slots
}

func (a *arrivingEntries) get(k hashing.Key) (*hashing.Info, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	info, ok := a.m[k]
	return info, ok
}
