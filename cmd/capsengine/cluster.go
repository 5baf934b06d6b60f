package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/cluster"
)

// clusterFlags are the flags that make observe or bench one member of a
// cluster of engines (see package cluster).
type clusterFlags struct {
	name, bind, advertise string
	seeds                 []string
	automan               int
	etcd                  []string
	etcdPrefix            string
}

func (cf *clusterFlags) add(f *pflag.FlagSet) {
	f.StringVar(&cf.name, "cluster-name", "", "join the cluster of engines with this name (needs --cluster-bind, and --cluster-seeds or --cluster-etcd)")
	f.StringVar(&cf.bind, "cluster-bind", "", "host:port of this member's cluster endpoint, reachable from the other members")
	f.StringVar(&cf.advertise, "cluster-advertise", "", "host:port the other members dial, when not --cluster-bind (e.g. bind 0.0.0.0:7000 in a container)")
	f.StringSliceVar(&cf.seeds, "cluster-seeds", nil, "membership without a server: host:port of every member's membership endpoint, this one included (comma-separated)")
	f.IntVar(&cf.automan, "cluster-automan-port", 0, "with --cluster-seeds: this member's membership (health) port, bound on all interfaces (default: the --cluster-bind port + 1)")
	f.StringSliceVar(&cf.etcd, "cluster-etcd", nil, "membership through etcd: its client endpoints host:port (comma-separated), instead of --cluster-seeds")
	f.StringVar(&cf.etcdPrefix, "cluster-etcd-prefix", "/capsengine", "with --cluster-etcd: the key prefix members register under")
}

// config is the cluster membership the flags ask for: nil without
// --cluster-name.
func (cf *clusterFlags) config() (capsengine.Cluster, error) {
	if cf.name == "" {
		if cf.bind != "" || cf.advertise != "" || len(cf.seeds) > 0 || cf.automan != 0 || len(cf.etcd) > 0 {
			return nil, errors.New("--cluster-bind, --cluster-advertise, --cluster-seeds, --cluster-automan-port and --cluster-etcd need --cluster-name")
		}
		return nil, nil
	}
	switch {
	case cf.bind == "":
		return nil, errors.New("--cluster-name needs --cluster-bind")
	case len(cf.seeds) > 0 && len(cf.etcd) > 0:
		return nil, errors.New("--cluster-seeds and --cluster-etcd exclude each other")
	case len(cf.seeds) == 0 && len(cf.etcd) == 0:
		return nil, errors.New("--cluster-name needs --cluster-seeds or --cluster-etcd")
	case len(cf.etcd) > 0 && cf.automan != 0:
		return nil, errors.New("--cluster-automan-port goes with --cluster-seeds, not --cluster-etcd")
	}
	cc := cluster.Config{Name: cf.name, Bind: cf.bind, Advertise: cf.advertise, Seeds: cf.seeds, AutoManPort: cf.automan}
	if len(cf.etcd) > 0 {
		// docs/cluster.md's etcd configuration. The etcd client logs
		// through zap on its own; the provider's errors reach the
		// engine's logger.
		ecfg := clientv3.Config{Endpoints: cf.etcd, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
		if err := etcdReachable(ecfg, cf.etcdPrefix); err != nil {
			return nil, fmt.Errorf("--cluster-etcd: %w", err)
		}
		p, err := etcd.NewWithConfig(cf.etcdPrefix, ecfg)
		if err != nil {
			return nil, fmt.Errorf("--cluster-etcd: %w", err)
		}
		cc.Provider = p
	}
	return cluster.New(cc), nil
}

// etcdReachable reads from etcd once, with a deadline: protoactor's
// provider retries its first read forever, so an unreachable etcd would
// hang the command instead of failing it.
func etcdReachable(cfg clientv3.Config, prefix string) error {
	c, err := clientv3.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DialTimeout)
	defer cancel()
	if _, err := c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithLimit(1)); err != nil {
		return fmt.Errorf("etcd at %v unreachable: %w", cfg.Endpoints, err)
	}
	return nil
}
