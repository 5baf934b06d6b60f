// Package interop holds the end-to-end tests of capsengine against real
// XMPP software: a Prosody server (from Debian) run as a child process on
// 127.0.0.1 — and, for the privileged component, an ejabberd too — and
// peers written with slixmpp and aioxmpp (Debian's
// python3-slixmpp and python3-aioxmpp), whose caps ver is computed by their
// own library. It has no API; see interop_test.go.
//
// # Setup
//
// The engine logs in as the client observer@localhost over STARTTLS (a
// self-signed certificate the test trusts) with SCRAM, through
// transport.Conn, with AcceptSubscriptions. Every peer, on login,
// pre-approves the observer's subscription (RFC 6121 §3.4) and asks for one;
// the observer approves and asks back, so Prosody delivers the peer's
// presence to it. A peer is "ready" when its roster shows subscription
// "both"; it announces (sends presence with caps) only when told, so the
// test controls who is seen first. A component scenario uses
// caps.localhost with the same dance, then a fresh engine that only
// probes.
//
// # Peer scripts
//
// interop/peers/slix_peers.py and aio_peers.py each run many peers of one
// library in one process (one interpreter start per library instead of one
// per peer). The spec file (first argument) lists the server address, the
// JID to subscribe to and the peers: account, identities, features, XEP-0128
// forms, behavior (honest, silent, error, liar) and an answer delay. They
// print JSON lines: online, ready, announced (with the ver, the XEP-0390
// hashes and the disco#info exactly as the library serves it), query (every
// disco#info request received, with its sender: the tests count them),
// flooded, joined, error. They read commands as JSON lines: announce
// (again: the presence is sent again), unavailable, flood (n presences
// with random vers), join (a MUC room), quit. internal/xmpptest drives
// both and the servers.
//
// # What the tests prove
//
//   - 12 slixmpp and 12 aioxmpp peers with realistic feature sets (forms,
//     identity names in several languages and scripts) are resolved and
//     verified, each with exactly their features, identities and forms, and
//     each asked exactly once; aioxmpp's XEP-0390 hashes verify too.
//   - A peer whose disco#info does not match its ver is rejected.
//   - A silent and an erroring first announcer of a ver: the engine asks the
//     honest one next and the verified answer applies to every JID that
//     announced the ver; a liar sharing an honest ver likewise. The silent
//     one costs a hedge (the honest one is asked past the hedge delay, the
//     silent query is cancelled), not a query timeout.
//   - The fault scenario of issue 11 (faults_test.go): six vers, each
//     announced first by silent, erroring or lying peers (eleven of them,
//     up to three per ver) and a second later by honest ones. Every JID,
//     the misbehaving ones included, ends resolved with the honest info:
//     its last CapsResolved/CapsFailed event is CapsResolved, Caps agrees,
//     and so does the --dump of a real "capsengine observe" (built by the
//     test, logged in to the observer's account with a resource of its
//     own). Each ver resolves within 2 s of the honest announcer's
//     presence with the default hedging and an 8 s query timeout, in the
//     engine and in the dump's resolve_ms.
//   - Several peers announcing one ver cause exactly one disco#info.
//   - MUC occupants are resolved through the room; SkipMUC drops them.
//   - A flood of 300 presences with random vers from one peer is rate
//     limited (at most the burst plus 1/s queries) and counted.
//   - Prosody killed and restarted with queries in flight: the engine
//     reconnects, finishes every lookup and keeps its cache.
//   - As a component, the engine resolves its contacts, and a fresh engine
//     sees already-online contacts through presence probes alone.
//   - As a XEP-0356 privileged component (privileged_test.go), on Prosody
//     0.12 with prosody-modules' mod_privilege and on ejabberd 23.01 with
//     its own: 50 slixmpp and 50 aioxmpp users who subscribed to nothing,
//     half online before the component connects, are each resolved and
//     verified within 5 s of their presence, with one query per distinct
//     ver; liars are rejected, users going offline give EntityGone, and
//     "capsengine observe --privileged" killed with SIGKILL and restarted
//     resolves everyone online from its store without a query. ejabberd
//     sends no presence of the users already online to a component that
//     connects (XEP-0356 says it must): there they announce once more,
//     and /healthz must carry the warning that says so (and Prosody's
//     none). A server granting no presence permission makes observe exit
//     1 with a clear error, on both.
//
// A server missing: its tests skip, unless CI is set, where they fail.
package interop
