package storage

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// pebbleLogger routes pebble's log lines to slog: its chatty Infof at Debug,
// Errorf at Error. Fatalf logs and then panics with a *fatalError instead
// of pebble's os.Exit: the writer recovers it around its commits and fails
// the store; anywhere else the panic ends the process as pebble intended.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg, "fatal", true)
	f := &fatalError{msg: msg}
	for _, a := range args {
		if err, ok := a.(error); ok {
			f.errs = append(f.errs, err)
		}
	}
	panic(f)
}

// supervisor supervises the storage actors. protoactor's default strategy
// restarts a panicking actor without logging where it panicked and, after
// ten restarts in ten seconds, stops it silently. This one logs every
// panic with its stack (see rethrowWithStack) and then applies the same
// one-for-one restart policy.
type supervisor struct {
	log   *slog.Logger
	inner actor.SupervisorStrategy
}

func newSupervisor(log *slog.Logger) *supervisor {
	return &supervisor{
		log: log,
		inner: actor.NewOneForOneStrategy(10, 10*time.Second, func(any) actor.Directive {
			return actor.RestartDirective
		}),
	}
}

func (s *supervisor) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	rs *actor.RestartStatistics, reason, message any) {
	value, stack := reason, []byte(nil)
	if p, ok := reason.(*panicError); ok {
		value, stack = p.value, p.stack
	}
	s.log.Error("storage: actor panicked", "actor", child.String(), "panic", fmt.Sprint(value),
		"message", fmt.Sprintf("%T", message), "stack", string(stack))
	s.inner.HandleFailure(system, sup, child, rs, reason, message)
}

// rethrowWithStack, deferred first in an actor's Receive, re-panics with a
// *panicError holding the stack of the original panic, which is gone by
// the time protoactor's mailbox recovers it.
func rethrowWithStack() {
	if r := recover(); r != nil {
		if _, ok := r.(*panicError); ok {
			panic(r)
		}
		panic(&panicError{value: r, stack: debug.Stack()})
	}
}
