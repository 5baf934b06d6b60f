// Package httpapi serves a capsengine.Engine over HTTP: what an entity can
// do, who can do something, a live event stream and Prometheus metrics.
//
//	srv := httpapi.New(eng, httpapi.Options{})
//	http.ListenAndServe("127.0.0.1:8080", srv)
//
// # Endpoints
//
//	GET /caps/{jid}            the verified caps of a full JID (Caps):
//	                           200 resolved, 202 pending, 404 unknown JID,
//	                           502 failed; ?wait=5s waits for a lookup
//	GET /entities?feature=F    online JIDs whose caps list F (Entities) —
//	                           the PEP +notify question
//	GET /software              client software and versions of the online
//	                           JIDs, most used first (XEP-0232 forms, else
//	                           identity names): []Software
//	GET /events                Server-Sent Events: CapsResolved, CapsFailed,
//	                           EntityGone, VerChanged, EventsLost as JSON (Event);
//	                           ?kinds=CapsResolved,CapsFailed filters
//	GET /metrics               Prometheus: every engine counter as
//	                           capsengine_<name>_total, capsengine_online_jids,
//	                           capsengine_cluster_members,
//	                           Go and process metrics, Options.Collectors
//	GET /healthz               200 {"status":"ok","jids":N}, or 503 with
//	                           Options.Health's error; in cluster mode
//	                           also "cluster_members"; for a privileged
//	                           component "privileges" and "warnings"
//
// JSON disco#info (Info) is sorted in octet order, as the hash is computed,
// so that two answers compare equal exactly when they hash equal.
//
// # Event stream
//
// Each /events client has its own subscription with a bounded buffer
// (Options.EventBuffer): the engine never waits for a slow client, and a
// client that stops reading costs the engine nothing. Lost events are
// counted and reported in an "EventsLost" event at the point of the gap,
// whatever ?kinds selected; its "lost" field says how many. The stream opens
// with the comment ": subscribed" once the subscription is in place, and a
// ": ping" comment keeps idle streams open.
package httpapi
