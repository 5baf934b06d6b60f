package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/capsengine/capsengine/internal/units"
	"github.com/capsengine/capsengine/storage"
)

func newDBStatsCmd(o *dbOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Count the entries of each store by scheme and algorithm, with disk sizes",
		Long: `Count the entries of each store by scheme and algorithm, and give each
store's size on disk. The hot cache figures are this process's own (a running
engine reports its cache in its metrics).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error { return runStats(c, o) },
	}
}

func runStats(c *cobra.Command, o *dbOptions) error {
	ctx := c.Context()
	db, err := o.openExisting(ctx)
	if err != nil {
		return storeError(c, err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	st := db.Stats()
	out := c.OutOrStdout()
	for _, src := range []storage.Source{storage.Trusted, storage.User} {
		dir, size := o.userDir(), st.UserDiskBytes
		if src == storage.Trusted {
			dir, size = o.trustedDir(), st.TrustedDiskBytes
		}
		counts, err := db.Count(ctx, src)
		if errors.Is(err, storage.ErrNotFound) {
			fmt.Fprintf(out, "%-8s none (%s does not exist)\n", src, dir)
			continue
		}
		if err != nil {
			return storeError(c, err)
		}
		kinds := make([]storage.Kind, 0, len(counts))
		total := 0
		for k, n := range counts {
			kinds = append(kinds, k)
			total += n
		}
		slices.SortFunc(kinds, func(a, b storage.Kind) int { return strings.Compare(a.String(), b.String()) })
		fmt.Fprintf(out, "%-8s %d entries, %s on disk, %s\n", src, total, units.Bytes(int64(size)), dir)
		for _, k := range kinds {
			fmt.Fprintf(out, "  %-20s %d\n", k, counts[k])
		}
	}
	fmt.Fprintf(out, "cache    %d hits, %d misses, hit ratio %.2f (this process)\n", st.CacheHits, st.CacheMisses, st.CacheHitRatio())
	return nil
}
