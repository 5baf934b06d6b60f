package messages

import "sync"

// Feature names recur in nearly every disco#info answer: a few hundred
// namespaces, each in thousands of documents. Decoded Infos share one copy
// of each instead of holding their own, which is most of an Info's size: a
// 300,000-document run kept 160 MB of decoded answers, features mostly.
//
// The table is bounded in entries and in the length of what it keeps, so
// hostile peers inventing feature names fill it at most once: after that,
// new names are simply not shared.
var featureNames = internTable{m: make(map[string]string), max: 1 << 14}

// maxInterned is the longest feature name shared; longer ones are rare
// and unlikely to recur.
const maxInterned = 128

type internTable struct {
	mu  sync.RWMutex
	m   map[string]string
	max int
}

// intern returns the shared copy of b, adding it while there is room;
// false when b is not shared.
func (t *internTable) intern(b []byte) (string, bool) {
	if len(b) == 0 || len(b) > maxInterned {
		return "", false
	}
	t.mu.RLock()
	s, ok := t.m[string(b)] // no allocation: the conversion is only a map key
	full := len(t.m) >= t.max
	t.mu.RUnlock()
	if ok || full {
		return s, ok
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.m[string(b)]; ok {
		return s, true
	}
	if len(t.m) >= t.max {
		return "", false
	}
	s = string(b)
	t.m[s] = s
	return s, true
}
