package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestMaxRequests holds MaxRequests requests in a handler and checks that
// one more is refused at once with 503, and served again once a slot frees.
func TestMaxRequests(t *testing.T) {
	o := Options{MaxRequests: 2}
	o.defaults()
	s := &Server{opts: o, limits: newLimits(o)}
	s.metrics = newHTTPMetrics(&s.limits)
	entered, release := make(chan struct{}), make(chan struct{})
	h := s.guard(routeData, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("hold") {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	done := make(chan int, 2)
	for range 2 {
		go func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/stats?hold", nil))
			done <- w.Code
		}()
		<-entered
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/stats", nil))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("third request: %d, want 503 with Retry-After", w.Code)
	}
	// Health and the page are never refused as busy.
	for _, rt := range []route{routeHealth, routeAsset} {
		w := httptest.NewRecorder()
		ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
		s.guard(rt, ok).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if w.Code == http.StatusServiceUnavailable {
			t.Errorf("route %d refused while busy", rt)
		}
	}
	close(release)
	for range 2 {
		if c := <-done; c != http.StatusNoContent {
			t.Errorf("held request: %d", c)
		}
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/stats", nil))
	if w.Code != http.StatusNoContent {
		t.Errorf("after the slots freed: %d", w.Code)
	}
}
