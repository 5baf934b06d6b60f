package freeport

import (
	"net"
	"slices"
	"strconv"
	"testing"
)

func TestPortsBelowEphemeralDistinctAndFree(t *testing.T) {
	lo := ephemeralLow()
	seen := map[int]bool{}
	for range 3 {
		ps, err := Ports(4)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 4 {
			t.Fatalf("got %d ports, want 4", len(ps))
		}
		for _, p := range ps {
			if seen[p] {
				t.Errorf("port %d handed out twice", p)
			}
			seen[p] = true
			if lo-floor >= 1000 && (p < floor || p >= lo) {
				t.Errorf("port %d outside [%d, %d)", p, floor, lo)
			}
			l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
			if err != nil {
				t.Errorf("port %d not free: %v", p, err)
				continue
			}
			l.Close()
		}
	}
}

// A port someone holds is never handed out: in a range where all but two
// ports are held, those two are the ones picked.
func TestPortsSkipsHeld(t *testing.T) {
	const lo, hi = 27000, 27040
	var free []int
	for p := lo; p < hi; p++ {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			continue // held by someone else already
		}
		if p == lo+7 || p == lo+31 {
			l.Close()
			free = append(free, p)
			continue
		}
		defer l.Close()
	}
	if len(free) != 2 {
		t.Skip("ports of the test range are taken on this machine")
	}
	mu.Lock()
	defer mu.Unlock()
	recent, order = map[int]bool{}, nil
	var ls []net.Listener
	ps, err := pickIn(2, lo, hi, &ls)
	for _, l := range ls {
		l.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ps)
	if !slices.Equal(ps, free) {
		t.Fatalf("picked %v, want the only free ones %v", ps, free)
	}
	// And none is handed out again.
	if _, err := pickIn(1, lo, hi, &ls); err == nil {
		t.Fatal("a third port from a range with two free ones")
	}
	for _, l := range ls {
		l.Close()
	}
}

// The ports handed out are remembered only recentPorts deep: a range used
// up by earlier picks is picked from again once enough others came after,
// and the memory stays at recentPorts however many are picked.
func TestRecentPortsBounded(t *testing.T) {
	const lo, hi = 27100, 27108
	for p := lo; p < hi; p++ {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			t.Skip("ports of the test range are taken on this machine")
		}
		l.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	recent, order = map[int]bool{}, nil
	pick := func() ([]int, error) {
		var ls []net.Listener
		defer func() {
			for _, l := range ls {
				l.Close()
			}
		}()
		return pickIn(1, lo, hi, &ls)
	}
	for range hi - lo {
		if _, err := pick(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pick(); err == nil {
		t.Fatal("a ninth port from a range of eight, all handed out a moment ago")
	}
	for i := range 3 * recentPorts {
		remember(40000 + i) // others picked since
	}
	if len(recent) != recentPorts || len(order) != recentPorts {
		t.Fatalf("remembering %d ports and %d in order, want %d", len(recent), len(order), recentPorts)
	}
	if _, err := pick(); err != nil {
		t.Fatalf("the range is not picked from again after %d other ports: %v", 3*recentPorts, err)
	}
}
