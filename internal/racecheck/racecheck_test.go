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
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, theirs := Split(tc.stderr)
			if len(ours) != tc.ours || theirs != tc.theirs {
				t.Errorf("got %d ours, %d theirs; want %d, %d", len(ours), theirs, tc.ours, tc.theirs)
			}
		})
	}
}

func prefix(p, s string) string {
	return p + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+p) + "\n"
}
