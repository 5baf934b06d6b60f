package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/cluster"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// memberConfig tells one process of a cluster benchmark what to run.
// RunCluster writes it as JSON; RunMember reads it.
type memberConfig struct {
	Index   int `json:"index"`
	Members int `json:"members"` // processes in this run; the member waits until it sees them all
	// Workload is this member's share of the stream, Answers the honest
	// disco#info documents ("" none), Keys a file with every resolvable
	// key of the whole stream, one per line: the member reports how many
	// of them its own store holds after the passes.
	Workload string `json:"workload"`
	Answers  string `json:"answers"`
	Keys     string `json:"keys"`
	DataDir  string `json:"data_dir"` // "" keeps the store in memory

	Peers        PeerSpec      `json:"peers"`
	Workers      int           `json:"workers"`
	Batch        int           `json:"batch"`
	QueryTimeout time.Duration `json:"query_timeout"`
	HangTimeout  time.Duration `json:"hang_timeout"`
	CacheBytes   int64         `json:"cache_bytes"`
	// Tuning is passed to the engine; Cluster nil runs the member alone.
	Tuning  capsengine.Tuning `json:"tuning"`
	Cluster *cluster.Config   `json:"cluster"`
	// CPUProfile, when set, is where the member writes a CPU profile of
	// its passes and its trickle.
	CPUProfile string `json:"cpu_profile,omitempty"`
	// GOMAXPROCS, when positive, is set before the engine starts.
	GOMAXPROCS int `json:"gomaxprocs,omitempty"`
	// CPU, when set, is the one core the member runs on (--pin).
	CPU *int `json:"cpu,omitempty"`
	// Trickle is how many brand-new keys the trickle command announces,
	// one at a time, each waited for before the next.
	Trickle int `json:"trickle,omitempty"`
}

// memberMsg is one line a member writes on its stdout.
type memberMsg struct {
	Ev      string       `json:"ev"` // ready, phase, final, closed, error
	Err     string       `json:"err,omitempty"`
	Members int          `json:"members,omitempty"`
	Phase   *phaseReport `json:"phase,omitempty"`
	// Cold pass only: the resolve time of every cold key whose first
	// presence this member saw (µs), and the first lookups that failed
	// or hung.
	TimingsUs []int64        `json:"timings_us,omitempty"`
	Failed    int            `json:"failed,omitempty"`
	Hangs     int            `json:"hangs,omitempty"`
	FailedBy  map[string]int `json:"failed_by,omitempty"`
	Final     *memberFinal   `json:"final,omitempty"`
	// Trickle command: its wall and CPU time, and the honest answers the
	// member's peers gave per node of the new keys.
	Seconds    float64          `json:"seconds,omitempty"`
	CPUSeconds float64          `json:"cpu_seconds,omitempty"`
	Answered   map[string]int32 `json:"answered,omitempty"`
}

// memberFinal is a member's account after its passes.
type memberFinal struct {
	Presences    int `json:"presences"`
	ListedKeys   int `json:"listed_keys"`   // lines of MemberConfig.Keys
	ResolvedKeys int `json:"resolved_keys"` // of which this member's store holds
	// Answered counts the honest answers this member's peers gave, by
	// node index in the answers: summed over the members, more than one
	// for a node is a query the cluster should not have sent.
	Answered     map[int32]int32   `json:"answered,omitempty"`
	Queries      int64             `json:"queries"`
	Honest       int64             `json:"honest"`
	Failed       int64             `json:"failed"`
	LiarAnswers  int64             `json:"liar_answers"`
	PeakRSSBytes int64             `json:"peak_rss_bytes"`
	HeapBytes    int64             `json:"heap_bytes"`
	JIDs         int               `json:"jids"`
	Counters     map[string]uint64 `json:"counters"`
}

