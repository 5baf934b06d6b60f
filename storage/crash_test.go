package storage

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
)

// Helper processes: the test binary re-executes itself with helperEnv set
// to the role it should play.
const (
	helperEnv     = "CAPSENGINE_STORAGE_HELPER"
	helperDirEnv  = "CAPSENGINE_STORAGE_DIR"
	helperBaseEnv = "CAPSENGINE_STORAGE_BASE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "crash-writer":
		os.Exit(crashWriter(os.Getenv(helperDirEnv), os.Getenv(helperBaseEnv)))
	case "hold-lock":
		os.Exit(holdLock(os.Getenv(helperDirEnv)))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

const crashInserters = 32

// crashWriter is the child process of TestCrashSafety: it inserts entries
// base, base+1, ... from crashInserters goroutines as fast as the store
// takes them, and prints the index of each entry once Put acknowledged it.
// It runs until it is killed.
func crashWriter(dir, baseStr string) int {
	base, err := strconv.Atoi(baseStr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	db, err := Open(ctx, Config{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range crashInserters {
		wg.Go(func() {
			line := make([]byte, 0, 16)
			for i := base + g; ; i += crashInserters {
				in := testInfo(i)
				k, err := hashing.Compute(crashScheme(i), crashAlg(i), &in)
				if err != nil {
					panic(err)
				}
				if err := db.Put(ctx, k, &Entry{Info: in, Nodes: []string{"crash"}}); err != nil {
					fmt.Fprintln(os.Stderr, "put:", err)
					os.Exit(1)
				}
				line = strconv.AppendInt(line[:0], int64(i), 10)
				line = append(line, '\n')
				mu.Lock()
				_, err = os.Stdout.Write(line) // one write: a line is printed whole or not at all
				mu.Unlock()
				if err != nil {
					os.Exit(1)
				}
			}
		})
	}
	wg.Wait()
	return 0
}

func crashScheme(i int) hashing.Scheme {
	if i%2 == 1 {
		return hashing.XEP0390
	}
	return hashing.XEP0115
}

func crashAlg(i int) hashing.Algorithm {
	if i%2 == 1 {
		return hashing.SHA256
	}
	return hashing.SHA1
}

// TestCrashSafety kills a writing child process with SIGKILL at a random
// moment (after a random number of acknowledgements, while its inserters
// keep committing), reopens the store, and checks that every entry the
// child ever acknowledged is there and still verifies. The rounds share
// one store, so each round also recovers what earlier kills left behind.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	const rounds = 20
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	var acked []int
	start := time.Now()
	for r := range rounds {
		killAfter := 1 + rng.IntN(600)
		t0 := time.Now()
		got, err := crashRound(dir, r*10_000_000, killAfter)
		if err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		t1 := time.Now()
		// The entries of this round; those of earlier rounds were checked
		// after their own kill, and all are checked again at the end.
		checkAcked(t, dir, fmt.Sprintf("round %d", r), got)
		if t.Failed() {
			return
		}
		acked = append(acked, got...)
		t.Logf("round %d: killed after %d acks (%v), reopened and checked in %v",
			r, len(got), t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
	}
	checkAcked(t, dir, "after all rounds", acked)
	t.Logf("%d rounds, %d acknowledged entries all present after kill -9, %v",
		rounds, len(acked), time.Since(start).Round(time.Millisecond))
}

// checkAcked reopens the store and checks that every entry in acked is
// there and verifies.
func checkAcked(t *testing.T, dir, when string, acked []int) {
	t.Helper()
	db, err := Open(context.Background(), Config{Dir: dir, System: newSystem(t), CacheBytes: -1})
	if err != nil {
		t.Fatalf("%s: reopen after kill -9: %v", when, err)
	}
	for _, i := range acked {
		in := testInfo(i)
		k, _ := hashing.Compute(crashScheme(i), crashAlg(i), &in)
		e, err := db.Get(k)
		if err != nil {
			t.Errorf("%s: acknowledged entry %d: %v", when, i, err)
			continue
		}
		if _, err := hashing.Verify(k, &e.Info, hashing.Options{}); err != nil || !sameInfo(&e.Info, &in) {
			t.Errorf("%s: entry %d does not verify: %v", when, i, err)
		}
	}
	if err := db.Close(context.Background()); err != nil {
		t.Fatalf("%s: close: %v", when, err)
	}
}

// crashRound runs one child, kills it once it has acknowledged killAfter
// entries, and returns every index it acknowledged (those read after the
// kill included: they were printed before it).
func crashRound(dir string, base, killAfter int) ([]int, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=crash-writer", helperDirEnv+"="+dir, helperBaseEnv+"="+strconv.Itoa(base))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var acked []int
	r := bufio.NewReader(out)
	killed := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // EOF after the kill; a line cut short is no acknowledgement
		}
		i, perr := strconv.Atoi(line[:len(line)-1])
		if perr != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("child printed %q", line)
		}
		acked = append(acked, i)
		if !killed && len(acked) >= killAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				return nil, err
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		return nil, fmt.Errorf("child exited before it was killed: %v", err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		return nil, fmt.Errorf("child ended with %v, not by SIGKILL", err)
	}
	return acked, nil
}
