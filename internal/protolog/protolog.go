// Package protolog routes protoactor's logs into an engine logger: its
// routine errors and its lifecycle chatter at lower levels.
package protolog

import (
	"context"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

// routineLogs are protoactor ERROR records that are routine in a cluster:
// the automanaged provider logs one per unreachable seed on every refresh
// (every member while the others start, a dead member until it is
// removed from the seeds), and the remote logs each failed redial. They
// are logged at the level given here instead.
var routineLogs = map[string]slog.Level{
	"Bad connection to the node health status":            slog.LevelDebug,
	"Failure reaching nodes":                              slog.LevelWarn,
	"Automanaged server stopping..!":                      slog.LevelDebug,
	"EndpointWriter failed to connect":                    slog.LevelWarn,
	"EndpointWriter failed to create receive stream":      slog.LevelDebug,
	"EndpointWriter lost connection":                      slog.LevelDebug,
	"EndpointReader failed to send disconnection message": slog.LevelDebug,
}

// keptInfo are the protoactor INFO records that stay at INFO: membership
// changes, which an operator wants to see. protoactor's other INFO
// records (actor system, remote, gossip and partition lifecycle; dead
// letters while shutting down) are about thirty lines per start and stop
// that say nothing about the engine: they become DEBUG.
var keptInfo = map[string]bool{
	"member joined":           true,
	"Updated ClusterTopology": true,
}

// demoteHandler lowers the level of routineLogs, and of protoactor's INFO
// chatter, before the engine's handler sees them.
type demoteHandler struct{ h slog.Handler }

func (d demoteHandler) Enabled(ctx context.Context, l slog.Level) bool {
	// A demoted record is checked again in Handle.
	return d.h.Enabled(ctx, l)
}

func (d demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	if l, ok := routineLogs[r.Message]; ok && r.Level > l {
		r.Level = l
	}
	if r.Level == slog.LevelInfo && !keptInfo[r.Message] {
		r.Level = slog.LevelDebug
	}
	if !d.h.Enabled(ctx, r.Level) {
		return nil
	}
	return d.h.Handle(ctx, r)
}

func (d demoteHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return demoteHandler{d.h.WithAttrs(as)}
}
func (d demoteHandler) WithGroup(g string) slog.Handler { return demoteHandler{d.h.WithGroup(g)} }

// Logger is the logger to give protoactor's WithLoggerFactory: base, with
// lib=protoactor and protoactor's records demoted.
func Logger(base *slog.Logger) *slog.Logger {
	return slog.New(demoteHandler{base.Handler()}).With("lib", "protoactor")
}

// NewSystem is a protoactor actor system that logs to base through Logger:
// the one way capsengine makes one (the engine's, or a store's when it
// runs alone).
func NewSystem(base *slog.Logger) *actor.ActorSystem {
	log := Logger(base)
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
}
