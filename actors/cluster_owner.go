package actors

import (
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/supervise"
)

// pendingResolve is one member's request waiting at the owner.
type pendingResolve struct {
	reply *actor.PID // the requester's future
	m     *wireMsg
}

type ownerTimeout struct{ seq uint64 }

// probeTimeout ends a probe that some member did not answer.
type probeTimeout struct{}

// ownerActor is the cluster-wide owner of one key. It asks one announcer
// at a time, on the member that saw it; every member's request waits for
// that one query. A failed announcer fails only the request that brought
// it (its member goes on with its next announcer); the owner then asks
// the next waiting request's announcer.
type ownerActor struct {
	d        *core
	key      hashing.Key
	info     *hashing.Info
	others   []hashing.Key
	pending  []pendingResolve
	querying bool
	// A new owner first asks the other members whether they already have
	// the entry (this owner's member may have joined after it was
	// broadcast, or the previous owner died): probeWait holds the members
	// yet to answer.
	probed     bool
	probing    bool
	probeWait  map[string]struct{}
	probeStart time.Time
	seq        uint64
	queryStart time.Time
	timer      *time.Timer
	idle       idleTimer
}

func (o *ownerActor) Receive(ctx actor.Context) {
	defer func() {
		if p := recover(); supervise.Recovered(o.d.cfg.Logger, &o.d.counters.Panics, "owner actor", p, "key", o.key.String()) {
			o.failAll(ctx, fmt.Errorf("actors: internal error: %v", p))
		}
	}()
	if _, tick := ctx.Message().(*idleTick); !tick {
		o.idle.touch()
	}
	switch msg := ctx.Message().(type) {
	case *probeTimeout:
		if !o.probing {
			return
		}
		// A slow answer is not a missing one: querying now could ask for
		// an entry a loaded member holds. Wait on while a member yet to
		// answer is still in the cluster, up to RequestTimeout.
		if o.waitingOnLive() && time.Since(o.probeStart) < o.d.cluster.RequestTimeout() {
			o.arm(ctx, o.d.cluster.ProbeTimeout(), &probeTimeout{})
			return
		}
		o.d.counters.ClusterProbeTimeouts.Add(1)
		o.endProbe(ctx)
		return
	case *ownerTimeout:
		if msg.seq != o.seq || !o.querying {
			return
		}
		// Likewise, the member running the query answers even when its
		// query failed (its wait for a slot and its query are bounded):
		// while it is in the cluster, asking another announcer could
		// only cost a second query. Once it has left, the next announcer
		// is asked at once.
		if o.d.isMember(o.pending[0].m.Origin) && time.Since(o.queryStart) < o.d.cfg.LookupTimeout {
			o.arm(ctx, ownerPoll, msg)
			return
		}
		o.d.counters.ClusterOwnerTimeouts.Add(1)
		o.onAnswer(ctx, &wireMsg{Seq: msg.seq, Code: codeTimeout, Err: "query to announcer's member timed out"})
		return
	case *idleTick:
		if o.idle.expired(msg) && len(o.pending) == 0 && !o.querying {
			ctx.Poison(ctx.Self())
		}
		return
	case *actor.Stopping:
		o.stopTimer()
		o.idle.stop()
		o.failAll(ctx, ErrClosed)
		return
	}
	tag, m, ok := o.d.decode(ctx.Message())
	if !ok {
		return
	}
	switch tag {
	case tagResolve:
		k, err := m.Key.key()
		if err != nil {
			return
		}
		if m.Origin != o.d.system.Address() {
			o.d.counters.ClusterRemoteResolves.Add(1)
		}
		if o.key.IsZero() {
			o.key = k
			if info, ok := o.d.entry(k); ok {
				o.info = info
			}
		}
		if o.info != nil {
			ctx.Respond(encode(tagResult, &wireMsg{Key: m.Key, Info: o.info}))
			return
		}
		for _, x := range othersFromWire(m.Others) {
			if len(o.others) < maxKeys-1 && !slices.Contains(o.others, x) && x != o.key {
				o.others = append(o.others, x)
			}
		}
		if len(o.pending) >= o.d.cfg.MaxAnnouncersPerKey*4 {
			ctx.Respond(encode(tagResult, &wireMsg{Key: m.Key, Err: ErrOverloaded.Error(), Code: codeOverloaded}))
			return
		}
		if i := o.pendingFrom(m); i >= 0 {
			// The member's earlier request timed out and it asks again:
			// answer the new one, keep the place.
			o.pending[i].reply = ctx.Sender()
			return
		}
		o.pending = append(o.pending, pendingResolve{reply: ctx.Sender(), m: m})
		switch {
		case !o.probed && !o.probing:
			o.probe(ctx)
		case o.probed && !o.querying:
			o.queryNext(ctx)
		}
	case tagEntry: // a probe found it
		if !o.probing || m.Info == nil {
			return
		}
		if _, err := hashing.Verify(o.key, m.Info, o.d.cfg.Verify); err != nil {
			o.probeMiss(ctx, m.Origin)
			return
		}
		o.probing, o.probed = false, true
		o.resolve(ctx, m.Info, false)
	case tagResult: // a probe did not
		if o.probing {
			o.probeMiss(ctx, m.Origin)
		}
	case tagAnswer:
		switch {
		case m.Seq == o.seq && o.querying:
			o.onAnswer(ctx, m)
		case m.Info != nil && o.info == nil:
			// An answer after its timeout still resolves the key when it
			// verifies.
			if _, err := hashing.Verify(o.key, m.Info, o.d.cfg.Verify); err == nil {
				o.resolve(ctx, m.Info, true)
			}
		}
	}
}

