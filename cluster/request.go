package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/capsengine/capsengine/cluster/internal/placementpb"
)

var (
	errNoMembers = errors.New("cluster: no member to own the key (membership not seen yet)")
	errRefused   = errors.New("cluster: the owner's member refused the request")
	errOwnerLeft = errors.New("cluster: the owner's member left the cluster")
)

// Request sends msg to the owner of identity and returns its answer. It
// goes to the placement actor of the member that owns identity under this
// member's view of the membership, which hands it to the owner, activated
// if need be; the owner answers here directly. One attempt, which ends
// with RequestTimeout, ctx, or as soon as the owner's member leaves the
// cluster (a reply cannot come then); a refusal (the two members' views
// of the membership differ, or the owner is ending) is an error too, and
// the engine asks again.
//
// The reply comes to a process of its own rather than to a protoactor
// future: a future can only be waited on by blocking a goroutine, so a
// request needed one goroutine to wait and another to look, on a timer,
// whether the owner's member was still there.
func (m *Member) Request(ctx context.Context, identity, kind string, msg any) (any, error) {
	pm, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("cluster: %T is not a protobuf message", msg)
	}
	body, err := anypb.New(pm)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	addr := m.owners.ownerOf(identity, kind)
	if addr == "" {
		return nil, errNoMembers
	}
	left := m.present.watch(addr)
	reg := m.system.ProcessRegistry
	r := &replyProcess{ch: make(chan any, 1)}
	pid, _ := reg.Add(r, "capsengine-reply$"+reg.NextId())
	defer reg.Remove(pid)
	fwd := &placementpb.Forward{Version: placementVersion, Identity: identity, Kind: kind, Message: body}
	m.system.Root.RequestWithCustomSender(actor.NewPID(addr, activatorName), fwd, pid)
	t := time.NewTimer(m.cfg.RequestTimeout)
	defer t.Stop()
	var v any
	select {
	case v = <-r.ch:
	case <-left:
		return nil, fmt.Errorf("%w: %s", errOwnerLeft, addr)
	case <-t.C:
		return nil, fmt.Errorf("cluster: request to %s: %w", addr, actor.ErrTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	switch r := v.(type) {
	case *placementpb.Refused:
		return nil, fmt.Errorf("%w: %s", errRefused, r.GetReason())
	case *actor.DeadLetterResponse:
		return nil, fmt.Errorf("cluster: %s has no placement actor (leaving?)", addr)
	}
	return v, nil
}

// replyProcess receives one request's reply.
type replyProcess struct{ ch chan any }

func (r *replyProcess) SendUserMessage(_ *actor.PID, m any) {
	select {
	case r.ch <- actor.UnwrapEnvelopeMessage(m):
	default: // a second reply: the first one counts
	}
}

func (r *replyProcess) SendSystemMessage(*actor.PID, any) {}
func (r *replyProcess) Stop(*actor.PID)                   {}

// presence tells requests when the member they wait on leaves: a channel
// per member, closed when a topology no longer lists it. It holds the
// members of the last topology only.
type presence struct {
	mu   sync.Mutex
	seen bool                     // a topology came
	live map[string]chan struct{} // address → closed when it leaves
}

// closed is what watch returns for an address that is not a member.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// watch is a channel closed once addr is no longer a member (at once if it
// is not one now). Before the first topology nobody has left.
func (p *presence) watch(addr string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.live[addr]; ok {
		return c
	}
	if !p.seen {
		return nil // never ready: wait for the reply or the timeout
	}
	return closed
}

// update takes the members of a new topology.
func (p *presence) update(addrs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = true
	next := make(map[string]chan struct{}, len(addrs))
	for _, a := range addrs {
		if c, ok := p.live[a]; ok {
			next[a] = c
		} else {
			next[a] = make(chan struct{})
		}
	}
	for a, c := range p.live {
		if _, ok := next[a]; !ok {
			close(c)
		}
	}
	p.live = next
}
