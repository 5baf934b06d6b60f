package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/hashing"
)

// clusterAsk is ask in cluster mode: it hands the key to its owner, which
// either knows the answer, has this request wait for a query under way,
// or grants this member the query of a (granted). Only a's own failure
// comes back as an error naming a; an unreachable owner is
// ErrClusterUnavailable.
//
// A verified answer comes back unstored, with its proof: the caller serves
// it first and stores it after, as a single process does
// (serveThenStore). Storing it here held every cross-node answer for a
// group commit.
func (d *core) clusterAsk(key hashing.Key, others []hashing.Key, a announcer) *queryDone {
	res := &queryDone{jid: a.jid}
	req := encode(tagResolve, &wireMsg{
		Key: toWire(key), Others: othersToWire(others), JID: a.jid, Node: a.node,
		Origin: d.system.Address(),
	})
	deadline := d.now().Add(d.cfg.LookupTimeout)
	var lastErr error
	backoff := 50 * time.Millisecond
	for attempt := 0; d.now().Before(deadline); attempt++ {
		if attempt > 0 {
			// The owner is gone or the members disagree: give the
			// membership time to settle rather than spin.
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-d.ctx.Done():
				t.Stop()
			}
			backoff = min(2*backoff, time.Second)
		}
		if d.ctx.Err() != nil {
			res.err = ErrClosed
			return res
		}
		d.counters.ClusterRequests.Add(1)
		// Request ends at once when the owner's member leaves (the
		// retry reaches the key's new owner) or the engine closes.
		v, err := d.cluster.Request(d.ctx, key.String(), OwnerKind, req)
		if err != nil || v == nil {
			d.counters.ClusterRetries.Add(1)
			lastErr = err
			d.log.Debug("cluster owner unreachable", "key", key.String(), "err", err)
			continue
		}
		tag, m, ok := d.decode(v)
		if ok && tag == tagGrant {
			return d.granted(key, others, a, m)
		}
		if !ok || tag != tagResult {
			lastErr = fmt.Errorf("unexpected reply %T", v)
			d.counters.ClusterRetries.Add(1)
			continue
		}
		if m.Info == nil {
			if m.Code == codeClosed {
				// The owner ended before it had an answer: its key
				// moved to a member that joined, or its member is
				// shutting down. The key has a new owner to ask; this
				// engine is not closing (checked above).
				lastErr = remoteErr(m.Code, m.Err)
				d.counters.ClusterRetries.Add(1)
				continue
			}
			res.err = remoteErr(m.Code, m.Err)
			return res
		}
		// Never trust the wire: verify what we keep.
		proof, err := hashing.Prove(key, m.Info, d.cfg.Verify)
		if err != nil {
			d.counters.Rejected.Add(1)
			res.err = err
			return res
		}
		res.info, res.proof = m.Info, proof
		return res
	}
	res.err = fmt.Errorf("%w: %w", ErrClusterUnavailable, lastErr)
	return res
}

// granted runs the query of a that key's owner granted this member (g):
// queued and bounded as the queries of a single process, verified here,
// its outcome sent to the owner (which tells the key's other requesters),
// and the verified answer handed back unstored, like the owner's results.
func (d *core) granted(key hashing.Key, others []hashing.Key, a announcer, g *wireMsg) *queryDone {
	got := make(chan *queryDone, 1)
	d.queries.push(&queryJob{
		key: key, others: others, a: a,
		// The owner waits for the answer while this member is in the
		// cluster: the wait for a worker is bounded, so that it comes.
		expires: d.now().Add(d.cfg.QueryTimeout), forOwner: true,
		done: func(res *queryDone) { got <- res },
	})
	var res *queryDone
	select {
	case res = <-got:
	case <-d.ctx.Done():
		res = &queryDone{jid: a.jid, err: ErrClosed}
	}
	out := &wireMsg{Key: g.Key, Seq: g.Seq, Info: res.info}
	if res.err != nil {
		out.Err, out.Code = res.err.Error(), errCode(res.err)
	}
	d.system.Root.Send(actor.NewPID(g.Origin, g.Owner), encode(tagAnswer, out))
	return res
}