func (o *ownerActor) probe(ctx actor.Context) {
	self := o.d.system.Address()
	msg := encode(tagProbe, &wireMsg{Key: toWire(o.key)})
	o.probeWait = make(map[string]struct{})
	for _, addr := range o.d.memberAddrs() {
		// A member that asks has looked in its store already.
		if addr == self || o.pendingFromMember(addr) {
			continue
		}
		ctx.Request(actor.NewPID(addr, probeName), msg)
		o.probeWait[addr] = struct{}{}
	}
	if len(o.probeWait) == 0 {
		o.probed = true
		o.queryNext(ctx)
		return
	}
	o.probing = true
	o.probeStart = time.Now()
	o.arm(ctx, o.d.cluster.ProbeTimeout(), &probeTimeout{})
}

// probeMiss records member's "not here".
func (o *ownerActor) probeMiss(ctx actor.Context, member string) {
	delete(o.probeWait, member)
	if len(o.probeWait) == 0 {
		o.endProbe(ctx)
	}
}

// waitingOnLive reports whether a member yet to answer the probe is still
// in the cluster.
func (o *ownerActor) waitingOnLive() bool {
	for addr := range o.probeWait {
		if o.d.isMember(addr) {
			return true
		}
	}
	return false
}

// pendingFrom is the index of the request for the same announcer from the
// same member as m, or -1.
func (o *ownerActor) pendingFrom(m *wireMsg) int {
	for i := range o.pending {
		if p := o.pending[i].m; p.JID == m.JID && p.Origin == m.Origin {
			return i
		}
	}
	return -1
}

// pendingFromMember reports whether a waiting request came from addr.
func (o *ownerActor) pendingFromMember(addr string) bool {
	for i := range o.pending {
		if o.pending[i].m.Origin == addr {
			return true
		}
	}
	return false
}

// arm (re)starts the owner's one timer: msg reaches it after d.
func (o *ownerActor) arm(ctx actor.Context, d time.Duration, msg any) {
	o.stopTimer()
	self, sys := ctx.Self(), o.d.system
	o.timer = time.AfterFunc(d, func() { sys.Root.Send(self, msg) })
}

// isMember reports whether addr is a member of the cluster now.
func (d *core) isMember(addr string) bool {
	return slices.Contains(d.memberAddrs(), addr)
}

func (o *ownerActor) endProbe(ctx actor.Context) {
	o.stopTimer()
	o.probing, o.probed = false, true
	if !o.querying {
		o.queryNext(ctx)
	}
}

// resolve answers every waiting request with info and, when the answer is
// new to the cluster, sends it to every member.
func (o *ownerActor) resolve(ctx actor.Context, info *hashing.Info, broadcast bool) {
	o.stopTimer()
	o.info = info
	res := encode(tagResult, &wireMsg{Key: toWire(o.key), Info: info})
	told := make(map[string]struct{}, len(o.pending))
	for _, p := range o.pending {
		ctx.Send(p.reply, res)
		told[p.m.Origin] = struct{}{}
	}
	o.pending, o.querying = nil, false
	if broadcast {
		o.broadcast(ctx, told)
	}
	o.idle.arm(o.d.system, ctx.Self(), o.d.ownerIdle())
}

func (o *ownerActor) queryNext(ctx actor.Context) {
	if len(o.pending) == 0 {
		o.querying = false
		o.idle.arm(o.d.system, ctx.Self(), o.d.ownerIdle())
		return
	}
	o.idle.stop()
	head := o.pending[0].m
	o.querying = true
	o.seq++
	q := &wireMsg{Key: toWire(o.key), Others: othersToWire(o.others), JID: head.JID, Node: head.Node, Seq: o.seq}
	if head.Origin != o.d.system.Address() {
		o.d.counters.ClusterRemoteQueries.Add(1)
	}
	ctx.Request(actor.NewPID(head.Origin, querierName), encode(tagQuery, q))
	o.queryStart = time.Now()
	o.arm(ctx, ownerPoll, &ownerTimeout{seq: o.seq})
}

func (o *ownerActor) onAnswer(ctx actor.Context, m *wireMsg) {
	o.stopTimer()
	if m.Info != nil {
		if _, err := hashing.Verify(o.key, m.Info, o.d.cfg.Verify); err == nil {
			o.resolve(ctx, m.Info, true)
			return
		}
		m = &wireMsg{Err: "answer did not verify at the owner", Code: codeMismatch}
	}
	head := o.pending[0]
	o.pending = o.pending[1:]
	ctx.Send(head.reply, encode(tagResult, &wireMsg{Key: toWire(o.key), Err: m.Err, Code: m.Code}))
	o.queryNext(ctx)
}

// broadcast sends the verified entry to the cache actor of every member
// but those told already: a member whose request the owner answered
// stores the answer itself.
func (o *ownerActor) broadcast(ctx actor.Context, told map[string]struct{}) {
	msg := encode(tagEntry, &wireMsg{Key: toWire(o.key), Others: othersToWire(o.others), Info: o.info})
	for _, addr := range o.d.memberAddrs() {
		if _, ok := told[addr]; !ok {
			ctx.Send(actor.NewPID(addr, cacheName), msg)
		}
	}
}

func (o *ownerActor) failAll(ctx actor.Context, err error) {
	res := encode(tagResult, &wireMsg{Key: toWire(o.key), Err: err.Error(), Code: errCode(err)})
	for _, p := range o.pending {
		ctx.Send(p.reply, res)
	}
	o.pending, o.querying = nil, false
}

func (o *ownerActor) stopTimer() {
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
}
