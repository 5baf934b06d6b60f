package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

func generate(t *testing.T, s Spec) (stanzas, answers []byte) {
	t.Helper()
	var a, b bytes.Buffer
	if err := writeWorkload(s, &a, &b); err != nil {
		t.Fatal(err)
	}
	return a.Bytes(), b.Bytes()
}

func smallSpec() Spec {
	return Spec{Seed: 42, Presences: 20_000, JIDs: 5_000, Unique: 300, Zipf: 0,
		Unavailable: 0.1, MUC: 0.2, Forms: 0.5, Caps2: 0.3}
}

func TestGenerateDeterministic(t *testing.T) {
	s := smallSpec()
	s1, a1 := generate(t, s)
	s2, a2 := generate(t, s)
	if !bytes.Equal(s1, s2) || !bytes.Equal(a1, a2) {
		t.Fatal("two runs with one seed generated different workloads")
	}
	s.Seed++
	s3, a3 := generate(t, s)
	if bytes.Equal(s1, s3) || bytes.Equal(a1, a3) {
		t.Fatal("another seed generated the same workload")
	}
}

func TestGenerateRejectsBadSpec(t *testing.T) {
	for name, mod := range map[string]func(*Spec){
		"no presences": func(s *Spec) { s.Presences = 0 },
		"share > 1":    func(s *Spec) { s.MUC = 1.5 },
		"negative":     func(s *Spec) { s.Unavailable = -0.1 },
		"zipf":         func(s *Spec) { s.Zipf = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			s := smallSpec()
			mod(&s)
			if err := writeWorkload(s, &bytes.Buffer{}, nil); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// within fails unless got is within tol of want.
func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s: got %.4f, want %.4f ± %.4f", what, got, want, tol)
	}
}

func TestGenerateShares(t *testing.T) {
	s := smallSpec()
	stanzas, answers := generate(t, s)
	ans, err := readAnswers(bytes.NewReader(answers))
	if err != nil {
		t.Fatal(err)
	}
	var docs, withForm int
	for i := range ans.Len() {
		in := ans.info(int32(i))
		if strings.HasPrefix(in.Node, messages.NSCaps2+"#") {
			continue // the same document, asked at its XEP-0390 node
		}
		docs++
		if len(in.Forms) > 0 {
			withForm++
		}
	}
	if docs != s.Unique {
		t.Errorf("documents: got %d, want %d", docs, s.Unique)
	}
	within(t, "share of documents with forms", float64(withForm)/float64(docs), s.Forms, 0.08)

	var (
		n, unavailable, muc, caps2, size int
		jids                             = map[string]bool{}
		clientOf                         = map[string]string{}
		d                                messages.Decoder
		v                                messages.PresenceView
	)
	sc := bufio.NewScanner(bytes.NewReader(stanzas))
	for sc.Scan() {
		line := sc.Bytes()
		n++
		size += len(line)
		if err := d.DecodePresence(line, &v); err != nil {
			t.Fatalf("stanza %d does not decode: %v\n%s", n, err, line)
		}
		from := string(v.From)
		jids[from] = true
		if string(v.Type) == "unavailable" {
			unavailable++
			continue
		}
		if v.MUC {
			muc++
		}
		if len(v.Caps2) > 0 {
			caps2++
		}
		// Each JID runs one client: its presences repeat the same caps.
		caps := string(v.Caps.Node) + "#" + string(v.Caps.Ver)
		if prev, ok := clientOf[from]; ok && prev != caps {
			t.Fatalf("%s announced %s, then %s", from, prev, caps)
		}
		clientOf[from] = caps
		// The announced hashes are real: the answer for them verifies.
		ks, err := v.AppendKeys(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			_, info, ok := ans.lookup(k.QueryNode(string(v.Caps.Node)))
			if !ok {
				t.Fatalf("no answer for %s", k)
			}
			if _, err := hashing.Verify(k, info, hashing.Options{}); err != nil {
				t.Fatalf("answer for %s: %v", k, err)
			}
		}
	}
	if n != s.Presences {
		t.Fatalf("stanzas: got %d, want %d", n, s.Presences)
	}
	if len(jids) != s.JIDs {
		t.Errorf("JIDs: got %d, want %d", len(jids), s.JIDs)
	}
	avail := n - unavailable
	within(t, "unavailable share", float64(unavailable)/float64(n), s.Unavailable, 0.01)
	within(t, "MUC share", float64(muc)/float64(avail), s.MUC, 0.03)
	within(t, "XEP-0390 share", float64(caps2)/float64(avail), s.Caps2, 0.06)
	if avg := float64(size) / float64(n); avg < 300 || avg > 400 {
		t.Errorf("average stanza: %.0f bytes, want 300–400", avg)
	}
}

// TestGenerateOrder checks that a JID's presences are far apart after the
// login burst, so that workers taking neighbouring chunks keep their order.
func TestGenerateOrder(t *testing.T) {
	s := smallSpec()
	stanzas, _ := generate(t, s)
	gap := min(8192, s.JIDs/4)
	last := map[string]int{}
	close := 0
	i := 0
	sc := bufio.NewScanner(bytes.NewReader(stanzas))
	for sc.Scan() {
		p, err := messages.ParsePresence(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if j, ok := last[p.From]; ok && i-j < gap {
			close++
		}
		last[p.From] = i
		i++
	}
	// The generator retries a few times, then gives up: a handful may be
	// close, not more.
	if close > s.Presences/1000 {
		t.Errorf("%d presences follow their JID's previous one within %d stanzas", close, gap)
	}
}

func TestWorkloadScan(t *testing.T) {
	ps := PeerSpec{Seed: 3, Liars: 0.05, Errors: 0.05, Timeouts: 0.05}
	w, _ := testWorkload(t, smallSpec(), ps)
	m := &w.Meta
	if m.Presences != 20_000 || w.Len() != 20_000 {
		t.Fatalf("presences %d, len %d", m.Presences, w.Len())
	}
	if m.Available+m.Unavailable+m.Other != m.Presences {
		t.Errorf("available %d + unavailable %d + other %d != %d", m.Available, m.Unavailable, m.Other, m.Presences)
	}
	if m.UniqueKeys == 0 || m.UniqueKeys > 300 || len(m.Firsts) != m.UniqueKeys {
		t.Errorf("unique keys %d, firsts %d", m.UniqueKeys, len(m.Firsts))
	}
	within(t, "liar JIDs", float64(m.LiarJIDs)/float64(m.JIDs), 0.05, 0.015)
	within(t, "error JIDs", float64(m.ErrorJIDs)/float64(m.JIDs), 0.05, 0.015)
	within(t, "timeout JIDs", float64(m.TimeoutJIDs)/float64(m.JIDs), 0.05, 0.015)
	for i, f := range m.Firsts {
		if i > 0 && f.Index <= m.Firsts[i-1].Index {
			t.Fatal("firsts out of order")
		}
		p, err := messages.ParsePresence(w.Stanza(int(f.Index)))
		if err != nil || p.From != f.JID {
			t.Fatalf("first %d: %v %q", i, err, f.JID)
		}
	}
	// Honests: one per resolvable key, in stream order, each the key's
	// first presence by an honest announcer, never before its first.
	if len(m.Honests) != m.Resolvable {
		t.Errorf("%d honest firsts, %d resolvable keys", len(m.Honests), m.Resolvable)
	}
	firstOf := map[int32]int32{}
	for _, f := range m.Firsts {
		firstOf[f.Key] = f.Index
	}
	late := 0
	for i, h := range m.Honests {
		if i > 0 && h.Index <= m.Honests[i-1].Index {
			t.Fatal("honest firsts out of order")
		}
		if behaviourOf(&ps, h.JID) != honest || !m.Keys[h.Key].Honest {
			t.Fatalf("honest first %d: %q is not an honest announcer of a resolvable key", i, h.JID)
		}
		if h.Index < firstOf[h.Key] {
			t.Fatalf("honest first %d comes before its key's first presence", i)
		}
		if h.Index > firstOf[h.Key] {
			late++
		}
	}
	if late == 0 {
		t.Error("no key waited for an honest announcer: with 15% bad JIDs some must")
	}
	// A stanza view is a stanza, without its newline.
	if s := w.Stanza(w.Len() - 1); !bytes.HasPrefix(s, []byte("<presence")) || !bytes.HasSuffix(s, []byte(">")) {
		t.Errorf("last stanza %q", s)
	}
}

func TestPeers(t *testing.T) {
	info := &hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "Test"}},
		Features:   []string{"http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info", "urn:xmpp:ping"},
	}
	ver, _ := hashing.Ver(hashing.SHA1, info)
	key, _ := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, ver)
	node := "https://test.example#" + ver
	in := *info
	in.Node = node
	ans, err := readAnswers(bytes.NewReader(append(messages.AppendDiscoInfo(nil, &in), '\n')))
	if err != nil {
		t.Fatal(err)
	}
	ps := PeerSpec{Seed: 9, Liars: 0.25, Errors: 0.25, Timeouts: 0.25}
	// Find one JID of each behaviour.
	jids := map[behaviour]string{}
	for i := 0; len(jids) < 4; i++ {
		j := "user" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "@example.org/r"
		if _, ok := jids[ps.Behaviour(j)]; !ok {
			jids[ps.Behaviour(j)] = j
		}
	}
	p := newPeers(ps, ans)
	ctx := context.Background()

	got, err := p.QueryInfo(ctx, jids[honest], node)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hashing.Verify(key, got, hashing.Options{}); err != nil {
		t.Errorf("honest answer does not verify: %v", err)
	}
	if _, err := p.QueryInfo(ctx, jids[honest], "https://test.example#unknown"); !errors.Is(err, errItemNotFound) {
		t.Errorf("unknown node: %v", err)
	}
	if _, err := p.QueryInfo(ctx, jids[iqError], node); !errors.Is(err, errServiceUnavailable) {
		t.Errorf("failing peer: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := p.QueryInfo(tctx, jids[silent], node); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("silent peer: %v", err)
	}
	// Every kind of lie is caught by verification.
	for h := range uint64(4) {
		if _, err := hashing.Verify(key, lie(info, node, h), hashing.Options{}); err == nil {
			t.Errorf("lie %d verifies", h)
		}
	}
	if _, err := hashing.Verify(key, lie(nil, node, 0), hashing.Options{}); err == nil {
		t.Error("made-up lie verifies")
	}
	if _, err := p.QueryInfo(ctx, jids[honest], node); err != nil {
		t.Fatal(err)
	}
	if d := p.Duplicates(); d != 1 {
		t.Errorf("duplicates: got %d, want 1", d)
	}
	if p.Queries.Load() != p.HonestAnswers.Load()+p.Failed() {
		t.Errorf("queries %d != honest %d + failed %d", p.Queries.Load(), p.HonestAnswers.Load(), p.Failed())
	}
}

