package actors

import (
	"encoding/base64"
	"runtime"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
)

func TestInfoSetSharesAndForgets(t *testing.T) {
	s := newInfoSet()
	k := hashing.Key{Scheme: hashing.XEP0115, Alg: hashing.SHA1}
	if s.get(k) != nil {
		t.Fatal("an empty set knows a key")
	}
	first := &hashing.Info{Features: []string{"urn:example:a"}}
	second := &hashing.Info{Features: []string{"urn:example:a"}}
	if got := s.canonical(k, first); got != first {
		t.Fatal("the first copy was not kept")
	}
	if got := s.canonical(k, second); got != first {
		t.Fatal("a second copy was not replaced by the first")
	}
	if s.get(k) != first {
		t.Fatal("get does not return the kept copy")
	}
	if !s.has(k) {
		t.Fatal("has does not know a kept key")
	}
	runtime.KeepAlive(first)
	first, second = nil, nil
	// Nobody keeps the info: it is collected, and its entry goes.
	deadline := time.Now().Add(10 * time.Second)
	for s.len() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the entry of a collected info stayed")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if s.get(k) != nil {
		t.Fatal("a collected info is still returned")
	}
	if s.has(k) {
		t.Fatal("has still answers for a collected info")
	}
	third := &hashing.Info{}
	if got := s.canonical(k, third); got != third {
		t.Fatal("a new copy after the old one was collected was not kept")
	}
	runtime.KeepAlive(third)
}

// The hint is lossy: a key whose place another key took is still known,
// through the stripes, and takes its place back.
func TestInfoSetHasPastTheHint(t *testing.T) {
	s := newInfoSet()
	k := hashing.Key{Scheme: hashing.XEP0115, Alg: hashing.SHA1}
	info := &hashing.Info{}
	s.canonical(k, info)
	h := s.hash(k)
	ht := s.hint.Load()
	ways, tag := ht.bucket(h)
	for i := range ways {
		ways[i].Store(tag ^ uint32(2*(i+1))) // other keys' tags fill k's bucket
	}
	if ht.has(h) {
		t.Fatal("k is still in the hint")
	}
	if !s.has(k) {
		t.Fatal("a key that lost its hint is not known")
	}
	if !ht.has(h) {
		t.Fatal("has did not put the key back in the hint")
	}
	other := hashing.Key{Scheme: hashing.XEP0390, Alg: hashing.SHA256}
	if s.has(other) {
		t.Fatal("a key never added is known")
	}
	runtime.KeepAlive(info)
}

// A key keeps one place in its bucket: put finds its tag behind an
// empty place instead of taking that place too, which would let one key
// hold two of its bucket's four.
func TestHintPutOnce(t *testing.T) {
	ht := newHintTable(hintMin)
	const h = 0x0123456789abcdef
	ways, tag := ht.bucket(h)
	ways[2].Store(tag) // k's place, with empty ones before it
	ht.put(h)
	n := 0
	for i := range ways {
		if ways[i].Load() == tag {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the tag holds %d places of its bucket after put, want 1", n)
	}
	// A full bucket without k: put takes one place, keeping three others.
	for i := range ways {
		ways[i].Store(tag ^ uint32(2*(i+1)))
	}
	ht.put(h)
	n = 0
	for i := range ways {
		if ways[i].Load() == tag {
			n++
		}
	}
	if n != 1 || !ht.has(h) {
		t.Fatalf("put into a full bucket: the tag holds %d places, want 1", n)
	}
}

// The hint grows with the keys held, so that most of them keep a place,
// and shrinks back once they are gone: bounded by what is live.
func TestInfoSetHintFollowsTheKeys(t *testing.T) {
	s := newInfoSet()
	const n = 3 * hintMin
	keys := make([]hashing.Key, n)
	infos := make([]*hashing.Info, n)
	for i := range keys {
		var sum [20]byte
		sum[0], sum[1], sum[2] = byte(i), byte(i>>8), byte(i>>16)
		k, err := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, base64.StdEncoding.EncodeToString(sum[:]))
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
		infos[i] = &hashing.Info{}
		s.canonical(keys[i], infos[i])
	}
	if places := len(s.hint.Load().tags); places < n {
		t.Fatalf("%d keys held, %d places in the hint", n, places)
	}
	// Every key asked once takes its place; then most answer from it.
	for _, k := range keys {
		if !s.has(k) {
			t.Fatal("a held key is not known")
		}
	}
	// Three quarters full, a direct-mapped hint keeps 70% of the keys;
	// four ways keep 89%.
	inHint := 0
	for _, k := range keys {
		if s.hint.Load().has(s.hash(k)) {
			inHint++
		}
	}
	if inHint < n*85/100 {
		t.Errorf("%d of %d keys in the hint", inHint, n)
	}
	runtime.KeepAlive(infos)
	infos = nil
	deadline := time.Now().Add(20 * time.Second)
	for s.len() > 0 || len(s.hint.Load().tags) > hintMin {
		if time.Now().After(deadline) {
			t.Fatalf("%d entries and %d places left once every info was collected", s.len(), len(s.hint.Load().tags))
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if s.n.Load() != 0 {
		t.Errorf("the entry count is %d with no entry", s.n.Load())
	}
}