// RunMember runs one process of a cluster benchmark: it opens the engine
// described by the config file at cfgPath (joining the cluster, if any),
// says "ready" once it sees every member, then runs the commands read
// from in, one per line — cold, warm, final, trickle, quit — answering
// each with a JSON line on out. It returns when told to quit or when in
// ends.
func RunMember(ctx context.Context, cfgPath string, in io.Reader, out io.Writer, logger *slog.Logger) (err error) {
	enc := json.NewEncoder(out)
	defer func() {
		if err != nil {
			_ = enc.Encode(memberMsg{Ev: "error", Err: err.Error()})
		}
	}()
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	var cfg memberConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("bench: member config: %w", err)
	}
	if cfg.GOMAXPROCS > 0 {
		runtime.GOMAXPROCS(cfg.GOMAXPROCS)
	}
	if cfg.CPU != nil {
		if err := pinProcess(*cfg.CPU); err != nil {
			return err
		}
	}
	var ans *answers
	if cfg.Answers != "" {
		if ans, err = readAnswersFile(cfg.Answers); err != nil {
			return err
		}
	}
	w, err := openWorkload(cfg.Workload, &cfg.Peers, ans)
	if err != nil {
		return err
	}
	defer w.Close()
	defer ans.Close()
	o := &Options{
		Peers: cfg.Peers, Workers: cfg.Workers, Batch: cfg.Batch,
		QueryTimeout: cfg.QueryTimeout, HangTimeout: cfg.HangTimeout,
		CacheBytes: cfg.CacheBytes, Tuning: cfg.Tuning, Logger: logger,
		InMemory: cfg.DataDir == "", CPUProfile: cfg.CPUProfile,
	}
	if cfg.Cluster != nil {
		o.Cluster = cluster.New(*cfg.Cluster)
	}
	o.setDefaults()
	defer o.stopCPUProfile() // a no-op once quit stopped it
	e := &engineRun{o: o, w: w, peers: newPeers(cfg.Peers, ans), dir: cfg.DataDir}

	freeMemory()
	resetPeakRSS()
	heap0 := heapAlloc()
	eng, err := e.open(ctx)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			_ = eng.Close(context.Background())
		}
	}()
	if cfg.Cluster != nil {
		if err := waitMembers(ctx, eng, cfg.Members); err != nil {
			return err
		}
	}
	if err := enc.Encode(memberMsg{Ev: "ready", Members: max(eng.ClusterMembers(), 1)}); err != nil {
		return err
	}

	rep := &systemReport{Name: "engine"}
	pr := &phaseRunner{e: e, eng: eng, rep: rep, total: map[string]uint64{}}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch cmd := strings.TrimSpace(sc.Text()); cmd {
		case "cold":
			if err := o.startCPUProfile(); err != nil {
				return err
			}
			// Every key waited for (probeEvery 0): a cluster run's
			// resolve_latency is made of the members' Waits (runSide),
			// over the 10,000 keys of its default workload.
			ei := &engineIngest{eng: eng, w: w, hang: o.HangTimeout, cold: true, settled: make(chan struct{}),
				clock: newColdClock(w)}
			p, err := pr.run(ctx, "cold", ei)
			if err != nil {
				return err
			}
			us := make([]int64, len(ei.timings))
			for i, d := range ei.timings {
				us[i] = d.Microseconds()
			}
			err = enc.Encode(memberMsg{Ev: "phase", Phase: p, TimingsUs: us, Failed: ei.failed, Hangs: ei.hangs, FailedBy: ei.reasons})
			if err != nil {
				return err
			}
		case "warm":
			p, err := pr.run(ctx, "warm", &engineIngest{eng: eng, w: w, settled: make(chan struct{})})
			if err != nil {
				return err
			}
			if err := enc.Encode(memberMsg{Ev: "phase", Phase: p}); err != nil {
				return err
			}
		case "trickle":
			msg, err := e.trickle(ctx, eng, cfg.Index, cfg.Trickle)
			if err != nil {
				return err
			}
			if err := enc.Encode(msg); err != nil {
				return err
			}
		case "final":
			f, err := e.final(eng, cfg.Keys, pr.total, heap0)
			if err != nil {
				return err
			}
			if err := enc.Encode(memberMsg{Ev: "final", Final: f}); err != nil {
				return err
			}
		case "quit":
			o.stopCPUProfile()
			closed = true
			if err := eng.Close(ctx); err != nil {
				return err
			}
			return enc.Encode(memberMsg{Ev: "closed"})
		default:
			return fmt.Errorf("bench: member: unknown command %q", cmd)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("bench: member: the parent closed the command stream")
}

