// Package supervise is how capsengine's actors live with their own bugs:
// one supervision strategy for every actor, and one way to log a panic an
// actor recovered itself.
//
// protoactor's default strategy restarts a panicking actor without
// logging where it panicked and, after ten restarts in ten seconds, stops
// it silently, losing its mailbox. A stopped ingest shard or store writer
// would leave the engine up but no longer resolving, which is worse than
// any panic: Strategy restarts however often, and logs each failure with
// the stack where it happened.
package supervise

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Strategy restarts a failed actor, one for one, every time, logging the
// panic and, when the actor deferred Rethrow, its stack. component names
// the package in the log ("storage", "actors").
//
// In protoactor a strategy is the parent's: actor.WithSupervisor sets how
// an actor supervises its children, and an actor spawned from the root
// context is supervised by its guardian, set with actor.WithGuardian.
// Props for a root actor need WithGuardian(Strategy(...)), or they get
// protoactor's default.
func Strategy(log *slog.Logger, component string) actor.SupervisorStrategy {
	return &strategy{log: log, msg: component + ": actor panicked; restarting",
		inner: actor.NewOneForOneStrategy(1<<30, time.Second, func(any) actor.Directive {
			return actor.RestartDirective
		})}
}

type strategy struct {
	log   *slog.Logger
	msg   string
	inner actor.SupervisorStrategy
}

func (s *strategy) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	rs *actor.RestartStatistics, reason, message any) {
	value, stack := reason, []byte(nil)
	if p, ok := reason.(*PanicError); ok {
		value, stack = p.Value, p.Stack
	}
	s.log.Error(s.msg, "actor", child.String(), "panic", fmt.Sprint(value),
		"message", fmt.Sprintf("%T", message), "stack", string(stack))
	s.inner.HandleFailure(system, sup, child, rs, reason, message)
}

// PanicError carries a panic out of an actor with the stack where it
// happened, which is gone by the time protoactor's mailbox recovers it.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// Rethrow, deferred first in an actor's Receive, re-panics with a
// *PanicError holding the stack of the original panic, for Strategy to
// log.
func Rethrow() {
	if r := recover(); r != nil {
		if _, ok := r.(*PanicError); ok {
			panic(r)
		}
		panic(&PanicError{Value: r, Stack: debug.Stack()})
	}
}

// Recovered logs p, a panic an actor recovered itself (it called
// recover() in its own deferred function: only there does recover work),
// counts it, and reports whether there was one. what names the actor;
// attrs add to the log record. Call it from the deferred function, so the
// stack logged is the panicking goroutine's.
func Recovered(log *slog.Logger, count *atomic.Uint64, what string, p any, attrs ...any) bool {
	if p == nil {
		return false
	}
	if count != nil {
		count.Add(1)
	}
	log.Error(what+" panicked", append(attrs, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))...)
	return true
}
