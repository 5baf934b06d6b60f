package cluster

import (
	"slices"
	"sync"

	"github.com/asynkron/protoactor-go/cluster"
)

// historyLen bounds the memberships a member remembers. A key's owner
// changes only when a member that outranks it joins or the owner leaves,
// so a few past memberships name every member that owned a key lately;
// an entry resolved longer ago than that is queried again at worst.
const historyLen = 16

// history is the memberships this member saw, oldest first, each with
// the placement protoactor's disthash lookup uses (rendezvous hashing
// over the members' addresses), so that the owner of a key under each is
// computed the way protoactor placed it.
type history struct {
	mu     sync.Mutex
	places []placement
}

type placement struct {
	addrs []string // sorted
	rdv   *cluster.Rendezvous
}

// observe records a new membership. The first one is preceded by the
// same membership without this member: the cluster as it may have been
// before this member joined, when the keys this member now owns belonged
// to others (the case of a member that joins late, or restarts). self is
// this member's address.
func (h *history) observe(self string, members cluster.Members) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.places) == 0 {
		before := make(cluster.Members, 0, len(members))
		for _, m := range members {
			if m.Address() != self {
				before = append(before, m)
			}
		}
		h.add(before)
	}
	h.add(members)
}

func (h *history) add(members cluster.Members) {
	addrs := make([]string, 0, len(members))
	for _, m := range members {
		addrs = append(addrs, m.Address())
	}
	slices.Sort(addrs)
	if n := len(h.places); n > 0 && slices.Equal(h.places[n-1].addrs, addrs) {
		return
	}
	rdv := cluster.NewRendezvous()
	rdv.UpdateMembers(members)
	if len(h.places) == historyLen {
		h.places = slices.Delete(h.places, 0, 1)
	}
	h.places = append(h.places, placement{addrs: addrs, rdv: rdv})
}

// pastOwners are the owners of identity under every membership but the
// current one, newest first, without repeats.
func (h *history) pastOwners(identity, kind string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	ci := &cluster.ClusterIdentity{Identity: identity, Kind: kind}
	for i := len(h.places) - 2; i >= 0; i-- {
		if a := h.places[i].rdv.GetByClusterIdentity(ci); a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
