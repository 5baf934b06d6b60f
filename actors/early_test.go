package actors

import (
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/hashing"
)

// A claim is the key's first contact in the whole engine: it succeeds
// once, and not again while anything holds the key — its count, or its
// query not yet taken by a lookup.
func TestKeySetClaim(t *testing.T) {
	_, k, _ := client(t, "claim", nil)
	s := newKeySet()
	w := newStoreWrites()
	claim := func(k hashing.Key, q *earlyQuery) bool { return s.claim(k, q, w, w.stamp(k)) }
	q := &earlyQuery{}
	if !claim(k, q) {
		t.Fatal("first claim refused")
	}
	if claim(k, &earlyQuery{}) || !s.has(k) || s.earlyOf(k) != q {
		t.Fatal("a second claim succeeded, or the first is not held")
	}
	s.remove(k) // the request was routed: its count goes
	if !s.has(k) || claim(k, &earlyQuery{}) {
		t.Fatal("a query not taken yet must keep the key claimed")
	}
	if s.takeEarly(k) != q || s.takeEarly(k) != nil {
		t.Fatal("takeEarly must hand the query over once")
	}
	if s.has(k) || !claim(k, &earlyQuery{}) {
		t.Fatal("a key nothing holds must be claimable again")
	}
	s.add(k)
	if _, k2, _ := client(t, "other", nil); !claim(k2, &earlyQuery{}) || s.len() != 2 {
		t.Fatal("claims of other keys interfere")
	}
}

// A claim is refused when the key may have been written since the
// caller's store read missed it: between that read and the claim, another
// caller's whole lookup may have asked, stored and ended, leaving nothing
// that holds the key. Claiming then asked for a known key twice (a rare
// duplicate query under a loaded host, where a caller can stall that
// long).
func TestKeySetClaimAfterAWrite(t *testing.T) {
	_, k, _ := client(t, "claim", nil)
	s, w := newKeySet(), newStoreWrites()
	missed := w.stamp(k) // the caller's store read misses k
	// Meanwhile another caller claims k, its lookup writes it and ends.
	other := &earlyQuery{}
	if !s.claim(k, other, w, w.stamp(k)) {
		t.Fatal("the other caller's claim was refused")
	}
	s.remove(k)
	if s.takeEarly(k) != other {
		t.Fatal("the other query was not held")
	}
	w.wrote(k)
	if s.has(k) {
		t.Fatal("nothing should hold the key once its lookup ended")
	}
	if s.claim(k, &earlyQuery{}, w, missed) {
		t.Fatal("claimed a key written since the caller's store read")
	}
	if s.has(k) {
		t.Fatal("a refused claim holds the key")
	}
	if !s.claim(k, &earlyQuery{}, w, w.stamp(k)) {
		t.Fatal("a claim with a fresh stamp was refused")
	}
}

// collector is an actor that forwards what it receives to a channel.
type collector chan any

func (c collector) Receive(ctx actor.Context) {
	if _, sys := ctx.Message().(actor.SystemMessage); !sys {
		c <- ctx.Message()
	}
}

func earlyCore(t *testing.T) *core {
	now := time.Unix(1_700_000_000, 0)
	d := logicDeps(Config{}, &now)
	d.system = actor.NewActorSystem()
	t.Cleanup(d.system.Shutdown)
	return d
}

// earlyWithWait is a new early query for a fresh key's announcer jid,
// with one Wait parked on it.
func earlyWithWait(t *testing.T, name, jid string) (*core, hashing.Key, *earlyQuery, chan waitResult) {
	d := earlyCore(t)
	_, k, node := client(t, name, nil)
	q := newEarlyQuery(d, k, nil, jid, node)
	w := make(chan waitResult, 1)
	if !q.park(w) {
		t.Fatal("park refused before the lookup bound")
	}
	return d, k, q, w
}

// collect spawns a collector: the lookup an early query binds to.
func collect(d *core) (collector, *actor.PID) {
	c := make(collector, 8)
	return c, d.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return c }))
}

func recv(t *testing.T, c collector) any {
	t.Helper()
	select {
	case m := <-c:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered")
		return nil
	}
}

// The early query's outcome reaches the lookup whenever it binds, in
// order; a verified answer that comes first answers the Waits parked on
// the query and the tables at once.
func TestEarlyQueryHandsOver(t *testing.T) {
	d, k, q, w1 := earlyWithWait(t, "early", "a@x/r")
	info, _, _ := client(t, "early", nil)
	q.send(&querySlow{gen: earlyGen})
	q.send(&queryDone{gen: earlyGen, jid: "a@x/r", info: info})
	if r := <-w1; r.err != nil || r.info == nil || r.key != k {
		t.Fatalf("parked Wait got %+v", r)
	}
	if d.infos.get(k) == nil {
		t.Error("the verified answer did not reach the tables' infos")
	}
	w2 := make(chan waitResult, 1)
	if !q.park(w2) || (<-w2).info == nil {
		t.Fatal("a Wait parked after the answer is not answered at once")
	}
	c, pid := collect(d)
	if ws := q.bind(pid); len(ws) != 0 {
		t.Fatalf("bind handed over %d answered Waits", len(ws))
	}
	q.send(&queryStored{gen: earlyGen})
	if _, ok := recv(t, c).(*querySlow); !ok {
		t.Fatal("the held messages are out of order")
	}
	if m, ok := recv(t, c).(*queryDone); !ok || !m.settled || m.info != d.infos.get(k) {
		t.Fatalf("the answer reached the lookup as %+v; want settled, with the one copy of its info", m)
	}
	if _, ok := recv(t, c).(*queryStored); !ok {
		t.Fatal("stored did not follow the answer")
	}
	if q.park(make(chan waitResult, 1)) {
		t.Error("park accepted a Wait once the lookup is bound")
	}
}

// A failed early query decides nothing: the parked Waits go to the
// lookup, which may ask another announcer.
func TestEarlyQueryFailureWaitsForTheLookup(t *testing.T) {
	d, k, q, w := earlyWithWait(t, "failed", "liar@x/r")
	q.send(&queryDone{gen: earlyGen, jid: "liar@x/r", err: &hashing.MismatchError{Key: k}})
	select {
	case r := <-w:
		t.Fatalf("a failed query answered a Wait: %+v", r)
	default:
	}
	c, pid := collect(d)
	if ws := q.bind(pid); len(ws) != 1 {
		t.Fatalf("bind handed over %d Waits, want 1", len(ws))
	}
	if m, ok := recv(t, c).(*queryDone); !ok || m.settled || m.err == nil {
		t.Fatalf("the lookup got %+v", m)
	}
}

// A query whose lookup the router cannot start is cancelled, and the
// Waits on it told ErrOverloaded, now and later.
func TestEarlyQueryAbandoned(t *testing.T) {
	_, _, q, w := earlyWithWait(t, "dropped", "a@x/r")
	q.abandon()
	if r := <-w; !errors.Is(r.err, ErrOverloaded) {
		t.Fatalf("parked Wait got %+v", r)
	}
	if !q.job.isCancelled() {
		t.Error("the query was not cancelled")
	}
	w2 := make(chan waitResult, 1)
	if !q.park(w2) || !errors.Is((<-w2).err, ErrOverloaded) {
		t.Error("a later Wait is not told ErrOverloaded")
	}
}
