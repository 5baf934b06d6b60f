package main

import (
	"net"
	"strings"
	"testing"

	"github.com/capsengine/capsengine/internal/etcdtest"
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
	if cc.Name != "caps" || cc.Bind != "127.0.0.1:7000" || len(cc.Seeds) != 2 {
		t.Errorf("got %+v", cc)
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
	if cc.Provider == nil || len(cc.Seeds) != 0 {
		t.Errorf("got %+v, want the etcd provider and no seeds", cc)
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
// with etcd gone, a clear error instead of protoactor's panic.
func TestBenchEtcdMember(t *testing.T) {
	ep := etcdtest.Start(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bind := l.Addr().String()
	l.Close()
	r := benchJSON(t, "--presences", "3000", "--jids", "1000", "--unique", "50", "--query-timeout", "1s",
		"--cluster-name", "caps", "--cluster-bind", bind, "--cluster-etcd", ep)
	if e := r.Engine; e == nil || !e.QueriesEqualUniqueKeys || e.DuplicateQueries != 0 {
		t.Fatalf("engine %+v", e)
	}

	dead := "127.0.0.1:1" // nothing listens there
	code, _, errOut := runCmd(t, "", "bench", "--quiet", "--presences", "100", "--jids", "50", "--unique", "5",
		"--tmpdir", t.TempDir(), "--cluster-name", "caps", "--cluster-bind", bind, "--cluster-etcd", dead)
	if code == 0 || !strings.Contains(errOut, "cluster") {
		t.Errorf("unreachable etcd: exit %d, stderr %q", code, errOut)
	}
}
