package supervise

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

type boom struct{}

type panicky struct{ started atomic.Int32 }

func (p *panicky) Receive(ctx actor.Context) {
	defer Rethrow()
	switch ctx.Message().(type) {
	case *actor.Started:
		p.started.Add(1)
	case boom:
		explode()
	}
}

func explode() { panic("kaboom") }

// An actor that panics many times in a row is restarted every time (not
// stopped after ten, as protoactor's default does), and each failure is
// logged with the stack of the panic.
func TestStrategyRestartsAndLogsStack(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	p := &panicky{}
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p },
		actor.WithGuardian(Strategy(log, "test"))))
	const n = 25
	for range n {
		sys.Root.Send(pid, boom{})
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.started.Load() < n+1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.started.Load(); got != n+1 {
		t.Fatalf("started %d times after %d panics, want %d", got, n, n+1)
	}
	out := buf.String()
	if c := strings.Count(out, "test: actor panicked; restarting"); c != n {
		t.Errorf("%d failures logged, want %d", c, n)
	}
	if !strings.Contains(out, "supervise.explode") {
		t.Errorf("log does not show where it panicked:\n%.2000s", out)
	}
}

func TestRecovered(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var n atomic.Uint64
	if Recovered(log, &n, "x", nil) || n.Load() != 0 || buf.String() != "" {
		t.Fatal("no panic must log and count nothing")
	}
	func() {
		defer func() {
			if !Recovered(log, &n, "shard actor", recover(), "key", "k1") {
				t.Error("a panic was not reported")
			}
		}()
		explode()
	}()
	out := buf.String()
	if n.Load() != 1 || !strings.Contains(out, "shard actor panicked") || !strings.Contains(out, "key=k1") ||
		!strings.Contains(out, "panic=kaboom") || !strings.Contains(out, "supervise.explode") {
		t.Errorf("count %d, log:\n%s", n.Load(), out)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