func TestLatencyDistribution(t *testing.T) {
	p := newPeers(PeerSpec{Seed: 1, Latency: time.Millisecond, Jitter: 0.5}, nil)
	var ds []time.Duration
	for i := range 2000 {
		ds = append(ds, p.latency("u"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+"@x/"+string(rune(i)), "n"))
	}
	l := summarize(ds, 0, 0)
	within(t, "median latency (ms)", l.P50Ms, 1, 0.15)
	if l.P99Ms < 2 || l.P99Ms > 5 {
		t.Errorf("p99 latency %.2f ms, want about 3.2 ms for σ 0.5", l.P99Ms)
	}
}

// TestKeyLatencies: the three cold-key figures, on a hand-made stream of
// three keys — one first announced honestly, one first by a liar and
// then honestly, one never honestly (and never verified).
func TestKeyLatencies(t *testing.T) {
	ps := PeerSpec{Seed: 5, Liars: 0.5}
	jidOf := func(b behaviour) string {
		for i := 0; ; i++ {
			if j := fmt.Sprintf("u%d@example.org/r", i); behaviourOf(&ps, j) == b {
				return j
			}
		}
	}
	good, bad := jidOf(honest), jidOf(liar)
	w := &workload{}
	w.Meta.Keys = make([]keyStat, 3)
	w.Meta.Firsts = []first{{Index: 0, Key: 0, JID: good}, {Index: 1, Key: 1, JID: bad}, {Index: 2, Key: 2, JID: bad}}
	w.Meta.Honests = []first{{Index: 0, Key: 0, JID: good}, {Index: 5, Key: 1, JID: good}}
	c := newColdClock(w)
	ms := func(n int) time.Time { return time.Unix(1_700_000_000, int64(n)*int64(time.Millisecond)) }
	c.stamp(w, 0, 3, ms(0))  // the three firsts
	c.stamp(w, 3, 6, ms(90)) // key 1's honest announcer, 90 ms later
	at := make([]atomic.Int64, 3)
	at[0].Store(ms(4).UnixNano())
	at[1].Store(ms(95).UnixNano())
	all, honestFirst, fromHonest, streamWait := keyLatencies(w, &peers{spec: ps}, c, at)
	if all.Count != 2 || all.Failed != 1 || all.MaxMs != 95 {
		t.Errorf("all: %+v; want 2 keys (4 and 95 ms), 1 failed", all)
	}
	if honestFirst.Count != 1 || honestFirst.Failed != 0 || honestFirst.MaxMs != 4 {
		t.Errorf("honest first: %+v; want key 0 alone, 4 ms", honestFirst)
	}
	if fromHonest.Count != 2 || fromHonest.Failed != 0 || fromHonest.MaxMs != 5 {
		t.Errorf("from honest: %+v; want keys 0 and 1, 4 and 5 ms", fromHonest)
	}
	if streamWait.Count != 2 || streamWait.Failed != 1 || streamWait.MaxMs != 90 || streamWait.P50Ms != 0 {
		t.Errorf("stream wait: %+v; want keys 0 and 1, 0 and 90 ms, 1 failed", streamWait)
	}
}
