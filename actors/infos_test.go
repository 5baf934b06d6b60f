package actors

import (
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
	third := &hashing.Info{}
	if got := s.canonical(k, third); got != third {
		t.Fatal("a new copy after the old one was collected was not kept")
	}
	runtime.KeepAlive(third)
}
