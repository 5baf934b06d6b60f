package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// The dashboard is three static files compiled into the binary: it works
// offline and behind firewalls, and needs no build step.
//
//go:embed dashboard
var dashboardFS embed.FS

// dashboard serves GET / (the page) and GET /assets/NAME (its script and
// style). They hold no data, so they are served without the token; the
// page asks for it when the API answers 401.
func dashboard() http.Handler {
	sub, err := fs.Sub(dashboardFS, "dashboard")
	if err != nil {
		panic(err) // the embedded directory is part of the build
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "index.html"
		if r.URL.Path != "/" {
			name = strings.TrimPrefix(r.URL.Path, "/assets/")
			if name != "app.js" && name != "style.css" {
				http.NotFound(w, r)
				return
			}
		}
		h := w.Header()
		// Only our own files run: an event's JID or feature, shown on the
		// page, can never bring in a script.
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, sub, name)
	})
}
