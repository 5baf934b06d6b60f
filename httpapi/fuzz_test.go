package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/capsengine/capsengine/httpapi"
)

// FuzzRequest sends arbitrary paths and queries to the API of an engine
// that knows some entities. Whatever the request, the handler returns
// within the request's deadline without panicking, with a status the API
// documents, and a JSON body that parses whenever it says it is JSON.
func FuzzRequest(f *testing.F) {
	fx := newFixture(f, httpapi.Options{})
	eng := fx.eng
	ver := ""
	for _, j := range []string{"a@example.org/r", "b@example.org/x", "c@example.net/y"} {
		ver = announce(f, eng, j)
	}
	if _, err := eng.Wait(context.Background(), "a@example.org/r"); err != nil {
		f.Fatal(err)
	}
	h := fx.srv.Config.Handler
	for _, s := range [][2]string{
		{"caps/a@example.org/r", ""},
		{"caps/nobody@example.org/r", "wait=10ms"},
		{"caps/", "wait=-1"},
		{"users/a@example.org", ""},
		{"entities", "feature=urn:xmpp:jingle:1&limit=1&after=a"},
		{"entities", "feature=&limit=999999999999999999999"},
		{"software", ""},
		{"features", "limit=0"},
		{"keys/xep-0115/sha-1/" + url.PathEscape(ver), ""},
		{"keys/xep-0390/sha-256/%zz", ""},
		{"stats", ""},
		{"events", "kinds=caps_resolved,nonsense"},
		{"metrics", ""},
		{"healthz", ""},
		{"openapi.yaml", ""},
		{"", ""},
		{"assets/../../etc/passwd", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, path, query string) {
		u, err := url.Parse("http://capsengine.test/" + path)
		if err != nil {
			return
		}
		u.RawQuery = query
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return // not a request a server would hand over
		}
		req.RequestURI = u.RequestURI()
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(rec, req)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("GET %s did not return 10 s after its 300 ms deadline", u)
		}
		switch rec.Code {
		case http.StatusOK, http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect,
			http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusMethodNotAllowed,
			http.StatusNotAcceptable, http.StatusRequestTimeout, http.StatusGone, http.StatusTooManyRequests,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		default:
			t.Fatalf("GET %s: status %d\n%s", u, rec.Code, rec.Body.String())
		}
		if ct := rec.Header().Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("GET %s: %d, Content-Type %s, body not JSON:\n%s", u, rec.Code, ct, rec.Body.String())
			}
		}
	})
}
