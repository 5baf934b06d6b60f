package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/capsengine/capsengine/internal/units"
	"github.com/capsengine/capsengine/storage"
)

func newDBPruneCmd(o *dbOptions) *cobra.Command {
	var dryRun bool
	var retain, maxBytes string
	c := &cobra.Command{
		Use:   "prune [--dry-run] [--retain D] [--max-bytes N]",
		Short: "Delete user entries not seen for a while, or past a size cap",
		Long: `Delete from the user store the entries not seen for --retain (default 180
days), then, while its live entries (keys and values) exceed --max-bytes, the
least recently seen ones, down to 90% of it. A running engine does the same
every hour (storage.Config.Retain, MaxBytes); this does it offline. The
trusted store is never pruned. --dry-run only counts.

--retain takes days or a Go duration (180d, 36h); --max-bytes a size (500MiB,
2GB; 0: no cap). Disk space is given back as pebble compacts the deletions.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var opts storage.PruneOptions
			opts.DryRun = dryRun
			if retain != "" {
				d, err := units.ParseDuration(retain)
				if err != nil || d <= 0 {
					return usageError(c, fmt.Errorf("--retain %q: want a positive duration like 180d", retain))
				}
				opts.Retain = d
			}
			if maxBytes != "" {
				n, err := units.ParseBytes(maxBytes)
				if err != nil {
					return usageError(c, fmt.Errorf("--max-bytes: %w", err))
				}
				opts.MaxBytes = n
			}
			return runPrune(c, o, opts)
		},
	}
	f := c.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "count what would be pruned; delete nothing")
	f.StringVar(&retain, "retain", "", "delete entries not seen for this long (default 180d)")
	f.StringVar(&maxBytes, "max-bytes", "", "cap on the user store's live entries, e.g. 500MiB (default: no cap)")
	return c
}

func runPrune(c *cobra.Command, o *dbOptions, opts storage.PruneOptions) error {
	ctx := c.Context()
	db, err := o.openExisting(ctx)
	if err != nil {
		return storeError(c, err)
	}
	start := time.Now()
	res, err := db.Prune(ctx, opts)
	if cerr := db.Close(context.WithoutCancel(ctx)); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, storage.ErrClosed) {
		return storeError(c, err)
	}
	verb := "pruned"
	if opts.DryRun {
		verb = "would prune"
	}
	fmt.Fprintf(c.OutOrStdout(), "scanned %d user entries (%s): %s %d not seen within the retention and %d over the size cap (%s); %s live",
		res.Scanned, units.Bytes(res.ScannedBytes), verb, res.ByAge, res.BySize, units.Bytes(res.Bytes), units.Bytes(res.LiveBytes))
	if res.SeenAgain > 0 {
		fmt.Fprintf(c.OutOrStdout(), "; %d kept, seen again meanwhile", res.SeenAgain)
	}
	if res.Unreadable > 0 {
		fmt.Fprintf(c.OutOrStdout(), "; %d unreadable (see \"capsengine db verify\")", res.Unreadable)
	}
	fmt.Fprintf(c.OutOrStdout(), " (%v)\n", time.Since(start).Round(time.Millisecond))
	return nil
}
