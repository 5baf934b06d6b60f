package actors

import (
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/supervise"
)

// owner is the cluster-wide owner of one key: its decisions, kept apart
// from its actor (ownerActor, below) and scripted without one in
// testdata/owner. One query at a time: it grants the first waiting
// request's member the query of the announcer that request brought (the
// grant is that request's answer), and every other request waits for the
// granted member's answer. A failed announcer fails only the granted
// request (its member goes on with its next announcer); the owner then
// grants the next waiting request.
//
// The granted member queries as a single process does and keeps the
// answer: asking that member to query for the owner, as the owner once
// did, cost two messages more per key (the query and its answer, besides
// the request and its result) and the answer's trip back.
//
// A new owner first asks the key's past owners whether they already have
// the entry (this owner's member may have joined after it was broadcast)
// before it queries anyone.
type owner struct {
	d        *core
	io       ownerIO
	key      hashing.Key
	info     *hashing.Info
	others   []hashing.Key
	pending  []pendingResolve
	querying bool
	// probeWait holds the members yet to answer the probe.
	probed     bool
	probing    bool
	probeWait  map[string]struct{}
	probeStart time.Time
	seq        uint64
	queryStart time.Time
	// straggler is the query still out when an earlier one's late answer
	// resolved the key (0: none): its answer is waited for, until
	// stragglerUntil, to be counted if true — it would otherwise reach an
	// owner already passivated.
	straggler      uint64
	stragglerUntil time.Time
}

// ownerIO is what the owner asks its runner to do; the actor sends the
// messages and runs the timer.
type ownerIO interface {
	// send delivers a message to to; request does too, with the owner as
	// the sender to answer. selfID is the owner's PID id on its member.
	send(to *actor.PID, tag byte, m *wireMsg)
	request(to *actor.PID, tag byte, m *wireMsg)
	// arm (re)starts the owner's one timer, which delivers ev after d;
	// stop cancels it.
	arm(d time.Duration, ev any)
	stop()
	// idle says whether the owner has nothing to do (it may passivate).
	idle(bool)
	// self is this member's address; members, every member's now;
	// pastOwners, the members that owned the key before (see
	// Cluster.PastOwners).
	self() string
	selfID() string
	members() []string
	pastOwners() []string
}

// pendingResolve is one member's request waiting at the owner.
type pendingResolve struct {
	reply *actor.PID // where the requester waits for its answer
	m     *wireMsg
	// granted: the request was answered with the grant of its query; its
	// member answers the owner, and is told nothing more.
	granted bool
	at      time.Time // when it came
}

// Timer events.
type ownerTimeout struct{ seq uint64 }

// probeTimeout ends a probe that some member did not answer.
type probeTimeout struct{}

func (o *owner) isMember(addr string) bool { return slices.Contains(o.io.members(), addr) }

// onProbeTimeout: the probe's timer fired.
func (o *owner) onProbeTimeout() {
	if !o.probing {
		return
	}
	// A slow answer is not a missing one: querying now could ask for an
	// entry a loaded member holds. Wait on while a member yet to answer
	// is still in the cluster, up to RequestTimeout.
	if o.waitingOnLive() && o.d.now().Sub(o.probeStart) < o.d.cluster.RequestTimeout() {
		o.io.arm(o.d.cluster.ProbeTimeout(), &probeTimeout{})
		return
	}
	o.d.counters.ClusterProbeTimeouts.Add(1)
	o.endProbe()
}

// onOwnerTimeout: the query's poll timer fired.
func (o *owner) onOwnerTimeout(seq uint64) {
	if seq != o.seq || !o.querying {
		return
	}
	// Likewise, the member running the query answers even when its query
	// failed (its wait for a slot and its query are bounded): while it is
	// in the cluster, asking another announcer could only cost a second
	// query. Once it has left, the next announcer is asked at once.
	if o.isMember(o.pending[0].m.Origin) && o.d.now().Sub(o.queryStart) < o.d.cfg.LookupTimeout {
		o.io.arm(ownerPoll, &ownerTimeout{seq: seq})
		return
	}
	o.d.counters.ClusterOwnerTimeouts.Add(1)
	o.onAnswer(&wireMsg{Seq: seq, Code: codeTimeout, Err: "query to announcer's member timed out"})
}

