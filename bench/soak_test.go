package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The stream is a function of the seed: two generators agree stanza by
// stanza, and every key's first announcer comes in key order.
func TestSoakStreamDeterministic(t *testing.T) {
	sh := DefaultSoakOptions().shape(7)
	a, b := newSoakStream(sh), newSoakStream(sh)
	next := int64(0)
	logouts := 0
	for i := range 200_000 {
		x, y := a.Next(), b.Next()
		if !bytes.Equal(x.stanza, y.stanza) {
			t.Fatalf("stanza %d differs:\n%s\n%s", i, x.stanza, y.stanza)
		}
		if x.first {
			if x.key != next {
				t.Fatalf("stanza %d: first announcer of key %d, want key %d", i, x.key, next)
			}
			next++
		}
		if x.kind == soakLogout {
			logouts++
			if !bytes.Contains(x.stanza, []byte("type='unavailable'")) {
				t.Fatalf("logout %s", x.stanza)
			}
		}
	}
	if next < 10_000 || logouts == 0 {
		t.Errorf("%d keys, %d logouts in 200,000 stanzas", next, logouts)
	}
}

// A soak key's node names the key, so the peers answer without a table,
// and its document hashes to the ver the stream announces.
func TestSoakDocNode(t *testing.T) {
	for _, k := range []int64{0, 1, 255, 1 << 40} {
		_, node := soakDoc(3, k)
		got, ok := soakKeyOfNode(node + "#abc=")
		if !ok || got != k {
			t.Errorf("key %d: node %q gives %d, %v", k, node, got, ok)
		}
	}
	if _, ok := soakKeyOfNode("https://gajim.org#abc="); ok {
		t.Error("a node without a key parsed")
	}
}

func BenchmarkSoakStream(b *testing.B) {
	s := newSoakStream(DefaultSoakOptions().shape(1))
	b.ReportAllocs()
	for b.Loop() {
		s.Next()
	}
}

// samples makes a soak's samples, one a second for secs seconds, with
// RSS given by rss(t).
func samples(secs int, rss func(t float64) float64) []soakSample {
	var out []soakSample
	for i := 1; i <= secs; i++ {
		t := float64(i)
		out = append(out, soakSample{T: t, RSS: int64(rss(t)), Goroutines: 200, LiveLookups: 30_000})
	}
	return out
}

// The checker flags memory that grows with the keys seen, and only that.
func TestCheckSoakMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		rss  func(float64) float64
		secs int
		ok   bool
	}{
		// 300 MiB, +1 MiB a minute: flat.
		{"flat", func(t float64) float64 { return 300<<20 + t/60*(1<<20) }, 300, true},
		// A warm-up climb, then flat: the climb is not judged.
		{"warm-up", func(t float64) float64 { return 300<<20 + min(t, 50)*(4<<20) }, 300, true},
		// +30 MiB a minute from 300 MiB: +120 MiB over the judged 4 minutes.
		{"growing", func(t float64) float64 { return 300<<20 + t/60*(30<<20) }, 300, false},
		// Growth in a run too short to judge is reported, not failed.
		{"short", func(t float64) float64 { return 300<<20 + t*(30<<20) }, 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &SoakReport{Samples: samples(tc.secs, tc.rss), Settings: soakSettings{MaxLookups: 100_000}}
			r.WarmupSeconds = soakWarmup * float64(tc.secs)
			r.Trends = soakTrends(r.Samples, r.WarmupSeconds)
			v := checkSoak(r)
			if ok := len(v) == 0; ok != tc.ok {
				t.Errorf("violations %q, want ok %v; trends %+v", v, tc.ok, r.Trends)
			}
			if !tc.ok && !strings.Contains(strings.Join(v, "\n"), "rss grows with the keys seen") {
				t.Errorf("violations %q do not name the RSS", v)
			}
		})
	}
}

// The warm-up covers the stream's fill: a fifth of a long run, and at
// least three JID lives of a short one, which then gets no verdict.
func TestSoakWarmupEnd(t *testing.T) {
	for _, tc := range []struct {
		run, life time.Duration
		want      float64
	}{
		{330 * time.Second, 20 * time.Second, 66},
		{10 * time.Minute, 20 * time.Second, 120},
		{45 * time.Second, 20 * time.Second, 60},
		{3 * time.Second, time.Second, 3},
	} {
		if got := soakWarmupEnd(tc.run, tc.life); got != tc.want {
			t.Errorf("run %v, life %v: warm-up ends at %v s, want %v", tc.run, tc.life, got, tc.want)
		}
	}
	// The 45 s run: RSS climbing the whole time is reported, not judged.
	r := &SoakReport{Samples: samples(45, func(t float64) float64 { return 300<<20 + t*(10<<20) }), Settings: soakSettings{MaxLookups: 100_000}}
	r.WarmupSeconds = soakWarmupEnd(45*time.Second, 20*time.Second)
	r.Trends = soakTrends(r.Samples, r.WarmupSeconds)
	if v := checkSoak(r); len(v) != 0 {
		t.Errorf("a 45 s soak was judged: %q", v)
	}
}

// The tally catches a key answered twice, even after its verdict, and a
// resolvable key never answered; keys only liars announced are not owed.
func TestSoakTallyVerdicts(t *testing.T) {
	ta := newSoakTally(16, 2)
	for k := int64(2); k < 8; k++ {
		ta.start(k)
	}
	ta.announced(2, true)
	ta.answered(2) // resolved once: fine
	ta.announced(3, true)
	ta.answered(3)
	ta.answered(3)         // queried twice
	ta.announced(4, true)  // never answered
	ta.announced(5, false) // only a liar: not resolvable
	ta.announced(6, true)
	ta.answered(6)
	ta.announced(0, true) // a popular key never answered
	ta.judge(7, true)
	ta.answered(6) // late: a second honest answer after the verdict
	k := ta.keys()
	if k.Duplicates != 2 || k.Unresolved != 2 || k.Resolvable != 5 || k.Resolved != 3 {
		t.Errorf("verdicts %+v", k)
	}
	r := &SoakReport{Keys: k}
	v := strings.Join(checkSoak(r), "\n")
	for _, want := range []string{"queried again", "never got a query an honest announcer answered"} {
		if !strings.Contains(v, want) {
			t.Errorf("violations lack %q:\n%s", want, v)
		}
	}
	// The ring has room for a key only once its slot's last key is judged.
	if !ta.room(7+15) || ta.room(7+16) {
		t.Errorf("room: judged up to %d", ta.judged.Load())
	}
}

// Lookups that pile up to MaxLookups (they never end) and hangs are
// broken guarantees.
func TestCheckSoakLookupsAndHangs(t *testing.T) {
	r := &SoakReport{Settings: soakSettings{MaxLookups: 100}, Probes: soakProbeReport{Waits: 10, Hangs: 1},
		Samples: []soakSample{{T: 1, LiveLookups: 50}, {T: 2, LiveLookups: 100}}}
	v := strings.Join(checkSoak(r), "\n")
	for _, want := range []string{"reached Tuning.MaxLookups (100) at 2 s", "did not return within the lookup timeout"} {
		if !strings.Contains(v, want) {
			t.Errorf("violations lack %q:\n%s", want, v)
		}
	}
}
