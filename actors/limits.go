package actors

import (
	"sync"
	"time"

	"github.com/capsengine/capsengine/hashing"
)

// expiring is a bounded set of keys that expire. When full, adding evicts
// an arbitrary entry (Go map order), which bounds memory under a flood at
// the price of forgetting some entries early.
type expiring[K comparable, V any] struct {
	mu  sync.Mutex
	m   map[K]expEntry[V]
	max int
	ttl time.Duration
	now func() time.Time
}

type expEntry[V any] struct {
	v   V
	exp time.Time
}

func newExpiring[K comparable, V any](max int, ttl time.Duration, now func() time.Time) *expiring[K, V] {
	return &expiring[K, V]{m: make(map[K]expEntry[V]), max: max, ttl: ttl, now: now}
}

func (e *expiring[K, V]) put(k K, v V) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.m[k]; !ok && len(e.m) >= e.max {
		// Look at a few entries only (map order is random): drop the
		// expired ones among them, or failing that the first one, so a
		// full table costs O(1) per insert.
		now := e.now()
		seen, dropped := 0, false
		for key, x := range e.m {
			if x.exp.Before(now) {
				delete(e.m, key)
				dropped = true
			}
			if seen++; seen == 16 {
				if !dropped {
					delete(e.m, key)
				}
				break
			}
		}
		if len(e.m) >= e.max {
			for key := range e.m {
				delete(e.m, key)
				break
			}
		}
	}
	e.m[k] = expEntry[V]{v, e.now().Add(e.ttl)}
}

func (e *expiring[K, V]) get(k K) (V, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	if e.now().After(x.exp) {
		delete(e.m, k)
		var zero V
		return zero, false
	}
	return x.v, true
}

func (e *expiring[K, V]) remove(k K) {
	e.mu.Lock()
	delete(e.m, k)
	e.mu.Unlock()
}

type badKey struct {
	jid string
	key hashing.Key
}

// rateLimiter is a token bucket per announcer, bounded in size like
// expiring: an announcer evicted early simply gets a fresh bucket. A bucket
// that has refilled says nothing a fresh one would not, so inserting a new
// one also drops a few refilled ones: the table holds the announcers asked
// in the last burst/rate seconds, not every announcer ever asked.
type rateLimiter struct {
	mu    sync.Mutex
	b     map[string]*bucket
	rate  float64
	burst float64
	max   int
	now   func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst, max int, now func() time.Time) *rateLimiter {
	return &rateLimiter{b: make(map[string]*bucket), rate: rate, burst: float64(burst), max: max, now: now}
}

// allow takes one token from jid's bucket if it has one.
func (r *rateLimiter) allow(jid string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	b, ok := r.b[jid]
	if !ok {
		r.sweepLocked(now)
		if len(r.b) >= r.max {
			for k := range r.b {
				delete(r.b, k)
				break
			}
		}
		b = &bucket{tokens: r.burst, last: now}
		r.b[jid] = b
	}
	b.tokens += now.Sub(b.last).Seconds() * r.rate
	if b.tokens > r.burst {
		b.tokens = r.burst
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweepLocked drops up to two refilled buckets among a few looked at (map
// order is random): as many as an insert adds, so a steady stream of new
// announcers keeps the table at the ones still refilling.
func (r *rateLimiter) sweepLocked(now time.Time) {
	seen, dropped := 0, 0
	for k, b := range r.b {
		if b.tokens+now.Sub(b.last).Seconds()*r.rate >= r.burst {
			delete(r.b, k)
			dropped++
		}
		if seen++; seen == 8 || dropped == 2 {
			return
		}
	}
}
