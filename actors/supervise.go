package actors

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// supervisor restarts a failed actor and logs why. protoactor's default
// stops an actor silently after 10 restarts in 10s, losing its mailbox;
// ours keeps restarting (the actors recover their own panics, so reaching
// this is a bug worth a loud log, not a silent stop).
func supervisor(log *slog.Logger) actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(1<<30, time.Second, func(reason any) actor.Directive {
		log.Error("actor failed; restarting", "reason", fmt.Sprint(reason))
		return actor.RestartDirective
	})
}
