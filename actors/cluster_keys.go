package actors

import (
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/storage"
)

// Which keys other members held when this member first saw them.
//
// A new owner asks a key's past owners whether they hold its entry (the
// probe). Every member stores every entry any owner resolves, so a past
// owner can hold an entry this member lacks only if the entry was stored
// before the two saw each other: after that, its broadcast reached this
// member too. A member that joins asked its past owners about every new
// key it owned anyway, a miss each time, for as long as the membership
// before it stayed in the history (16 changes): 2,800–5,900 probes in a
// fresh two-member cluster's cold pass, and a round trip before each of
// those keys' queries (docs/cluster.md, fifteenth session).
//
// So when a member first appears in this member's view (it joined, or
// came back), this member asks it for its stored keys (KEYS). The other
// answers once its own view holds this member, so that what it stores
// from then on comes from broadcasts that reach this member too, with a
// copy of its store's key filter plus the entries on their way into its
// store. An owner then probes that member only for keys the copy may
// hold. Until the answer is in, or if none comes, it probes as before.
//
// A key stored by a third member while its view did not hold this one yet,
// and on its way to the answering member when that member took its copy,
// may be queried once more: the window is the one where views differ.
type peerKeys struct {
	mu    sync.Mutex
	asked map[string]bool            // members asked (or being asked) since they appeared
	sets  map[string]*storage.KeySet // their answers
	size  map[string]int             // the answers' encoded sizes
	bytes int                        // their sum, within maxPeerKeyBytes
	serve chan struct{}              // answers being prepared, at most maxKeysAnswers
	gen   map[string]uint64          // appearance of each member, to drop stale answers
	next  uint64
}

// maxPeerKeyBytes bounds the key sets a member keeps: a store's filter
// takes at most 2.4 MiB, so this holds some 25 members' at their largest,
// and any number of small ones. A member whose set does not fit is probed
// as before.
const maxPeerKeyBytes = 64 << 20

// maxKeysAnswers bounds the KEYS requests a member answers at once (each
// waits for its view to hold the asker); more are answered at once with
// no set, which makes the asker probe as before.
const maxKeysAnswers = 16

// keysPoll is how often an answering member looks whether its view holds
// the asker yet.
const keysPoll = 20 * time.Millisecond

// UserKeyStore is a Store that can copy its user store's key filter
// (storage.DB.UserKeys); without it, owners probe as before.
type UserKeyStore interface {
	UserKeys() (*storage.KeySet, bool)
}

// topology notes a new membership: members that left are forgotten, and
// each member that appeared is asked for its keys.
func (d *core) keysTopology(members []string) {
	self := d.system.Address()
	p := &d.peerKeys
	p.mu.Lock()
	if p.asked == nil {
		p.asked, p.sets, p.size, p.gen = map[string]bool{}, map[string]*storage.KeySet{}, map[string]int{}, map[string]uint64{}
	}
	for addr := range p.asked {
		if !slices.Contains(members, addr) {
			p.bytes -= p.size[addr]
			delete(p.asked, addr)
			delete(p.sets, addr)
			delete(p.size, addr)
			delete(p.gen, addr)
		}
	}
	var ask []string
	var gens []uint64
	for _, addr := range members {
		if addr == self || p.asked[addr] {
			continue
		}
		p.next++
		p.asked[addr], p.gen[addr] = true, p.next
		ask, gens = append(ask, addr), append(gens, p.next)
	}
	p.mu.Unlock()
	for i, addr := range ask {
		// Not one of d.tasks: it touches no store, and Close need not
		// wait out its future.
		go d.askKeys(addr, gens[i])
	}
}

// askKeys asks member addr for its keys and keeps the answer, unless addr
// left (or left and came back) meanwhile.
func (d *core) askKeys(addr string, gen uint64) {
	// The answer may wait for addr's view to hold this member, up to
	// RequestTimeout.
	f := d.system.Root.RequestFuture(actor.NewPID(addr, probeName),
		encode(tagKeys, &wireMsg{Origin: d.system.Address()}), 2*d.cluster.RequestTimeout())
	res, err := f.Result()
	if err != nil {
		return
	}
	tag, m, ok := d.decode(res)
	if !ok || tag != tagKeys || len(m.Keys) == 0 {
		return
	}
	set, err := storage.ParseKeySet(m.Keys)
	if err != nil {
		d.counters.WireRefused.Add(1)
		d.log.Warn("a member's key set did not parse", "member", addr, "err", err)
		return
	}
	p := &d.peerKeys
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen[addr] != gen || p.bytes+len(m.Keys) > maxPeerKeyBytes {
		return
	}
	p.sets[addr], p.size[addr] = set, len(m.Keys)
	p.bytes += len(m.Keys)
}

// mayHold keeps the members of addrs that may hold k: those whose key set
// may, and those this member has no set from.
func (d *core) mayHold(addrs []string, k hashing.Key) []string {
	p := &d.peerKeys
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.DeleteFunc(addrs, func(addr string) bool {
		set, ok := p.sets[addr]
		return ok && !set.MayHave(k)
	})
}

// keySets is how many members' key sets this member holds (tests).
func (d *core) keySets() int {
	d.peerKeys.mu.Lock()
	defer d.peerKeys.mu.Unlock()
	return len(d.peerKeys.sets)
}

// answerKeys answers asker's KEYS request, sent by reply, once this
// member's view holds asker (or RequestTimeout has passed): a copy of its
// store's key filter with the entries on their way into the store added.
func (d *core) answerKeys(asker string, reply *actor.PID) {
	p := &d.peerKeys
	p.mu.Lock()
	if p.serve == nil {
		p.serve = make(chan struct{}, maxKeysAnswers)
	}
	serve := p.serve
	p.mu.Unlock()
	self := d.system.Address()
	select {
	case serve <- struct{}{}:
	default:
		// Too many at once: no set, and the asker probes as before.
		d.system.Root.Send(reply, encode(tagKeys, &wireMsg{Origin: self}))
		return
	}
	d.tasks.Add(1)
	go func() {
		defer d.tasks.Done()
		defer func() { <-serve }()
		deadline := d.now().Add(d.cluster.RequestTimeout())
		for !slices.Contains(d.memberAddrs(), asker) && d.now().Before(deadline) {
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(keysPoll):
			}
		}
		out := &wireMsg{Origin: self}
		if us, ok := d.store.(UserKeyStore); ok {
			if set, ok := us.UserKeys(); ok {
				d.arriving.each(set.Add)
				if b, err := set.MarshalBinary(); err == nil {
					out.Keys = b
				}
			}
		}
		d.system.Root.Send(reply, encode(tagKeys, out))
	}()
}