// waitMembers returns once eng sees n cluster members: a member that
// started measuring before the others joined would own every key alone.
func waitMembers(ctx context.Context, eng *capsengine.Engine, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for eng.ClusterMembers() < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: member sees %d of %d cluster members after 60 s", eng.ClusterMembers(), n)
		case <-t.C:
		}
	}
	return nil
}

// final is the member's account after its passes.
func (e *engineRun) final(eng *capsengine.Engine, keysPath string, total map[string]uint64, heap0 uint64) (*memberFinal, error) {
	f := &memberFinal{
		Presences: e.w.Len(), Counters: total, JIDs: eng.JIDs(),
		Queries: e.peers.Queries.Load(), Honest: e.peers.HonestAnswers.Load(),
		Failed: e.peers.Failed(), LiarAnswers: e.peers.LiarAnswers.Load(),
		Answered: map[int32]int32{},
	}
	f.HeapBytes = int64(heapAlloc()) - int64(heap0)
	f.PeakRSSBytes = readStatus("VmHWM")
	for i := range e.peers.perNode {
		if c := e.peers.perNode[i].Load(); c > 0 {
			f.Answered[int32(i)] = c
		}
	}
	if keysPath == "" {
		return f, nil
	}
	kf, err := os.Open(keysPath)
	if err != nil {
		return nil, err
	}
	defer kf.Close()
	st := eng.Storage()
	sc := bufio.NewScanner(kf)
	for sc.Scan() {
		k, err := parseKeyLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("bench: keys file: %w", err)
		}
		f.ListedKeys++
		if _, err := st.Get(k); err == nil {
			f.ResolvedKeys++
		}
	}
	return f, sc.Err()
}

// trickle announces n keys no one has seen, one at a time from a new
// honest JID each, and times each until resolved: the cost of a cold key
// on an idle engine, without the cold pass's load.
func (e *engineRun) trickle(ctx context.Context, eng *capsengine.Engine, member, n int) (*memberMsg, error) {
	msg := &memberMsg{Ev: "trickle"}
	// An idle member still spends CPU (membership polls, gossip): measure
	// that rate first and charge the keys only with what they add.
	const idle = 500 * time.Millisecond
	c, t := cpuTime(), time.Now()
	time.Sleep(idle)
	idleRate := float64(cpuTime()-c) / float64(time.Since(t))
	cpu0, start := cpuTime(), time.Now()
	for i := range n {
		info := &hashing.Info{
			Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "trickle"}},
			Features: []string{messages.NSCaps, "http://jabber.org/protocol/disco#info",
				fmt.Sprintf("urn:xmpp:bench:trickle:%d:%d", member, i)},
		}
		ver, err := hashing.Ver(hashing.SHA1, info)
		if err != nil {
			return nil, err
		}
		const node = "https://trickle.bench.example"
		e.peers.AddAnswer(hashing.CapsNode(node, ver), info)
		jid := fmt.Sprintf("trickle%d.%d@bench.example/t", member, i)
		for k := 0; behaviourOf(&e.o.Peers, jid) != honest; k++ {
			jid = fmt.Sprintf("trickle%d.%d.%d@bench.example/t", member, i, k)
		}
		t := time.Now()
		err = eng.Ingest(ctx, &messages.Presence{From: jid, Caps: &messages.Caps{Hash: "sha-1", Node: node, Ver: ver}})
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, e.o.HangTimeout)
		_, err = eng.Wait(wctx, jid)
		cancel()
		switch {
		case err == nil:
			msg.TimingsUs = append(msg.TimingsUs, time.Since(t).Microseconds())
		case errors.Is(err, context.DeadlineExceeded):
			msg.Hangs++
		default:
			msg.Failed++
		}
	}
	took := time.Since(start)
	msg.Seconds = took.Seconds()
	msg.CPUSeconds = max((cpuTime()-cpu0).Seconds()-idleRate*took.Seconds(), 0)
	msg.Answered = e.peers.extraAnswers()
	return msg, nil
}
