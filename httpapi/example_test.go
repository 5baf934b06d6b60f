package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/httpapi"
)

// Serve an engine's API and ask it who supports Jingle.
func Example() {
	q := capsengine.QuerierFunc(func(context.Context, string, string) (*hashing.Info, error) {
		return nil, errors.New("no network in this example")
	})
	eng, err := capsengine.Open(context.Background(), capsengine.Config{InMemory: true, Querier: q})
	if err != nil {
		panic(err)
	}
	defer eng.Close(context.Background())

	srv := httptest.NewServer(httpapi.New(eng, httpapi.Options{}))
	defer srv.Close()

	for _, path := range []string{"/healthz", "/entities?feature=urn:xmpp:jingle:1", "/caps/juliet@capulet.lit/balcony"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %s", resp.StatusCode, body)
	}
	// Output:
	// 200 {"status":"ok","jids":0}
	// 200 {"feature":"urn:xmpp:jingle:1","total":0,"entities":[]}
	// 404 {"jid":"juliet@capulet.lit/balcony","status":"unknown"}
}
