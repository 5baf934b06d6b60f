package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/capsengine/capsengine/httpapi"
	"github.com/capsengine/capsengine/messages"
)

// TestOpenAPI checks openapi.yaml against the real handlers: it must be a
// valid OpenAPI 3 document, and every answer of the server to a request
// of each path (successes and errors) must be one the document describes,
// with a body that matches its schema.
func TestOpenAPI(t *testing.T) {
	// The page is HTML: its body is checked as the string it is.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpapi.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, httpapi.Options{Token: []byte("s3cret"), MaxWaiters: 1})
	doc.Servers = openapi3.Servers{{URL: f.srv.URL}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	ver := resolve(t, f, "juliet@capulet.lit/balcony")
	_ = f.eng.Ingest(context.Background(), &messages.Presence{From: "liar@example.org/x",
		Caps: &messages.Caps{Hash: "sha-1", Node: "n", Ver: "BBBBBBBBBBBBBBBBBBBBBBBBBBA="}})
	_, _ = f.eng.Wait(context.Background(), "liar@example.org/x")
	_ = f.eng.Ingest(context.Background(), &messages.Presence{From: "slow@example.org/r",
		Caps: &messages.Caps{Hash: "sha-1", Node: "n", Ver: "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}})
	_ = f.eng.Sync(context.Background())
	if err := f.eng.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	requests := []struct {
		path string
		auth bool
		want int
	}{
		{"/caps/juliet@capulet.lit%2Fbalcony", true, 200},
		{"/caps/juliet@capulet.lit%2Fbalcony?wait=1s", true, 200},
		{"/caps/slow@example.org%2Fr", true, 202},
		{"/caps/nobody@example.org%2Fr", true, 404},
		{"/caps/liar@example.org%2Fx", true, 502},
		{"/caps/juliet@capulet.lit%2Fbalcony?wait=soon", true, 400},
		{"/caps/juliet@capulet.lit%2Fbalcony", false, 401},
		{"/users/juliet@capulet.lit", true, 200},
		{"/users/nobody@example.org", true, 404},
		{"/users/juliet@capulet.lit%2Fbalcony", true, 400},
		{"/entities?feature=urn:xmpp:ping", true, 200},
		{"/entities?feature=urn:xmpp:ping&limit=1", true, 200},
		{"/entities", true, 400},
		{"/features?q=ping&limit=5", true, 200},
		{"/features?limit=-1", true, 400},
		{"/software", true, 200},
		{"/keys/xep0115/sha-1/" + ver, true, 200},
		{"/keys/xep0115/sha-1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=", true, 404},
		{"/keys/xep0115/sha-1/nope", true, 400},
		{"/stats", true, 200},
		{"/stats", false, 401},
		{"/events?kinds=Nope", true, 400},
		{"/events", false, 401},
		{"/healthz", true, 200},
		{"/healthz", false, 401},
		{"/metrics", true, 200},
		{"/openapi.yaml", false, 200},
		{"/", false, 200},
	}
	covered := map[string]bool{}
	for _, rq := range requests {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+rq.path, nil)
		if rq.auth {
			req.Header.Set("Authorization", "Bearer s3cret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != rq.want {
			t.Errorf("GET %s: %d, want %d: %s", rq.path, resp.StatusCode, rq.want, body)
			continue
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("GET %s: not in openapi.yaml: %v", rq.path, err)
			continue
		}
		covered[route.Path] = true
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if rq.want < 400 {
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("GET %s: request does not match openapi.yaml: %v", rq.path, err)
			}
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
			Header: resp.Header, Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		out.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("GET %s: %d answer does not match openapi.yaml: %v", rq.path, resp.StatusCode, firstLine(err))
		}
	}
	// The event stream, validated per event against the Event schema.
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/events", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	route, _, err := router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	covered[route.Path] = true
	event := doc.Components.Schemas["Event"].Value
	r, stop := openEvents(t, f.srv.URL+"/events", "Authorization", "Bearer s3cret")
	defer stop()
	gone(t, f.eng, "juliet@capulet.lit/balcony")
	resolve(t, f, "romeo@montague.lit/orchard")
	for _, ev := range readEvents(t, r, 2) {
		var v any
		if err := json.Unmarshal([]byte(ev.data), &v); err != nil {
			t.Fatal(err)
		}
		if err := event.VisitJSON(v); err != nil {
			t.Errorf("event %s does not match the Event schema: %v", ev.data, firstLine(err))
		}
	}
	var paths []string
	for p := range doc.Paths.Map() {
		paths = append(paths, p)
		if !covered[p] {
			t.Errorf("%s is described but not checked", p)
		}
	}
	slices.Sort(paths)
	t.Logf("checked %d paths: %s", len(paths), strings.Join(paths, " "))
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
