package httpapi

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
)

// Info is a disco#info as JSON, sorted in octet order: identities by
// category, type, lang and name; features; forms by FORM_TYPE, fields by
// var, values. Empty lists are [] (never null).
type Info struct {
	Node       string     `json:"node,omitempty"`
	Identities []Identity `json:"identities"`
	Features   []string   `json:"features"`
	Forms      []Form     `json:"forms"`
}

// Identity is one disco#info identity; Lang is its own xml:lang.
type Identity struct {
	Category string `json:"category"`
	Type     string `json:"type"`
	Lang     string `json:"lang,omitempty"`
	Name     string `json:"name,omitempty"`
}

// Form is one XEP-0128 form. FormType is its FORM_TYPE value ("" when it
// has none); Fields include the FORM_TYPE field.
type Form struct {
	FormType string  `json:"form_type"`
	Type     string  `json:"type,omitempty"`
	Fields   []Field `json:"fields"`
}

// Field is one form field.
type Field struct {
	Var    string   `json:"var"`
	Type   string   `json:"type,omitempty"`
	Values []string `json:"values"`
}

// NewInfo converts in into its sorted JSON form. in is not modified; nil
// gives nil.
func NewInfo(in *hashing.Info) *Info {
	if in == nil {
		return nil
	}
	out := &Info{Node: in.Node, Identities: []Identity{}, Features: slices.Clone(in.Features), Forms: []Form{}}
	if out.Features == nil {
		out.Features = []string{}
	}
	for _, id := range in.Identities {
		out.Identities = append(out.Identities, Identity(id))
	}
	slices.SortFunc(out.Identities, func(a, b Identity) int {
		return cmp.Or(strings.Compare(a.Category, b.Category), strings.Compare(a.Type, b.Type),
			strings.Compare(a.Lang, b.Lang), strings.Compare(a.Name, b.Name))
	})
	slices.Sort(out.Features)
	for i := range in.Forms {
		f := &in.Forms[i]
		ft, _, _ := f.FormType()
		jf := Form{FormType: ft, Type: f.Type, Fields: []Field{}}
		for _, fld := range f.Fields {
			vals := slices.Clone(fld.Values)
			if vals == nil {
				vals = []string{}
			}
			slices.Sort(vals)
			jf.Fields = append(jf.Fields, Field{Var: fld.Var, Type: fld.Type, Values: vals})
		}
		slices.SortStableFunc(jf.Fields, func(a, b Field) int { return strings.Compare(a.Var, b.Var) })
		out.Forms = append(out.Forms, jf)
	}
	slices.SortStableFunc(out.Forms, func(a, b Form) int { return strings.Compare(a.FormType, b.FormType) })
	return out
}

// Key is an announced hash: its scheme ("xep0115" or "xep0390"), its
// algorithm (IANA name) and its value as announced (base64).
type Key struct {
	Scheme string `json:"scheme"`
	Hash   string `json:"hash"`
	Ver    string `json:"ver"`
}

// NewKey converts k; the zero Key gives nil.
func NewKey(k hashing.Key) *Key {
	if k.IsZero() {
		return nil
	}
	return &Key{Scheme: k.Scheme.String(), Hash: k.Alg.String(), Ver: k.Ver()}
}

// Caps is the answer of GET /caps/{jid}.
type Caps struct {
	JID string `json:"jid"`
	// Status is "resolved", "pending", "failed" or "unknown".
	Status string `json:"status"`
	Key    *Key   `json:"key,omitempty"`
	Info   *Info  `json:"info,omitempty"`
	Error  string `json:"error,omitempty"`
	// Unverified: the JID announced no verifiable hash and Info is its
	// own answer to a disco#info query (Tuning.QueryUnhashed); there is
	// no key.
	Unverified bool `json:"unverified,omitempty"`
}

// User is the answer of GET /users/{bare}: the caps of each online
// resource of a user, sorted by JID.
type User struct {
	JID       string `json:"jid"`
	Resources []Caps `json:"resources"`
}

