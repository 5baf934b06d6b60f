package main

import "testing"

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
