package actors

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// TestIdleTimer drives the timer through an actor: silence ends in one
// tick that expires; a busy period is extended; stop makes ticks stale.
func TestIdleTimer(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	idled := make(chan time.Time, 4)
	type touchMsg struct{}
	type armMsg struct{}
	type stopMsg struct{}
	var it idleTimer
	pid := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *armMsg:
			it.arm(sys, ctx.Self(), 50*time.Millisecond)
		case *touchMsg:
			it.touch()
		case *stopMsg:
			it.stop()
		case *idleTick:
			if it.expired(m) {
				idled <- time.Now()
			}
		}
	}))

	start := time.Now()
	sys.Root.Send(pid, &armMsg{})
	select {
	case at := <-idled:
		if at.Sub(start) < 50*time.Millisecond {
			t.Fatalf("idle after %v, before its period", at.Sub(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a silent actor was never told it is idle")
	}

	// Kept busy for four periods: not idle meanwhile.
	start = time.Now()
	sys.Root.Send(pid, &armMsg{})
	for time.Since(start) < 200*time.Millisecond {
		sys.Root.Send(pid, &touchMsg{})
		select {
		case <-idled:
			t.Fatalf("told idle after %v while busy", time.Since(start))
		case <-time.After(10 * time.Millisecond):
		}
	}
	select {
	case <-idled:
	case <-time.After(5 * time.Second):
		t.Fatal("never idle once the messages stopped")
	}

	// Stopped: its tick is stale.
	sys.Root.Send(pid, &armMsg{})
	sys.Root.Send(pid, &stopMsg{})
	select {
	case <-idled:
		t.Fatal("a stopped timer told its actor it is idle")
	case <-time.After(200 * time.Millisecond):
	}
}
