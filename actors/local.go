package actors

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/supervise"
	"github.com/capsengine/capsengine/messages"
)

// localHistory is how many announcements, the current one included, we
// still answer disco#info for: peers may query a ver we announced a moment
// ago, after it changed.
const localHistory = 4

// localSnapshot is what readers see of our identity, swapped atomically by
// the local actor so that answering disco#info and decorating presence
// never wait for it.
type localSnapshot struct {
	info   *hashing.Info
	ann    messages.Announcement
	byNode map[string]*hashing.Info // node#ver and caps2 nodes of the last localHistory announcements
	recent []localVersion           // newest first
}

type localVersion struct {
	info  *hashing.Info
	nodes []string
}

type setLocal struct{ info *hashing.Info }

type applyLocal struct{ gen uint64 }

// flushLocal applies a pending change now and replies when done.
type flushLocal struct{ done chan struct{} }

type localActor struct {
	d       *core
	snap    *atomic.Pointer[localSnapshot]
	pending *hashing.Info
	gen     uint64
	timer   *time.Timer
}

func (a *localActor) Receive(ctx actor.Context) {
	defer func() { supervise.Recovered(a.d.log, &a.d.counters.Panics, "local identity actor", recover()) }()
	switch m := ctx.Message().(type) {
	case *setLocal:
		a.pending = m.info
		if a.d.cfg.Debounce <= 0 {
			a.apply()
			return
		}
		if a.timer == nil {
			a.gen++
			self, sys, gen := ctx.Self(), a.d.system, a.gen
			a.timer = time.AfterFunc(a.d.cfg.Debounce, func() { sys.Root.Send(self, &applyLocal{gen}) })
		}
	case *applyLocal:
		if m.gen == a.gen {
			a.apply()
		}
	case *flushLocal:
		a.apply()
		close(m.done)
	case *actor.Stopping:
		if a.timer != nil {
			a.timer.Stop()
		}
	}
}

// apply makes the pending disco#info current and publishes VerChanged when
// the announced hashes really changed.
func (a *localActor) apply() {
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.gen++
	info := a.pending
	if info == nil {
		return
	}
	a.pending = nil
	ann, nodes, err := announce(&a.d.cfg, info)
	if err != nil { // SetLocal validated it; only a bug gets here
		a.d.log.Error("local identity", "err", err)
		return
	}
	old := a.snap.Load()
	if old != nil && sameAnnouncement(old.ann, ann) {
		// Same hashes: keep answering for them with the new value (it
		// can differ only in what hashing ignores, such as Node).
		return
	}
	next := &localSnapshot{info: info, ann: ann, byNode: make(map[string]*hashing.Info)}
	next.recent = append(next.recent, localVersion{info, nodes})
	if old != nil {
		for _, v := range old.recent {
			if len(next.recent) == localHistory {
				break
			}
			next.recent = append(next.recent, v)
		}
	}
	for _, v := range next.recent {
		for _, n := range v.nodes {
			if _, ok := next.byNode[n]; !ok {
				next.byNode[n] = v.info
			}
		}
	}
	a.snap.Store(next)
	var oldAnn messages.Announcement
	if old != nil {
		oldAnn = old.ann
	}
	a.d.counters.VerChanges.Add(1)
	a.d.hub.Publish(&messages.VerChanged{Old: oldAnn, New: ann})
}

// announce computes what we announce for info, and the disco#info nodes
// peers will query for it.
func announce(cfg *Config, info *hashing.Info) (messages.Announcement, []string, error) {
	var ann messages.Announcement
	ver, err := hashing.Ver(cfg.LocalHash, info)
	if err != nil {
		return ann, nil, err
	}
	ann.Caps = messages.Caps{Hash: cfg.LocalHash.String(), Node: cfg.LocalNode, Ver: ver}
	nodes := []string{hashing.CapsNode(cfg.LocalNode, ver)}
	for _, alg := range cfg.LocalCaps2 {
		v, err := hashing.Caps2(alg, info)
		if err != nil {
			return ann, nil, err
		}
		ann.Caps2 = append(ann.Caps2, messages.Hash{Algo: alg.String(), Value: v})
		nodes = append(nodes, hashing.Caps2Node(alg, v))
	}
	return ann, nodes, nil
}

func sameAnnouncement(a, b messages.Announcement) bool {
	return a.Caps == b.Caps && slices.Equal(a.Caps2, b.Caps2)
}
