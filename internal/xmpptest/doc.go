// Package xmpptest runs real XMPP software for tests: a Prosody or an
// ejabberd server (Server, from StartProsody or StartEjabberd) as a child
// process with its own configuration, data, log and pid files on
// 127.0.0.1 and free ports, and peers written with slixmpp and aioxmpp
// (the Python scripts in interop/peers), driven over JSON lines.
//
// Tests call Require (Prosody) or RequireEjabberd first — the Start
// functions do too: they skip the test when the server is not installed,
// except under CI (CI set), where a missing server fails it. scripts/test
// installs both servers and the Python libraries from Debian.
//
// ejabberd's ejabberdctl runs only as root or as the ejabberd user; run
// as root, the tests run it as the ejabberd user, with a node name, a
// cookie and an Erlang distribution port of its own for each server.
//
// # Example
//
//	srv := xmpptest.StartProsody(t, xmpptest.Options{TLS: true})
//	srv.Register(t, map[string]string{"observer": "pw", "s1": "s1-pw"})
//	peers := xmpptest.StartPeers(t, xmpptest.Slixmpp, srv, "observer@localhost", specs)
//	peers.WaitAll(ctx, "ready", []string{"s1"})
//	peers.Command(map[string]any{"cmd": "announce", "peer": "s1"})
//	ev := peers.Wait(ctx, "announced", func(e xmpptest.Event) bool { return e.Ev == "announced" })
package xmpptest
