package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// idleTimer tells an actor that nothing has reached it for a while. It
// stands in for protoactor's SetReceiveTimeout, whose timer goroutine
// writes the actor context's fields while the actor runs (a data race
// that -race reports under load).
//
// The timer is not restarted on every message, which would cost a timer
// reset per message: a message only marks the actor busy, and a tick
// that finds it busy starts one more period. An actor is thus told it is
// idle after one to two periods of silence.
type idleTimer struct {
	t      *time.Timer
	gen    uint64 // bumped by stop (and so by arm): ticks of earlier armings are stale
	busy   bool
	on     bool
	d      time.Duration
	system *actor.ActorSystem
	self   *actor.PID
}

// idleTick is what the timer sends its actor.
type idleTick struct{ gen uint64 }

// arm starts (or restarts) the period: after d of silence, self gets an
// idleTick.
func (t *idleTimer) arm(system *actor.ActorSystem, self *actor.PID, d time.Duration) {
	t.stop()
	t.on, t.busy, t.d, t.system, t.self = true, false, d, system, self
	t.start()
}

func (t *idleTimer) start() {
	m, system, self := &idleTick{gen: t.gen}, t.system, t.self
	t.t = time.AfterFunc(t.d, func() { system.Root.Send(self, m) })
}

// touch records that a message arrived.
func (t *idleTimer) touch() { t.busy = true }

// stop disarms the timer; a tick already sent is stale.
func (t *idleTimer) stop() {
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
	t.on = false
	t.gen++
}

// expired reports whether tick ends a silent period. A stale tick is
// ignored; a tick after a busy period starts another.
func (t *idleTimer) expired(tick *idleTick) bool {
	if !t.on || tick.gen != t.gen {
		return false
	}
	if t.busy {
		t.busy = false
		t.start()
		return false
	}
	t.on, t.t = false, nil
	return true
}
