package actors

import (
	"context"
	"sync/atomic"

	"github.com/capsengine/capsengine/hashing"
)

// verifiedEntry is one entry a verified answer writes.
type verifiedEntry struct {
	k hashing.Key
	v Verified
}

// verifiedEntries are the entries a verified answer writes: key's, and
// those of the others the same answer proves too (a presence's other
// hashes). Each records the announcer's caps node (the XEP-0115 node
// attribute, not node#ver), which is what storage keeps in Entry.Nodes
// and exports as file names.
func (d *core) verifiedEntries(key hashing.Key, others []hashing.Key, info *hashing.Info, proof hashing.Proof, a announcer) []verifiedEntry {
	v := Verified{Node: a.node, JID: a.jid, Method: proof.Method(), At: d.now(), Proof: proof}
	if key.Scheme != hashing.XEP0115 || a.jid == "" {
		v.Node = ""
	}
	out := []verifiedEntry{{key, v}}
	for _, o := range others {
		if p, err := hashing.Prove(o, info, d.cfg.Verify); err == nil {
			ov := v
			ov.Method, ov.Proof = p.Method(), p
			out = append(out, verifiedEntry{o, ov})
		}
	}
	return out
}

// putDone counts a write's outcome. The key is marked written even after
// an error: the write may have landed.
func (d *core) putDone(k hashing.Key, err error) {
	if err != nil {
		d.counters.StoreErrors.Add(1)
		d.log.Warn("store verified entry", "key", k.String(), "err", err)
	}
	d.writes.wrote(k)
}

// putVerified stores a verified answer's entries (verifiedEntries).
//
// Close does not cut it short: the answer may have been served already, and
// the store commits whatever it accepted before it closes.
func (d *core) putVerified(key hashing.Key, others []hashing.Key, info *hashing.Info, proof hashing.Proof, a announcer) {
	for _, e := range d.verifiedEntries(key, others, info, proof, a) {
		d.putDone(e.k, d.store.Put(context.WithoutCancel(d.ctx), e.k, info, e.v))
	}
}

// putVerifiedAsync is putVerified through an AsyncStore: it returns at
// once, and stored is called when every entry is durable (or refused),
// from whichever goroutine answers last.
func (d *core) putVerifiedAsync(s AsyncStore, key hashing.Key, others []hashing.Key, info *hashing.Info, proof hashing.Proof, a announcer, stored func()) {
	entries := d.verifiedEntries(key, others, info, proof, a)
	var left atomic.Int32
	left.Store(int32(len(entries)))
	for _, e := range entries {
		s.PutAsync(e.k, info, e.v, func(err error) {
			d.putDone(e.k, err)
			if left.Add(-1) == 0 {
				stored()
			}
		})
	}
}