// onResolve: a member asks for the key, from.
func (o *owner) onResolve(from *actor.PID, m *wireMsg) {
	k, err := m.Key.key()
	if err != nil {
		return
	}
	if m.Origin != o.io.self() {
		o.d.counters.ClusterRemoteResolves.Add(1)
	}
	if o.key.IsZero() {
		o.key = k
		if info, ok := o.d.entry(k); ok {
			o.info = info
		}
	}
	if o.info != nil {
		o.io.send(from, tagResult, &wireMsg{Key: m.Key, Info: o.info})
		return
	}
	for _, x := range othersFromWire(m.Others) {
		if len(o.others) < maxKeys-1 && !slices.Contains(o.others, x) && x != o.key {
			o.others = append(o.others, x)
		}
	}
	if len(o.pending) >= o.d.cfg.MaxAnnouncersPerKey*4 {
		o.io.send(from, tagResult, &wireMsg{Key: m.Key, Err: ErrOverloaded.Error(), Code: codeOverloaded})
		return
	}
	if i := o.pendingFrom(m); i >= 0 {
		// The member's earlier request timed out and it asks again:
		// answer the new one, keep the place.
		o.pending[i].reply, o.pending[i].at = from, o.d.now()
		if o.pending[i].granted {
			// The grant was lost on the way, or came too late.
			o.io.send(from, tagGrant, o.grant())
		}
		return
	}
	o.pending = append(o.pending, pendingResolve{reply: from, m: m, at: o.d.now()})
	switch {
	case !o.probed && !o.probing:
		o.probe()
	case o.probed && !o.querying:
		o.queryNext()
	case o.probing:
		if _, probed := o.probeWait[m.Origin]; probed {
			// A member that asks has looked in its store: its probe's
			// answer can only be "not here", and need not be waited for.
			o.probeMiss(m.Origin)
		}
	}
}

// onProbeEntry: a probed member has the entry.
func (o *owner) onProbeEntry(m *wireMsg) {
	if !o.probing || m.Info == nil {
		return
	}
	if _, err := hashing.Verify(o.key, m.Info, o.d.cfg.Verify); err != nil {
		o.probeMiss(m.Origin)
		return
	}
	o.probing, o.probed = false, true
	o.resolve(m.Info, false)
}

// onProbeResult: a probed member has not.
func (o *owner) onProbeResult(m *wireMsg) {
	if o.probing {
		o.probeMiss(m.Origin)
	}
}

// onQueryAnswer: the member that ran a query answers.
func (o *owner) onQueryAnswer(m *wireMsg) {
	switch {
	case m.Seq == o.seq && o.querying:
		o.onAnswer(m)
	case m.Info != nil && o.info == nil:
		// An answer after its timeout still resolves the key when it
		// verifies.
		if _, err := hashing.Verify(o.key, m.Info, o.d.cfg.Verify); err == nil {
			if o.querying {
				// The query asked after it is still out. The member
				// running it answers within its bounded wait and query.
				o.straggler = o.seq
				o.stragglerUntil = o.d.now().Add(2 * o.d.cfg.QueryTimeout)
			}
			o.resolve(m.Info, true)
		}
	case o.straggler != 0 && m.Seq == o.straggler:
		// It answered too: a true answer beyond the first is counted, as
		// a single process counts a hedge's.
		o.straggler = 0
		if m.Info == nil {
			return
		}
		if _, err := hashing.Verify(o.key, m.Info, o.d.cfg.Verify); err == nil {
			o.d.counters.DuplicateAnswers.Add(1)
		}
	}
}

// onIdle: the owner had no message for its idle period. It reports
// whether it may passivate: nothing waits on it, no query of its is out,
// and no straggler is still due (then the period starts again).
func (o *owner) onIdle() (passivate bool) {
	switch {
	case len(o.pending) > 0 || o.querying:
		return false // idle(true) comes once they are done
	case o.straggler != 0 && o.d.now().Before(o.stragglerUntil):
		o.io.idle(true)
		return false
	}
	return true
}

// maxProbes bounds the past owners a new owner asks: under rendezvous
// placement a key changes owner only when a member that outranks the
// owner joins or the owner leaves, so the member that held it when it
// was resolved is among the last few owners.
const maxProbes = 3

