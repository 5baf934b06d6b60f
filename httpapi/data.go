package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/storage"
)

// page reads ?limit (default and maximum MaxPage) and ?cursor, an opaque
// token of the last item of the previous page.
func (s *Server) page(w http.ResponseWriter, r *http.Request) (limit int, after string, ok bool) {
	q := r.URL.Query()
	limit = s.opts.MaxPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad limit: " + v})
			return 0, "", false
		}
		limit = min(n, s.opts.MaxPage)
	}
	if v := q.Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad cursor"})
			return 0, "", false
		}
		after = string(b)
	}
	return limit, after, true
}

// entities answers GET /entities?feature=F with the online JIDs whose
// verified caps list F, sorted, a page at a time: next_cursor, when set,
// fetches the next page. A JID that comes or goes between pages is seen
// or not, but no JID that stays is skipped or repeated, since pages are
// cut by JID order.
func (s *Server) entities(w http.ResponseWriter, r *http.Request) {
	f := r.URL.Query().Get("feature")
	if f == "" {
		s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "missing feature parameter"})
		return
	}
	limit, after, ok := s.page(w, r)
	if !ok {
		return
	}
	list := s.eng.Entities(f)
	slices.Sort(list)
	i, found := slices.BinarySearch(list, after)
	if found {
		i++
	}
	out := Entities{Feature: f, Total: len(list), Entities: list[i:min(len(list), i+limit)]}
	if i+limit < len(list) {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(out.Entities[len(out.Entities)-1]))
	}
	if out.Entities == nil {
		out.Entities = []string{}
	}
	s.writeJSON(w, http.StatusOK, out)
}

// features answers GET /features: for each feature listed by an online
// JID with verified caps, how many list it, most listed first. ?q=TEXT
// keeps the features containing TEXT; ?limit caps the list (default and
// maximum MaxPage).
func (s *Server) features(w http.ResponseWriter, r *http.Request) {
	limit, _, ok := s.page(w, r)
	if !ok {
		return
	}
	q := r.URL.Query().Get("q")
	verified, all := s.eng.Features()
	out := Features{Verified: verified, Features: []FeatureCount{}}
	for _, f := range all {
		if q != "" && !strings.Contains(f.Feature, q) {
			continue
		}
		out.Matching++
		if len(out.Features) < limit {
			out.Features = append(out.Features, FeatureCount{Feature: f.Feature, JIDs: f.JIDs})
		}
	}
	s.writeJSON(w, http.StatusOK, out)
}

// key answers GET /keys/{scheme}/{algo}/{ver}: the stored disco#info of a
// hash, from the trusted or the user store. 404 when neither has it.
func (s *Server) key(w http.ResponseWriter, r *http.Request) {
	var scheme hashing.Scheme
	switch r.PathValue("scheme") {
	case "xep0115":
		scheme = hashing.XEP0115
	case "xep0390":
		scheme = hashing.XEP0390
	default:
		s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "scheme is xep0115 or xep0390"})
		return
	}
	alg, err := hashing.ParseAlgorithm(r.PathValue("algo"))
	if err != nil {
		s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	k, err := hashing.ParseKey(scheme, alg, r.PathValue("ver"))
	if err != nil {
		s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	db := s.eng.Storage()
	if db == nil {
		s.writeJSON(w, http.StatusNotFound, map[string]string{"error": "no store"})
		return
	}
	e, src, err := db.Lookup(k)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.writeJSON(w, http.StatusNotFound, map[string]string{"error": "not stored: " + k.String()})
		return
	case err != nil:
		s.writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	out := StoredKey{Key: NewKey(k), Source: src.String(), Method: e.Method.String(),
		Nodes: e.Nodes, Info: NewInfo(&e.Info)}
	if out.Nodes == nil {
		out.Nodes = []string{}
	}
	if !e.FirstSeen.IsZero() {
		out.FirstSeen, out.LastSeen = &e.FirstSeen, &e.LastSeen
	}
	s.writeJSON(w, http.StatusOK, out)
}

// storeCounts caches the count of stored entries: counting walks both
// stores, too slow to do for every dashboard refresh of a large store.
type storeCounts struct {
	mu      sync.Mutex
	at      time.Time
	trusted map[string]int
	user    map[string]int
	err     error
}

func (c *storeCounts) get(ctx context.Context, db *storage.DB, every time.Duration) (trusted, user map[string]int, at time.Time, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < every && c.err == nil {
		return c.trusted, c.user, c.at, nil
	}
	count := func(src storage.Source) (map[string]int, error) {
		m, err := db.Count(ctx, src)
		if errors.Is(err, storage.ErrNotFound) { // no such store
			return map[string]int{}, nil
		}
		if err != nil {
			return nil, err
		}
		out := make(map[string]int, len(m))
		for k, n := range m {
			out[k.String()] = n
		}
		return out, nil
	}
	c.trusted, c.err = count(storage.Trusted)
	if c.err == nil {
		c.user, c.err = count(storage.User)
	}
	c.at = time.Now()
	return c.trusted, c.user, c.at, c.err
}

// stats answers GET /stats: the store's figures (those of "capsengine db
// stats", which cannot open a store the engine holds) and the engine's
// live counters, levels and latencies.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	lat := s.eng.Latencies()
	out := Stats{
		JIDs:      s.eng.JIDs(),
		Counters:  s.eng.Counters(),
		Gauges:    gaugeMap(s.eng.Gauges()),
		Resolve:   newLatency(lat.Resolve),
		Query:     newLatency(lat.Query),
		Waits:     map[string]Latency{},
		Time:      time.Now().UTC(),
		LiveSince: s.started,
	}
	for kind, h := range lat.Waits {
		out.Waits[kind] = newLatency(h)
	}
	if db := s.eng.Storage(); db != nil {
		out.Store = newStoreStats(db.Stats())
		trusted, user, at, err := s.counts.get(r.Context(), db, s.opts.StatsEvery)
		if err != nil {
			s.writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		out.Store.TrustedEntries, out.Store.UserEntries, out.Store.CountedAt = trusted, user, at.UTC()
	}
	s.writeJSON(w, http.StatusOK, out)
}
