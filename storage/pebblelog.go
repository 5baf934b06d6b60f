package storage

import (
	"context"
	"fmt"
	"log/slog"
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
