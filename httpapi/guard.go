package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// route says which limits a handler is under.
type route uint8

const (
	routeData   route = iota // bounded by MaxRequests
	routeWait                // /caps: MaxWaiters when it waits, else MaxRequests
	routeStream              // /events: MaxStreams
	routeHealth              // /healthz, /metrics: open with OpenHealth; never refused as busy, so probes tell a busy server from a dead one
	routeAsset               // the dashboard's page and assets: no data, never behind the token
)

// maxQuery bounds a request's query string. Every parameter of the API is
// short (a JID, a feature, a cursor); a longer query is hostile or broken.
const maxQuery = 4096

// limits are the semaphores of the three kinds of long or costly work.
type limits struct {
	requests, waiters, streams chan struct{}
}

func newLimits(o Options) limits {
	return limits{
		requests: make(chan struct{}, o.MaxRequests),
		waiters:  make(chan struct{}, o.MaxWaiters),
		streams:  make(chan struct{}, o.MaxStreams),
	}
}

// acquire takes a slot of sem without waiting: a full server answers at
// once rather than queueing requests that would time out behind others.
func acquire(sem chan struct{}) (release func(), ok bool) {
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, true
	default:
		return nil, false
	}
}

// guard wraps h with the token check and the limits of its route.
func (s *Server) guard(rt route, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// GET requests carry no body: one that does is not ours.
		if r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
			s.reject(w, http.StatusRequestEntityTooLarge, "body", "requests take no body")
			return
		}
		if len(r.URL.RawQuery) > maxQuery {
			s.reject(w, http.StatusRequestURITooLong, "query", "query string too long")
			return
		}
		open := rt == routeAsset || rt == routeHealth && s.opts.OpenHealth
		if !open && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="capsengine"`)
			s.reject(w, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token")
			return
		}
		sem, reason := s.limits.requests, "requests"
		switch rt {
		case routeStream:
			sem, reason = s.limits.streams, "streams"
		case routeWait:
			if r.URL.Query().Has("wait") {
				sem, reason = s.limits.waiters, "waiters"
			}
		case routeAsset, routeHealth:
			// Static and small, or cheap and needed most when busy.
			sem = nil
		}
		if sem != nil {
			release, ok := acquire(sem)
			if !ok {
				w.Header().Set("Retry-After", "1")
				s.reject(w, http.StatusServiceUnavailable, reason, "too many concurrent "+reason+"; retry later")
				return
			}
			defer release()
		}
		h.ServeHTTP(w, r)
	})
}

// authorized compares the request's token with Options.Token in constant
// time. No token configured: every request is.
func (s *Server) authorized(r *http.Request) bool {
	if len(s.opts.Token) == 0 {
		return true
	}
	var got string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		got = strings.TrimSpace(tok)
	} else if c, err := r.Cookie(tokenCookie); err == nil {
		got = c.Value
	}
	return subtle.ConstantTimeCompare([]byte(got), s.opts.Token) == 1
}

// tokenCookie carries the token for the dashboard, whose EventSource
// cannot send an Authorization header.
const tokenCookie = "capsengine_token"

// reject answers an error and counts it by reason.
func (s *Server) reject(w http.ResponseWriter, code int, reason, msg string) {
	s.metrics.rejected.WithLabelValues(reason).Inc()
	s.writeJSON(w, code, map[string]string{"error": msg})
}
