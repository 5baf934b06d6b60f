package actors

import (
	"errors"
	"hash/maphash"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// Telling JIDs how their key went. What each JID was told is kept in its
// row of the JID table (told), so that:
//   - a key verified by any route — its own lookup, a later one after a
//     failure, a cluster member's broadcast — tells every JID announcing
//     it that has not heard CapsResolved, and nobody twice;
//   - Caps and Wait can say ErrOverloaded for a presence dropped under
//     load instead of ErrPending forever.
//
// Events are queued under the table's lock and published in that order
// (table.pending), so that a JID's events keep their order against the
// shard's (EntityGone after CapsResolved).

func (d *core) shardOf(jid string) *shard {
	return d.shards[maphash.String(d.seed, jid)%uint64(len(d.shards))]
}

// toldOf reports whether jid announces k and has been told how k went.
// It never waits for the shard's table: when a shard holds it, the answer
// is no.
func (d *core) toldOf(jid string, k hashing.Key) bool {
	if len(d.shards) == 0 {
		return false
	}
	s, ok := d.shardOf(jid).table.tryState(jid)
	return ok && s.key == k && s.told != toldNothing
}

// tell records, and publishes, that jid's key k resolved to info or failed
// with err — if jid still announces k and was not told so already.
func (d *core) tell(jid string, k hashing.Key, info *hashing.Info, err error) {
	if len(d.shards) == 0 {
		return
	}
	t := d.shardOf(jid).table
	t.mu.Lock()
	defer t.mu.Unlock()
	defer t.flushLocked()
	e, ok := t.jids.get(fingerprintOf(jid))
	if !ok || t.slots[e.slot].key != k {
		return
	}
	r := t.rows.at(e.row())
	if err == nil {
		t.slots[e.slot].info = info
		d.resolvedLocked(t, r, k, info, false)
		return
	}
	if r.told != toldNothing {
		return
	}
	r.told = toldFailed
	if errors.Is(err, ErrOverloaded) {
		r.told = toldDropped
	}
	if d.hub.Wants(messages.KindCapsFailed) {
		t.emitLocked(&messages.CapsFailed{JID: r.jid, Key: k, Err: err})
	}
}

// resolvedLocked tells row r of t, once, that k resolved.
func (d *core) resolvedLocked(t *table, r *row, k hashing.Key, info *hashing.Info, cached bool) {
	if r.told == toldResolved {
		return
	}
	r.told = toldResolved
	t.toldResolvedLocked(r)
	if d.hub.Wants(messages.KindCapsResolved) {
		t.emitLocked(&messages.CapsResolved{JID: r.jid, Key: k, Info: info, Cached: cached})
	}
}

// verified tells every JID announcing k, or one of others that the same
// answer proved (and the store now holds), that it resolved to info. It
// walks the JIDs of those keys once: a key is verified once per engine
// life, then found in the store by each presence.
//
// It returns the engine's one copy of info (infos.canonical).
func (d *core) verified(k hashing.Key, others []hashing.Key, info *hashing.Info) *hashing.Info {
	// The event goes first: from canonical on, the shards resolve the
	// key's JIDs from infos, and their CapsResolved must not overtake it.
	d.publishVerified(k, info)
	info = d.infos.canonical(k, info)
	d.settleKey(k, info)
	for _, o := range others {
		// The same check putVerified makes before storing o.
		if _, err := hashing.Verify(o, info, d.cfg.Verify); err == nil {
			d.publishVerified(o, info)
			d.settleKey(o, info)
		}
	}
	return info
}

func (d *core) publishVerified(k hashing.Key, info *hashing.Info) {
	if d.hub.Wants(messages.KindKeyVerified) {
		d.hub.Publish(&messages.KeyVerified{Key: k, Info: info, At: time.Now()})
	}
}

// settleKey tells every table's JIDs announcing k that it resolved to info.
// A table without k costs settle one probe. Asking each table first (a
// read-locked probe) and settling after (a second, write-locked) was two
// probes for every table holding the key, which a popular key is in all
// of: settleKey took 2.1% of the 300,000-document cold pass (four
// profiles) and takes 1.8% now (two) — the first probe paid the cache
// miss, which settle now pays.
func (d *core) settleKey(k hashing.Key, info *hashing.Info) {
	for _, sh := range d.shards {
		t := sh.table
		t.settle(k, info, func(r *row) { d.resolvedLocked(t, r, k, info, false) })
	}
}