// Entities is the answer of GET /entities?feature=F: one page of the
// online JIDs whose verified caps list Feature, sorted. Total counts them
// all; NextCursor, when set, is the cursor of the next page.
type Entities struct {
	Feature    string   `json:"feature"`
	Total      int      `json:"total"`
	Entities   []string `json:"entities"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// Features is the answer of GET /features: Verified online JIDs have
// verified caps; Matching features match ?q; Features lists them, most
// listed first, up to ?limit.
type Features struct {
	Verified int            `json:"verified"`
	Matching int            `json:"matching"`
	Features []FeatureCount `json:"features"`
}

// FeatureCount is one feature and how many online JIDs list it.
type FeatureCount struct {
	Feature string `json:"feature"`
	JIDs    int    `json:"jids"`
}

// StoredKey is the answer of GET /keys/{scheme}/{algo}/{ver}: the stored
// entry of a hash. Source is "trusted" or "user"; Method how it was
// verified; Nodes the caps nodes seen announcing it; FirstSeen and
// LastSeen when (absent when unknown).
type StoredKey struct {
	Key       *Key       `json:"key"`
	Source    string     `json:"source"`
	Method    string     `json:"method"`
	Nodes     []string   `json:"nodes"`
	FirstSeen *time.Time `json:"first_seen,omitempty"`
	LastSeen  *time.Time `json:"last_seen,omitempty"`
	Info      *Info      `json:"info"`
}

// Stats is the answer of GET /stats. Counters are the engine's running
// totals and Gauges its levels, by the names of capsengine.Engine.Counters
// and capsengine.Gauges; Store is null for an engine without a store.
type Stats struct {
	Time      time.Time          `json:"time"`
	LiveSince time.Time          `json:"live_since"`
	JIDs      int                `json:"jids"`
	Counters  map[string]uint64  `json:"counters"`
	Gauges    map[string]int64   `json:"gauges"`
	Resolve   Latency            `json:"resolve_latency"`
	Query     Latency            `json:"query_latency"`
	Waits     map[string]Latency `json:"queue_waits"`
	Store     *StoreStats        `json:"store"`
}

// StoreStats are the store's figures: those of storage.Stats, and the
// entries of each store by kind (e.g. "xep0115/sha-1"), counted at
// CountedAt (the count walks the stores, so it is redone at most every
// Options.StatsEvery).
type StoreStats struct {
	CacheHits        uint64         `json:"cache_hits"`
	CacheMisses      uint64         `json:"cache_misses"`
	CacheHitRatio    float64        `json:"cache_hit_ratio"`
	CacheBytes       int64          `json:"cache_bytes"`
	CacheMaxBytes    int64          `json:"cache_max_bytes"`
	TrustedHits      uint64         `json:"trusted_hits"`
	UserHits         uint64         `json:"user_hits"`
	Misses           uint64         `json:"misses"`
	Filtered         uint64         `json:"filtered"`
	Commits          uint64         `json:"commits"`
	Committed        uint64         `json:"committed"`
	TrustedDiskBytes uint64         `json:"trusted_disk_bytes"`
	UserDiskBytes    uint64         `json:"user_disk_bytes"`
	TrustedEntries   map[string]int `json:"trusted_entries"`
	UserEntries      map[string]int `json:"user_entries"`
	CountedAt        time.Time      `json:"counted_at"`
}

func newStoreStats(st storage.Stats) *StoreStats {
	return &StoreStats{
		CacheHits: st.CacheHits, CacheMisses: st.CacheMisses, CacheHitRatio: st.CacheHitRatio(),
		CacheBytes: st.CacheBytes, CacheMaxBytes: st.CacheMaxBytes,
		TrustedHits: st.TrustedHits, UserHits: st.UserHits, Misses: st.Misses, Filtered: st.Filtered,
		Commits: st.Commits, Committed: st.Committed,
		TrustedDiskBytes: st.TrustedDiskBytes, UserDiskBytes: st.UserDiskBytes,
	}
}

// Latency summarises a latency histogram: Count samples, quantiles in
// milliseconds (the upper bound of the bucket they fall in), and the
// buckets themselves, not cumulative: Buckets[i] samples were at most
// LeMS[i] ms and above the bound before; the last bucket has no bound.
type Latency struct {
	Count   uint64    `json:"count"`
	P50MS   float64   `json:"p50_ms"`
	P90MS   float64   `json:"p90_ms"`
	P99MS   float64   `json:"p99_ms"`
	LeMS    []float64 `json:"le_ms"`
	Buckets []uint64  `json:"buckets"`
}

func newLatency(h capsengine.Histogram) Latency {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	out := Latency{Count: h.Count, P50MS: ms(h.Quantile(0.5)), P90MS: ms(h.Quantile(0.9)),
		P99MS: ms(h.Quantile(0.99)), Buckets: h.Counts, LeMS: make([]float64, len(h.Bounds))}
	for i, b := range h.Bounds {
		out.LeMS[i] = ms(b)
	}
	return out
}

// gaugeMap lists the gauges by their field names.
func gaugeMap(g capsengine.Gauges) map[string]int64 {
	out := map[string]int64{}
	v := reflect.ValueOf(g)
	for i := range v.NumField() {
		out[v.Type().Field(i).Name] = v.Field(i).Int()
	}
	return out
}

// Software is one entry of GET /software: a software and version, and how
// many online JIDs run it. FromForm: read from their XEP-0232 form (else
// the first identity name, with no version); Name "" counts the JIDs that
// name none.
type Software struct {
	Name     string `json:"name"`
	Version  string `json:"version,omitempty"`
	FromForm bool   `json:"from_form,omitempty"`
	JIDs     int    `json:"jids"`
}

// Health is the answer of GET /healthz.
type Health struct {
	Status string `json:"status"` // "ok" or "unhealthy"
	Error  string `json:"error,omitempty"`
	JIDs   int    `json:"jids"` // online JIDs with caps
	// ClusterMembers: in cluster mode, the members this engine sees,
	// itself included.
	ClusterMembers int `json:"cluster_members,omitempty"`
	// Privileges: for a XEP-0356 privileged component, what the server
	// granted in this session (transport.Privileges), or null before it
	// said.
	Privileges any `json:"privileges,omitempty"`
	// Warnings name what the service cannot see, e.g. users online
	// before it connected to a server that does not send them.
	Warnings []string `json:"warnings,omitempty"`
}

// Event is one engine event as JSON, as GET /events sends it: Kind is
// "CapsResolved", "CapsFailed", "EntityGone", "VerChanged" or
// "KeyVerified" (Time is then when the key was verified), or "EventsLost"
// when the client fell behind and Lost events of its kinds were lost just
// before this point in the stream.
type Event struct {
	Kind   string    `json:"kind"`
	Time   time.Time `json:"time"`
	JID    string    `json:"jid,omitempty"`
	Key    *Key      `json:"key,omitempty"`
	Cached bool      `json:"cached,omitempty"`
	// Unverified: a CapsResolved of a JID without a verifiable hash
	// (messages.CapsResolved.Unverified); Key is absent.
	Unverified bool          `json:"unverified,omitempty"`
	Info       *Info         `json:"info,omitempty"`
	Error      string        `json:"error,omitempty"`
	Old        *Announcement `json:"old,omitempty"`
	New        *Announcement `json:"new,omitempty"`
	Lost       uint64        `json:"lost,omitempty"`
}

// Announcement is what our presence carries (VerChanged).
type Announcement struct {
	Hash  string `json:"hash,omitempty"`
	Node  string `json:"node,omitempty"`
	Ver   string `json:"ver,omitempty"`
	Caps2 []Hash `json:"caps2,omitempty"`
}

// Hash is one XEP-0390 hash.
type Hash struct {
	Algo  string `json:"algo"`
	Value string `json:"value"`
}

// NewEvent converts an engine event observed at t.
func NewEvent(ev messages.Event, t time.Time) Event {
	out := Event{Kind: ev.Kind().String(), Time: t.UTC()}
	switch e := ev.(type) {
	case *messages.CapsResolved:
		out.JID, out.Key, out.Cached, out.Info = e.JID, NewKey(e.Key), e.Cached, NewInfo(e.Info)
		out.Unverified = e.Unverified
	case *messages.CapsFailed:
		out.JID, out.Key = e.JID, NewKey(e.Key)
		if e.Err != nil {
			out.Error = e.Err.Error()
		}
	case *messages.EntityGone:
		out.JID = e.JID
	case *messages.VerChanged:
		out.Old, out.New = newAnnouncement(e.Old), newAnnouncement(e.New)
	case *messages.EventsLost:
		out.Lost = e.Count
	case *messages.KeyVerified:
		out.Key, out.Info, out.Time = NewKey(e.Key), NewInfo(e.Info), e.At.UTC()
	}
	return out
}

func newAnnouncement(a messages.Announcement) *Announcement {
	if a.Caps == (messages.Caps{}) && len(a.Caps2) == 0 {
		return nil
	}
	out := &Announcement{Hash: a.Caps.Hash, Node: a.Caps.Node, Ver: a.Caps.Ver}
	for _, h := range a.Caps2 {
		out.Caps2 = append(out.Caps2, Hash(h))
	}
	return out
}