// probe asks the key's past owners that are still members whether they
// hold the entry — not every member: the cost of a key new to the
// cluster stays one round trip to at most maxProbes members whatever
// the cluster's size, and none in a cluster whose membership has not
// changed since this member joined.
func (o *owner) probe() {
	self := o.io.self()
	o.probeWait = make(map[string]struct{})
	for _, addr := range o.io.pastOwners() {
		// A member that asks has looked in its store already.
		if addr == self || !o.isMember(addr) || o.pendingFromMember(addr) {
			continue
		}
		o.io.request(actor.NewPID(addr, probeName), tagProbe, &wireMsg{Key: toWire(o.key)})
		o.probeWait[addr] = struct{}{}
		if len(o.probeWait) == maxProbes {
			break
		}
	}
	o.d.counters.ClusterProbes.Add(uint64(len(o.probeWait)))
	if len(o.probeWait) == 0 {
		o.probed = true
		o.queryNext()
		return
	}
	o.probing = true
	o.probeStart = o.d.now()
	o.io.arm(o.d.cluster.ProbeTimeout(), &probeTimeout{})
}

// probeMiss records member's "not here".
func (o *owner) probeMiss(member string) {
	delete(o.probeWait, member)
	if len(o.probeWait) == 0 {
		o.endProbe()
	}
}

// waitingOnLive reports whether a member yet to answer the probe is still
// in the cluster.
func (o *owner) waitingOnLive() bool {
	for addr := range o.probeWait {
		if o.isMember(addr) {
			return true
		}
	}
	return false
}

// pendingFrom is the index of the request for the same announcer from the
// same member as m, or -1.
func (o *owner) pendingFrom(m *wireMsg) int {
	for i := range o.pending {
		if p := o.pending[i].m; p.JID == m.JID && p.Origin == m.Origin {
			return i
		}
	}
	return -1
}

// pendingFromMember reports whether a waiting request came from addr.
func (o *owner) pendingFromMember(addr string) bool {
	for i := range o.pending {
		if o.pending[i].m.Origin == addr {
			return true
		}
	}
	return false
}

func (o *owner) endProbe() {
	o.io.stop()
	o.probing, o.probed = false, true
	if !o.querying {
		o.queryNext()
	}
}

// resolve answers every waiting request with info and, when the answer is
// new to the cluster, sends it to every member.
func (o *owner) resolve(info *hashing.Info, broadcast bool) {
	o.io.stop()
	o.info = info
	told := make(map[string]struct{}, len(o.pending))
	for _, p := range o.pending {
		if !p.granted {
			o.io.send(p.reply, tagResult, &wireMsg{Key: toWire(o.key), Info: info})
		}
		told[p.m.Origin] = struct{}{}
	}
	o.pending, o.querying = nil, false
	if broadcast {
		o.broadcast(told)
	}
	o.io.idle(true)
}

func (o *owner) queryNext() {
	for len(o.pending) > 0 && o.d.now().Sub(o.pending[0].at) >= o.d.cluster.RequestTimeout() {
		// Its member stopped waiting for the answer (a request ends
		// with RequestTimeout): the grant would reach nobody, and the
		// key's other requests would wait on a query nobody runs. The
		// member asks again if its lookup goes on.
		o.pending = o.pending[1:]
		o.d.counters.ClusterStaleRequests.Add(1)
	}
	if len(o.pending) == 0 {
		o.querying = false
		o.io.idle(true)
		return
	}
	o.io.idle(false)
	head := &o.pending[0]
	o.querying = true
	o.seq++
	if head.m.Origin != o.io.self() {
		o.d.counters.ClusterRemoteQueries.Add(1)
	}
	head.granted = true
	o.io.send(head.reply, tagGrant, o.grant())
	o.queryStart = o.d.now()
	o.io.arm(ownerPoll, &ownerTimeout{seq: o.seq})
}

func (o *owner) onAnswer(m *wireMsg) {
	o.io.stop()
	if m.Info != nil {
		if _, err := hashing.Verify(o.key, m.Info, o.d.cfg.Verify); err == nil {
			o.resolve(m.Info, true)
			return
		}
		m = &wireMsg{Err: "answer did not verify at the owner", Code: codeMismatch}
	}
	// The granted member knows how its query went, and goes on with its
	// next announcer.
	o.pending = o.pending[1:]
	o.queryNext()
}

// grant is the grant of query seq to the first waiting request.
func (o *owner) grant() *wireMsg {
	return &wireMsg{Key: toWire(o.key), Seq: o.seq, Origin: o.io.self(), Owner: o.io.selfID()}
}

// broadcast sends the verified entry to the cache actor of every member
// but those told already: a member whose request the owner answered
// stores the answer itself.
func (o *owner) broadcast(told map[string]struct{}) {
	for _, addr := range o.io.members() {
		if _, ok := told[addr]; !ok {
			o.io.send(actor.NewPID(addr, cacheName), tagEntry, &wireMsg{Key: toWire(o.key), Others: othersToWire(o.others), Info: o.info})
		}
	}
}

