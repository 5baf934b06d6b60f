// Package transport connects a capsengine.Engine to a real XMPP server
// with mellium.im/xmpp: as a client (SASL SCRAM-SHA-256, SCRAM-SHA-1 or
// PLAIN after STARTTLS) or as a XEP-0114 external component.
//
//	conn, err := transport.New(transport.Config{JID: "crawler@example.org", Password: pw,
//		AcceptSubscriptions: true})
//	eng, err := capsengine.Open(ctx, capsengine.Config{DataDir: dir, Querier: conn})
//	eng.SetLocal(transport.LocalInfo("capsengine", false))
//	eng.FlushLocal(ctx)
//	err = conn.Run(ctx, eng) // until ctx is done; reconnects on its own
//
// A Conn is the engine's Querier: QueryInfo sends a disco#info IQ to
// node#ver of the announcer, bounded by the engine's deadline, and turns
// an IQ error into a *StanzaError. The answer is re-serialized from the
// session's tokens and decoded with messages.ParseDiscoInfo, so an
// identity's language is only its own xml:lang (Prosody stamps xml:lang on
// every stanza it routes; inheriting it would break real peers' hashes).
//
// While Run runs, every available and unavailable presence received goes
// to the engine; disco#info requests for our own caps nodes are answered
// from Engine.LocalInfo; our presence carries our caps (OutgoingPresence)
// and is sent again on every VerChanged, to the server (client), to every
// contact (component) and to every joined room.
//
// # Who is seen
//
// A client sees the presence of its roster contacts it is subscribed to;
// with AcceptSubscriptions it approves every subscription request and asks
// for one back, so any entity that subscribes to it is seen from then on
// (and again after every reconnect: the server probes our contacts when we
// send initial presence). A component has no roster on the server: it
// sends its presence and a probe to every contact on each connect
// (Config.Probe, plus contacts learned while running). Joined MUC rooms
// (Config.Rooms) show their occupants; the engine's Tuning.SkipMUC drops
// them when only direct contacts are wanted.
//
// # Reconnection
//
// When the session drops (server restart, network), Run reconnects with
// exponential backoff. The engine is left alone: its cache, JID table and
// lookups survive; a query in flight is sent again on the next session,
// once its target is available there, if its deadline allows. Only a
// refused login before any succeeded (ErrAuth) ends Run.
//
// # Deadlines
//
// Nothing waits on the server for good. Every read and write of a login
// has the Config.DialTimeout deadline (a server that accepts the
// connection and then says nothing fails the attempt with
// context.DeadlineExceeded, and Run tries again), and the end of Run's ctx
// closes the connection mid-login. Once the session is up, a write that
// takes longer than Config.WriteTimeout closes the connection, the
// keepalive ping finds a server that went quiet, and saying goodbye at the
// end of Run is cut off after three seconds.
//
// Without InsecureNoTLS a client requires STARTTLS: a server that does not
// offer it is refused (ErrNoStartTLS, with ErrAuth) before anything else
// is sent.
//
// # Limits
//
// Stanzas longer than Config.MaxStanzaBytes are dropped and counted; the
// engine applies its own limits, rate limits and MUC filter to what it is
// given. Stats reports the transport's counters.
package transport
