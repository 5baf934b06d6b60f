package actors

import (
	"slices"
	"strings"
	"time"
)

// firstContact starts the lookups of b's unknown keys from the ingesting
// caller's goroutine, before b waits in its shard's mailbox.
//
// Under a flood the shards run behind their callers by up to ShardQueue
// presences each (tens of ms at full speed, more on a loaded host): a
// key's first presence waited there before its lookup even started, so
// a new key's first query left 28 ms (p50) to 200 ms (p99) after its
// presence, against 2 ms for code that queries from the parsing
// goroutine. Here the router hears of the key at once; the shard's own
// request for the same JID follows and joins the lookup, which asks the
// JID once (announcers are deduplicated) and tells it, held from then on
// like any other.
//
// Only keys that nothing knows of cost more than two map reads: a key
// some table holds (infos) or whose lookup is under way (looking) is the
// shard's business, as before. A key found in the store is given to
// infos, so that its shard does not read it again.
//
// It returns the batch of requests for the caller to send (sendEarly).
func (r *Runtime) firstContact(b *ingestBatch) *lookupBatch {
	d := r.d
	var reqs []*lookupReq
	var checked []*item // the batch's keys this call looked at
	one := func(it *item) {
		if it.kind != itemAvailable {
			return
		}
		k := it.key
		if d.infos.has(k) || d.looking.has(k) {
			return
		}
		if slices.ContainsFunc(checked, func(c *item) bool { return c.key == k }) {
			return
		}
		checked = append(checked, it)
		if d.backlog.Load() >= int64(d.cfg.RouterQueue) || d.live.Load() >= int64(d.cfg.MaxLookups) {
			// The router is behind, or could start no lookup: the shard
			// decides. (Under a flood of unknown keys, early requests
			// the router must refuse would double its work.)
			return
		}
		missed := d.writes.stamp(k)
		if info, err := d.store.Get(k); err == nil {
			d.infos.canonical(k, info)
			return
		}
		jid, node := strings.Clone(it.jid), strings.Clone(it.node)
		if !d.startEarly(k, jid, node, it.others, missed) {
			d.looking.add(k)
		}
		d.counters.EarlyLookups.Add(1)
		reqs = append(reqs, &lookupReq{key: k, jid: jid, node: node, at: time.Now(),
			others: it.others, missed: missed, inFlight: true, early: true})
	}
	if b.items == nil {
		one(&b.one)
	} else {
		for i := range b.items {
			one(&b.items[i])
		}
	}
	if len(reqs) == 0 {
		return nil
	}
	return &lookupBatch{reqs: reqs}
}

// sendEarly hands firstContact's requests, if any, to the router.
func (r *Runtime) sendEarly(b *lookupBatch) {
	if b != nil {
		r.d.system.Root.Send(r.router, b)
	}
}
