package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/capsengine/capsengine/cluster"
	"github.com/capsengine/capsengine/internal/etcdtest"
	"github.com/capsengine/capsengine/internal/freeport"
	"github.com/capsengine/capsengine/internal/racecheck"
)

func TestClusterFlagsUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"bench bind without name", []string{"bench", "--quiet", "--cluster-bind", "127.0.0.1:7000"}},
		{"bench name without bind", []string{"bench", "--quiet", "--cluster-name", "c", "--cluster-seeds", "127.0.0.1:7001"}},
		{"bench name without seeds", []string{"bench", "--quiet", "--cluster-name", "c", "--cluster-bind", "127.0.0.1:7000"}},
		{"observe seeds without name", []string{"observe", "--jid", "a@b", "--password", "x", "--cluster-seeds", "127.0.0.1:7001"}},
		{"observe name without bind", []string{"observe", "--jid", "a@b", "--password", "x", "--cluster-name", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, _ := runCmd(t, "", tc.args...); code != 2 {
				t.Errorf("%v: exit %d, want 2", tc.args, code)
			}
		})
	}
}

func TestClusterFlagsConfig(t *testing.T) {
	cf := clusterFlags{name: "caps", bind: "127.0.0.1:7000", seeds: []string{"127.0.0.1:7001", "127.0.0.1:7011"}}
	cc, err := cf.config()
	if err != nil {
		t.Fatal(err)
	}
	if c := cc.(*cluster.Member).Config(); c.Name != "caps" || c.Bind != "127.0.0.1:7000" || len(c.Seeds) != 2 {
		t.Errorf("got %+v", c)
	}
	if cc, err := (&clusterFlags{}).config(); cc != nil || err != nil {
		t.Errorf("no flags: got %+v, %v, want nil, nil", cc, err)
	}
}

func TestClusterFlagsEtcd(t *testing.T) {
	ep := etcdtest.Start(t)
	cf := clusterFlags{name: "caps", bind: "127.0.0.1:7000", etcd: []string{ep}, etcdPrefix: "/capsengine"}
	cc, err := cf.config()
	if err != nil {
		t.Fatal(err)
	}
	if c := cc.(*cluster.Member).Config(); c.Provider == nil || len(c.Seeds) != 0 {
		t.Errorf("got %+v, want the etcd provider and no seeds", c)
	}
	for _, bad := range []clusterFlags{
		{name: "caps", bind: "127.0.0.1:7000", etcd: []string{"a:1"}, seeds: []string{"b:2"}},
		{name: "caps", bind: "127.0.0.1:7000", etcd: []string{"a:1"}, automan: 7001},
		{name: "caps", bind: "127.0.0.1:7000"},
		{etcd: []string{"a:1"}},
	} {
		if _, err := bad.config(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// bench as one member of a cluster whose membership is a real etcd; and,
// with etcd gone, a clear error instead of a hang. In a child process (this
// test binary as capsengine, see TestMain): under -race protoactor's remote
// races with any other gRPC client in its process (DEPENDENCIES.md).
func TestBenchEtcdMember(t *testing.T) {
	ep := etcdtest.Start(t)
	bind, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runChild(t, "bench", "--json", "--quiet", "--tmpdir", t.TempDir(),
		"--presences", "3000", "--jids", "1000", "--unique", "50", "--query-timeout", "1s",
		"--cluster-name", "caps", "--cluster-bind", bind, "--cluster-etcd", ep)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, tail(errOut, 3000))
	}
	var r benchReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	if e := r.Engine; e == nil || !e.QueriesEqualUniqueKeys || e.DuplicateQueries != 0 {
		t.Fatalf("engine %+v", e)
	}

	dead := "127.0.0.1:1" // nothing listens there
	code, _, errOut = runChild(t, "bench", "--quiet", "--presences", "100", "--jids", "50", "--unique", "5",
		"--tmpdir", t.TempDir(), "--cluster-name", "caps", "--cluster-bind", bind, "--cluster-etcd", dead)
	if code != 2 || !strings.Contains(errOut, "etcd") {
		t.Errorf("unreachable etcd: exit %d, stderr %q; want 2 and a word on etcd", code, errOut)
	}
}

// runChild runs the command line in a new process of this test binary
// and fails the test on a race report from the engine's own code.
func runChild(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), memberEnv+"=1", "GORACE=exitcode=0")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	ours, _ := racecheck.Split(errOut.String())
	for _, r := range ours {
		t.Errorf("race in the engine's code:\n%s", r)
	}
	return code, out.String(), errOut.String()
}
