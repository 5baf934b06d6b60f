package actors

import (
	"fmt"
	"runtime/debug"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// maxKeys bounds the keys kept from one presence: one XEP-0115 and a few
// XEP-0390 hashes. A presence with more hashes keeps the preferred ones.
const maxKeys = 4

type itemKind uint8

const (
	itemAvailable itemKind = iota + 1
	itemUnavailable
)

// item is one presence reduced to what the ingest shard needs.
type item struct {
	jid   string
	kind  itemKind
	nkeys uint8
	keys  [maxKeys]hashing.Key // keys[0] decides; the others are proven by the same answer
	node  string               // XEP-0115 node
}

// ingestBatch carries presences for one shard. A single presence travels
// in one, so the common case costs one allocation.
type ingestBatch struct {
	one   item
	items []item // when nil, the batch is just one
}

// caps2Preference orders XEP-0390 algorithms for the key a presence is
// resolved by: the first supported one present wins.
var caps2Preference = [...]hashing.Algorithm{
	hashing.SHA256, hashing.SHA3_256, hashing.BLAKE2b256,
	hashing.SHA512, hashing.SHA3_512, hashing.BLAKE2b512,
}

// setKeys orders keys into it: the preferred XEP-0390 key first when there
// is one — a XEP-0115 hit alone never resolves a presence that carries
// XEP-0390 hashes — then the other hashes.
func (it *item) setKeys(ks []hashing.Key) {
	it.nkeys = 0
	add := func(k hashing.Key) {
		if int(it.nkeys) < maxKeys {
			it.keys[it.nkeys] = k
			it.nkeys++
		}
	}
	for _, a := range caps2Preference {
		for _, k := range ks {
			if k.Scheme == hashing.XEP0390 && k.Alg == a {
				add(k)
			}
		}
	}
	for _, k := range ks {
		if k.Scheme == hashing.XEP0115 {
			add(k)
		}
	}
}

// shard is one ingest actor with its JID table and its admission semaphore.
type shard struct {
	pid   *actor.PID
	table *table
	sem   chan struct{}
}

type shardActor struct {
	d      *deps
	sh     *shard
	router *actor.PID
}

func (a *shardActor) Receive(ctx actor.Context) {
	var b *ingestBatch
	switch m := ctx.Message().(type) {
	case *ingestBatch:
		b = m
	case *waitJID:
		a.wait(ctx, m)
		return
	default:
		return
	}
	// Release the admission slot whatever happens to the batch.
	defer func() { <-a.sh.sem }()
	defer func() {
		if p := recover(); p != nil {
			a.d.cfg.Logger.Error("ingest actor panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if b.items == nil {
		a.apply(ctx, &b.one)
		return
	}
	for i := range b.items {
		a.apply(ctx, &b.items[i])
	}
}

func (a *shardActor) apply(ctx actor.Context, it *item) {
	d, t := a.d, a.sh.table
	if it.kind == itemUnavailable {
		t.mu.Lock()
		known := t.removeLocked(it.jid)
		t.mu.Unlock()
		if known {
			d.hub.Publish(&messages.EntityGone{JID: it.jid})
		}
		return
	}
	k := it.keys[0]
	t.mu.Lock()
	t.setLocked(it.jid, k)
	t.mu.Unlock()
	if info, err := d.store.Get(k); err == nil {
		d.counters.Hits.Add(1)
		if d.hub.Wants(messages.KindCapsResolved) {
			d.hub.Publish(&messages.CapsResolved{JID: it.jid, Key: k, Info: info, Cached: true})
		}
		return
	}
	d.counters.Misses.Add(1)
	// The router is one actor: under a flood of unknown keys it must not
	// fall behind without bound. Past the backlog limit the presence is
	// dropped, counted, and its key reported as overloaded.
	if d.backlog.Load() >= int64(d.cfg.RouterQueue) {
		d.counters.DropLookups.Add(1)
		d.failures.put(k, ErrOverloaded)
		d.hub.Publish(&messages.CapsFailed{JID: it.jid, Key: k, Err: ErrOverloaded})
		return
	}
	d.backlog.Add(1)
	req := &lookupReq{key: k, jid: it.jid, node: it.node}
	if it.nkeys > 1 {
		req.others = append([]hashing.Key(nil), it.keys[1:it.nkeys]...)
	}
	ctx.Send(a.router, req)
}

func (a *shardActor) wait(ctx actor.Context, m *waitJID) {
	k, ok := a.sh.table.get(m.jid)
	if !ok {
		m.reply <- waitResult{err: ErrUnknownJID}
		return
	}
	if info, err := a.d.store.Get(k); err == nil {
		m.reply <- waitResult{key: k, info: info}
		return
	}
	ctx.Send(a.router, &waitReq{key: k, reply: m.reply})
}
