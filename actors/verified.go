package actors

import (
	"context"
	"sync/atomic"

	"github.com/capsengine/capsengine/hashing"
)

// putVerified stores a verified answer for key and for the others the
// same answer proves too (a presence's other hashes). The entry records
// the announcer's caps node (the XEP-0115 node attribute, not node#ver),
// which is what storage keeps in Entry.Nodes and exports as file names.
//
// Close does not cut it short: the answer may have been served already, and
// the store commits whatever it accepted before it closes.
func (d *core) putVerified(key hashing.Key, others []hashing.Key, info *hashing.Info, method hashing.Method, a announcer) {
	v := Verified{Node: a.node, JID: a.jid, Method: method, At: d.now()}
	if key.Scheme != hashing.XEP0115 || a.jid == "" {
		v.Node = ""
	}
	if err := d.store.Put(context.WithoutCancel(d.ctx), key, info, v); err != nil {
		d.counters.StoreErrors.Add(1)
		d.log.Warn("store verified entry", "key", key.String(), "err", err)
	}
	d.writes.wrote(key) // even after an error: the write may have landed
	for _, o := range others {
		if m, err := hashing.Verify(o, info, d.cfg.Verify); err == nil {
			v.Method = m
			if err := d.store.Put(context.WithoutCancel(d.ctx), o, info, v); err != nil {
				d.counters.StoreErrors.Add(1)
			}
			d.writes.wrote(o)
		}
	}
}

// putVerifiedAsync is putVerified through an AsyncStore: it returns at
// once, and stored is called when every entry is durable (or refused),
// from whichever goroutine answers last.
func (d *core) putVerifiedAsync(s AsyncStore, key hashing.Key, others []hashing.Key, info *hashing.Info, method hashing.Method, a announcer, stored func()) {
	v := Verified{Node: a.node, JID: a.jid, Method: method, At: d.now()}
	if key.Scheme != hashing.XEP0115 || a.jid == "" {
		v.Node = ""
	}
	type put struct {
		k hashing.Key
		v Verified
	}
	puts := []put{{key, v}}
	for _, o := range others {
		if m, err := hashing.Verify(o, info, d.cfg.Verify); err == nil {
			ov := v
			ov.Method = m
			puts = append(puts, put{o, ov})
		}
	}
	var left atomic.Int32
	left.Store(int32(len(puts)))
	for _, p := range puts {
		s.PutAsync(p.k, info, p.v, func(err error) {
			if err != nil {
				d.counters.StoreErrors.Add(1)
				d.log.Warn("store verified entry", "key", p.k.String(), "err", err)
			}
			d.writes.wrote(p.k) // even after an error: the write may have landed
			if left.Add(-1) == 0 {
				stored()
			}
		})
	}
}
