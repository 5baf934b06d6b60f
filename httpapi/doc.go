// Package httpapi serves a capsengine.Engine over HTTP: what an entity can
// do, who can do something, a live event stream and Prometheus metrics.
//
//	srv := httpapi.New(eng, httpapi.Options{})
//	http.ListenAndServe("127.0.0.1:8080", srv)
//
// # Endpoints
//
//	GET /                      the dashboard: live counts, client software,
//	                           features (who supports F), resolve latency,
//	                           the latest events (embedded, works offline)
//	GET /caps/{jid}            the verified caps of a full JID (Caps):
//	                           200 resolved, 202 pending, 404 unknown JID,
//	                           502 failed; ?wait=5s waits for a lookup
//	GET /users/{bare}          the caps of each online resource of a user
//	                           (User); 404 when none is online
//	GET /entities?feature=F    online JIDs whose caps list F (Entities) —
//	                           the PEP +notify question — a page at a time
//	                           (?limit, ?cursor=next_cursor)
//	GET /features              how many online JIDs list each feature
//	                           (Features); ?q=TEXT filters
//	GET /software              client software and versions of the online
//	                           JIDs, most used first (XEP-0232 forms, else
//	                           identity names): []Software
//	GET /keys/{scheme}/{algo}/{ver}
//	                           the stored disco#info of a hash (StoredKey)
//	GET /stats                 store and engine figures (Stats): what
//	                           "capsengine db stats" says, live counters,
//	                           levels and latency histograms
//	GET /events                Server-Sent Events: CapsResolved, CapsFailed,
//	                           EntityGone, VerChanged, KeyVerified, EventsLost as
//	                           JSON (Event);
//	                           ?kinds=CapsResolved,CapsFailed filters;
//	                           Last-Event-ID resumes
//	GET /metrics               Prometheus: every engine counter as
//	                           capsengine_<name>_total, resolve and query
//	                           latency histograms, store figures
//	                           (capsengine_store_*), the API's own
//	                           (capsengine_http_*), capsengine_online_jids,
//	                           every other engine gauge as
//	                           capsengine_<name> (live_lookups,
//	                           queued_queries, live_owners, ...),
//	                           capsengine_cluster_members, Go and process
//	                           metrics, Options.Collectors
//	GET /healthz               200 {"status":"ok","jids":N}, or 503 with
//	                           Options.Health's error; in cluster mode
//	                           also "cluster_members"; for a privileged
//	                           component "privileges" and "warnings"
//	GET /openapi.yaml          the OpenAPI description of all this
//
// JSON disco#info (Info) is sorted in octet order, as the hash is computed,
// so that two answers compare equal exactly when they hash equal.
//
// # Safety
//
// With Options.Token every request but the dashboard's static files needs
// the bearer token (OpenHealth leaves /healthz and /metrics open). Long or
// costly work is bounded and refused at once when the bound is reached,
// with 503 and Retry-After: event streams (MaxStreams), waiting /caps
// requests (MaxWaiters), other requests (MaxRequests). Requests with a
// body or an overlong query string are refused (413, 414). Every refusal
// is counted in capsengine_http_rejected_total{reason}.
//
// # Event stream
//
// The server holds one subscription to the engine and a replay buffer of
// recent events (Options.EventBuffer), shared by every /events client (see
// stream): the engine never waits for a client, and a client that stops
// reading costs a cursor. A client that falls behind the buffer is told
// how many events of its kinds it lost, in an "EventsLost" event at the
// point of the gap; one whose connection takes nothing for StallTimeout is
// disconnected. Ids increase across kinds; a client that reconnects with
// Last-Event-ID resumes right after its last event while the buffer holds
// it, and is told what it lost otherwise. The stream opens with the
// comment ": subscribed" once the client's place is set, and a ": ping"
// comment keeps idle streams open.
package httpapi
