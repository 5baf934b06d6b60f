package main

import (
	"errors"

	"github.com/spf13/pflag"

	"github.com/capsengine/capsengine"
)

// clusterFlags are the flags that make observe or bench one member of a
// cluster of engines (see capsengine.ClusterConfig).
type clusterFlags struct {
	name, bind string
	seeds      []string
	automan    int
}

func (cf *clusterFlags) add(f *pflag.FlagSet) {
	f.StringVar(&cf.name, "cluster-name", "", "join the cluster of engines with this name (needs --cluster-bind and --cluster-seeds)")
	f.StringVar(&cf.bind, "cluster-bind", "", "host:port of this member's cluster endpoint, reachable from the other members")
	f.StringSliceVar(&cf.seeds, "cluster-seeds", nil, "host:port of every member's membership endpoint, this one included (comma-separated)")
	f.IntVar(&cf.automan, "cluster-automan-port", 0, "this member's membership (health) port, bound on all interfaces (default: the --cluster-bind port + 1)")
}

// config is the ClusterConfig the flags ask for: nil without
// --cluster-name.
func (cf *clusterFlags) config() (*capsengine.ClusterConfig, error) {
	if cf.name == "" {
		if cf.bind != "" || len(cf.seeds) > 0 || cf.automan != 0 {
			return nil, errors.New("--cluster-bind, --cluster-seeds and --cluster-automan-port need --cluster-name")
		}
		return nil, nil
	}
	if cf.bind == "" || len(cf.seeds) == 0 {
		return nil, errors.New("--cluster-name needs --cluster-bind and --cluster-seeds")
	}
	return &capsengine.ClusterConfig{Name: cf.name, Bind: cf.bind, Seeds: cf.seeds, AutoManPort: cf.automan}, nil
}