// failAll answers every waiting request with err.
func (o *owner) failAll(err error) {
	for _, p := range o.pending {
		if !p.granted {
			o.io.send(p.reply, tagResult, &wireMsg{Key: toWire(o.key), Err: err.Error(), Code: errCode(err)})
		}
	}
	o.pending, o.querying = nil, false
}

// ownerActor runs an owner: it decodes messages into the owner's events,
// and sends, requests and runs the timers the owner asks for.
type ownerActor struct {
	d     *core
	o     *owner
	ctx   actor.Context // the message being handled's
	timer *time.Timer
	idleT idleTimer
	// resolves counts the requests received, for OwnerIdle.
	resolves uint64
}

// OwnerIdle is what an idle owner sends its parent, the placement actor
// that activated it and hands it its requests (package cluster), instead
// of ending itself (as a request: the parent knows it by its sender):
// Received is how many requests it has had. The parent
// ends it only if it handed it no more than that, so that no request is
// left in the mailbox of an owner that ends (protoactor drops a stopped
// actor's messages unanswered). An owner without a parent (spawned at the
// root) ends itself.
type OwnerIdle struct{ Received uint64 }

func newOwnerActor(d *core) *ownerActor {
	a := &ownerActor{d: d}
	a.o = &owner{d: d, io: a}
	return a
}

func (a *ownerActor) Receive(ctx actor.Context) {
	a.ctx = ctx
	o := a.o
	defer func() {
		// The key is formatted only for a panic: every message runs this.
		if p := recover(); p != nil && supervise.Recovered(a.d.log, &a.d.counters.Panics, "owner actor", p, "key", o.key.String()) {
			o.failAll(fmt.Errorf("actors: internal error: %v", p))
		}
	}()
	if _, tick := ctx.Message().(*idleTick); !tick {
		a.idleT.touch()
	}
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.d.owners.Add(1)
		return
	case *actor.Stopped:
		a.d.owners.Add(-1)
		return
	case *probeTimeout:
		o.onProbeTimeout()
		return
	case *ownerTimeout:
		o.onOwnerTimeout(msg.seq)
		return
	case *idleTick:
		if a.idleT.expired(msg) && o.onIdle() {
			a.passivate(ctx)
		}
		return
	case *actor.Stopping:
		a.stop()
		a.idleT.stop()
		o.failAll(ErrClosed)
		return
	}
	tag, m, ok := a.d.decode(ctx.Message())
	if !ok {
		return
	}
	switch tag {
	case tagResolve:
		a.resolves++
		o.onResolve(ctx.Sender(), m)
	case tagEntry: // a probe found it
		o.onProbeEntry(m)
	case tagResult: // a probe did not
		o.onProbeResult(m)
	case tagAnswer:
		o.onQueryAnswer(m)
	}
}

// passivate asks the parent to end this idle owner, and counts one more
// idle period: should the parent have handed it a request meanwhile, the
// owner asks again once that is done and it has been idle again.
func (a *ownerActor) passivate(ctx actor.Context) {
	if ctx.Parent() == nil {
		ctx.Poison(ctx.Self())
		return
	}
	ctx.Request(ctx.Parent(), &OwnerIdle{Received: a.resolves}) // the parent knows it by its sender
	a.idle(true)
}

func (a *ownerActor) send(to *actor.PID, tag byte, m *wireMsg) { a.ctx.Send(to, encode(tag, m)) }

func (a *ownerActor) request(to *actor.PID, tag byte, m *wireMsg) {
	a.ctx.Request(to, encode(tag, m))
}

func (a *ownerActor) arm(d time.Duration, ev any) {
	a.stop()
	self, sys := a.ctx.Self(), a.d.system
	a.timer = time.AfterFunc(d, func() { sys.Root.Send(self, ev) })
}

func (a *ownerActor) stop() {
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
}

func (a *ownerActor) idle(on bool) {
	if on {
		a.idleT.arm(a.d.system, a.ctx.Self(), a.d.ownerIdle())
	} else {
		a.idleT.stop()
	}
}

func (a *ownerActor) self() string      { return a.d.system.Address() }
func (a *ownerActor) selfID() string    { return a.ctx.Self().Id }
func (a *ownerActor) members() []string { return a.d.memberAddrs() }

func (a *ownerActor) pastOwners() []string {
	return a.d.cluster.PastOwners(a.o.key.String(), OwnerKind)
}
