package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/capsengine/capsengine/transport"
)

// errUnprivileged: the server did not grant the presence permission that
// --privileged is for.
var errUnprivileged = errors.New("no XEP-0356 presence permission")

// watchPrivileges checks, after every connect, that the server said within
// --privilege-wait what it grants, and that it grants presences. Without
// them observe would run blind and look healthy: it stops with
// errUnprivileged instead, unless --allow-unprivileged.
func watchPrivileges(ctx context.Context, conn *transport.Conn, o observeOptions, log *slog.Logger, stop func(error)) {
	seen := uint64(0)
	for {
		// Wait for the next session.
		for conn.Stats().Connects == seen || !conn.Connected() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		seen = conn.Stats().Connects
		deadline := time.Now().Add(o.privilegeWait)
		p, ok := conn.Privileges()
		for !ok && time.Now().Before(deadline) && conn.Stats().Connects == seen {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			p, ok = conn.Privileges()
		}
		if conn.Stats().Connects != seen {
			continue // reconnected meanwhile: judge the new session
		}
		for _, w := range privilegeWarnings(p, ok) {
			log.Warn(w)
		}
		if !ok || !p.SeesPresences() {
			err := fmt.Errorf("%w: the server granted %s", errUnprivileged, grantedText(p, ok))
			if !o.allowUnprivileged {
				stop(fmt.Errorf("%w (see docs/server.md; --allow-unprivileged goes on anyway)", err))
				return
			}
			log.Error(err.Error() + "; going on (--allow-unprivileged): only the component's own contacts are seen")
		}
	}
}

func grantedText(p transport.Privileges, ok bool) string {
	if !ok {
		return "nothing: no privilege advertisement arrived (is mod_privilege enabled, and this component listed as a privileged entity?)"
	}
	return p.String()
}

// privilegeWarnings are what a privileged component cannot see, for logs
// and /healthz.
func privilegeWarnings(p transport.Privileges, ok bool) []string {
	switch {
	case !ok:
		return []string{"no XEP-0356 privilege advertisement from the server in this session: presences are not forwarded"}
	case !p.SeesPresences():
		return []string{"the server granted no presence permission (XEP-0356): only the component's own contacts are seen"}
	case !p.SendsOnlineUsers():
		return []string{"the server speaks " + p.Namespace + " and does not send the presence of users already online when the component connects (ejabberd 23.01): they are seen at their next presence"}
	}
	return nil
}
