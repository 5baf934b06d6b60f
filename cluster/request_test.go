package cluster

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// A member's channel closes when a topology no longer lists it, and only
// then; before any topology nobody has left.
func TestPresence(t *testing.T) {
	var p presence
	if c := p.watch("a"); c != nil {
		t.Fatal("before any topology, a request's owner counted as gone")
	}
	p.update([]string{"a", "b"})
	a, b := p.watch("a"), p.watch("b")
	if isClosed(a) || isClosed(b) {
		t.Fatal("a member's channel closed while it is a member")
	}
	p.update([]string{"b", "c"})
	if !isClosed(a) {
		t.Fatal("a left, and its channel stayed open")
	}
	if isClosed(b) || p.watch("b") != b {
		t.Fatal("b stayed, and its channel was closed or replaced")
	}
	if !isClosed(p.watch("a")) {
		t.Fatal("a request to a member that left would wait")
	}
	if len(p.live) != 2 {
		t.Fatalf("%d channels kept for 2 members", len(p.live))
	}
}

// A request whose owner's member leaves ends at once, and one whose
// context ends does too: neither waits out RequestTimeout.
func TestRequestEndsWhenOwnerLeaves(t *testing.T) {
	m, c := forwardingMember(t)
	m.cfg.RequestTimeout = time.Minute
	self := c.MemberList.Members().Members()
	// A member that never answers: nothing listens at its address.
	other := &cluster.Member{Id: "other", Host: "127.0.0.1", Port: 1, Kinds: []string{kind}}
	all := append(slices.Clone(self), other)
	m.owners.setMembers(all)
	m.present.update([]string{self[0].Address(), other.Address()})
	var theirs string
	for i := 0; theirs == ""; i++ {
		if id := fmt.Sprintf("k%d", i); m.owners.ownerOf(id, kind) == other.Address() {
			theirs = id
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.Request(context.Background(), theirs, kind, wrapperspb.String("hello"))
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	m.present.update([]string{self[0].Address()})
	select {
	case err := <-done:
		if !errors.Is(err, errOwnerLeft) {
			t.Fatalf("request to a member that left: %v, want errOwnerLeft", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request to a member that left still waits")
	}

	m.present.update([]string{self[0].Address(), other.Address()})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := m.Request(ctx, theirs, kind, wrapperspb.String("hello"))
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("request whose context ended: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request whose context ended still waits")
	}

	// A request waiting for its reply holds one goroutine, its caller's:
	// a hundred of them add about a hundred goroutines, where a request
	// that waited on a protoactor future from a goroutine of its own, and
	// looked at the membership from another, held two each. (Here, not in
	// a test of its own: a member started after this one's dials to the
	// silent member races with them on grpc's global logger.)
	var ids []string
	for i := 0; len(ids) < 100; i++ {
		if id := fmt.Sprintf("g%d", i); m.owners.ownerOf(id, kind) == other.Address() {
			ids = append(ids, id)
		}
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	before := runtime.NumGoroutine()
	for _, id := range ids {
		go func() {
			_, err := m.Request(ctx, id, kind, wrapperspb.String("hello"))
			done <- err
		}()
	}
	time.Sleep(500 * time.Millisecond)
	if added := runtime.NumGoroutine() - before; added > len(ids)+len(ids)/2 {
		t.Errorf("%d requests waiting added %d goroutines, want about one each", len(ids), added)
	}
	cancel()
	for range ids {
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("a request whose context ended: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a request whose context ended still waits")
		}
	}
}
