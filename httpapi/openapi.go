package httpapi

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the description of this API (OpenAPI 3.0), served at
// GET /openapi.yaml. A test checks the real handlers' answers against it.
//
//go:embed openapi.yaml
var OpenAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(OpenAPI)
}
