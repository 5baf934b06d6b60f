package racecheck

import (
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	const ourRace = `==================
WARNING: DATA RACE
Read at 0x00c000cfd400 by goroutine 529:
  github.com/capsengine/capsengine/actors.(*deps).isMember()
      /work/main/actors/cluster.go:654 +0xfa

Previous write at 0x00c000cfd400 by goroutine 33:
  sort.insertionSort_func()
      /usr/local/go/src/sort/zsortfunc.go:13 +0x7c
==================
`
	const theirRace = `==================
WARNING: DATA RACE
Write at 0x00c0001 by goroutine 7:
  github.com/asynkron/protoactor-go/remote.(*BlockList).Block()
      /root/go/pkg/mod/github.com/asynkron/protoactor-go/remote/blocklist.go:30
  github.com/capsengine/capsengine/actors.startCluster()
      /work/main/actors/cluster.go:100

Previous read at 0x00c0001 by goroutine 9:
  github.com/asynkron/protoactor-go/remote.(*BlockList).IsBlocked()
      /root/go/pkg/mod/github.com/asynkron/protoactor-go/remote/blocklist.go:40
==================
`
	for _, tc := range []struct {
		name         string
		stderr       string
		ours, theirs int
	}{
		{"none", "ok\n", 0, 0},
		{"ours", "log line\n" + ourRace, 1, 0},
		{"theirs, our frame deeper", theirRace, 0, 1},
		{"both", theirRace + ourRace + theirRace, 1, 2},
		{"prefixed", prefix("cluster/1: ", ourRace+theirRace), 1, 1},
		// Two processes' reports interleaved line by line: the frame
		// after one's access line is the other's, and ours.
		{"interleaved", interleave(prefix("cluster/0: ", theirRace), prefix("cluster/1: ", ourRace)), 1, 1},
		// As seen in a bench run: cluster/0's access line is followed by
		// a deeper frame of ours from cluster/1's report. Neither race
		// is ours.
		{"interleaved, ours deeper in the other", interleavedTheirs, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, theirs := Split(tc.stderr)
			if len(ours) != tc.ours || theirs != tc.theirs {
				t.Errorf("got %d ours, %d theirs; want %d, %d", len(ours), theirs, tc.ours, tc.theirs)
			}
		})
	}
}

const interleavedTheirs = `cluster/0: ==================
cluster/0: WARNING: DATA RACE
cluster/0: Write at 0x00c0002c0af8 by goroutine 1043:
cluster/1: ==================
cluster/1: WARNING: DATA RACE
cluster/1: Write at 0x00c000aa0010 by goroutine 88:
cluster/1:   github.com/asynkron/protoactor-go/remote.(*endpointWriterMailbox).schedule()
cluster/0:   github.com/asynkron/protoactor-go/cluster.setKey()
cluster/0: Previous read at 0x00c0002c0af8 by goroutine 301:
cluster/1:   github.com/capsengine/capsengine/cluster.(*Member).Request()
cluster/0:   google.golang.org/protobuf/internal/impl.appendInt64NoZero()
cluster/1: Previous write at 0x00c000aa0010 by goroutine 90:
cluster/1:   github.com/asynkron/protoactor-go/remote.(*endpointWriterMailbox).run()
cluster/0: ==================
cluster/1: ==================
`

func prefix(p, s string) string {
	return p + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+p) + "\n"
}

// interleave alternates the lines of a and b.
func interleave(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < len(la) || i < len(lb); i++ {
		if i < len(la) {
			out = append(out, la[i])
		}
		if i < len(lb) {
			out = append(out, lb[i])
		}
	}
	return strings.Join(out, "\n")
}
