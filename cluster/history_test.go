package cluster

import (
	"fmt"
	"slices"
	"testing"

	"github.com/asynkron/protoactor-go/cluster"
)

const kind = "capsengine-lookup"

func members(ports ...int) cluster.Members {
	var ms cluster.Members
	for _, p := range ports {
		ms = append(ms, &cluster.Member{Host: "127.0.0.1", Port: int32(p), Id: fmt.Sprint(p), Kinds: []string{kind}})
	}
	return ms
}

// ownerUnder is the member protoactor's disthash places identity on.
func ownerUnder(ms cluster.Members, identity string) string {
	r := cluster.NewRendezvous()
	r.UpdateMembers(ms)
	return r.GetByClusterIdentity(&cluster.ClusterIdentity{Identity: identity, Kind: kind})
}

// A member that joins late, then sees the cluster grow: for every key,
// the member that owned it when it was resolved — before this member
// joined, or under any later membership — is among the past owners,
// and there are at most as many as the owner actor probes (3).
func TestPastOwnersAfterJoins(t *testing.T) {
	var h history
	self := "127.0.0.1:7003"
	// The cluster before this member: 7001, 7002.
	h.observe(self, members(7001, 7002, 7003))
	h.observe(self, members(7001, 7002, 7003)) // unchanged: not a new entry
	h.observe(self, members(7001, 7002, 7003, 7004))
	h.observe(self, members(7001, 7002, 7003, 7004, 7005))
	if len(h.places) != 4 {
		t.Fatalf("%d memberships remembered, want 4 (the one before this member, then 3)", len(h.places))
	}
	sets := []cluster.Members{members(7001, 7002), members(7001, 7002, 7003), members(7001, 7002, 7003, 7004)}
	for i := range 1000 {
		id := fmt.Sprintf("sha-1:key%d", i)
		past := h.pastOwners(id, kind)
		if len(past) == 0 || len(past) > 3 {
			t.Fatalf("%s: past owners %v", id, past)
		}
		for _, ms := range sets {
			if o := ownerUnder(ms, id); !slices.Contains(past, o) {
				t.Fatalf("%s: owner %s under %d members is not among the past owners %v", id, o, len(ms), past)
			}
		}
		if past[0] != ownerUnder(sets[2], id) {
			t.Fatalf("%s: newest past owner %s, want the previous membership's %s", id, past[0], ownerUnder(sets[2], id))
		}
	}
}

// A member of a cluster that started with it has no past owner for the
// keys it owns: nothing to probe.
func TestPastOwnersFreshCluster(t *testing.T) {
	var h history
	self := "127.0.0.1:7001"
	h.observe(self, members(7001))
	h.observe(self, members(7001, 7002))
	for i := range 200 {
		id := fmt.Sprintf("sha-1:key%d", i)
		past := h.pastOwners(id, kind)
		// Before 7002 came, 7001 alone owned everything; the empty
		// membership before it owns nothing.
		if !slices.Equal(past, []string{self}) {
			t.Fatalf("%s: past owners %v, want [%s]", id, past, self)
		}
	}
}

// The history is bounded, however often the membership changes.
func TestHistoryBounded(t *testing.T) {
	var h history
	for i := range 10 * historyLen {
		h.observe("127.0.0.1:7000", members(7000, 8000+i%7, 9000+i))
	}
	if len(h.places) != historyLen {
		t.Fatalf("%d memberships remembered, want %d", len(h.places), historyLen)
	}
	if past := h.pastOwners("k", kind); len(past) > historyLen-1 {
		t.Fatalf("%d past owners", len(past))
	}
}
