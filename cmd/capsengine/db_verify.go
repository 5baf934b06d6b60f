package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/storage"
)

func newDBVerifyCmd(o *dbOptions) *cobra.Command {
	var remove, repair bool
	c := &cobra.Command{
		Use:   "verify [--remove] [--repair]",
		Short: "Check the stores' files and re-verify every stored entry against its key",
		Long: `Check both stores' files (write-ahead logs, tables, and that no acknowledged
write is missing), then re-verify every entry against its key, under the
leniency it was stored with, and report those that are unreadable or no
longer verify. With --remove they are deleted (from the trusted store too,
which must then not be in use).

A damaged store is reported with the file and what is lost, and the exit
status is 1. With --repair a damaged user store is rebuilt from what can still
be read: every entry that verifies is kept, the damaged store is moved aside
to USER.damaged-TIME, and the counts are printed. The trusted store is never
repaired; rebuild it with "import --into trusted".`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error { return runVerify(c, o, remove, repair) },
	}
	c.Flags().BoolVar(&remove, "remove", false, "delete the entries that fail")
	c.Flags().BoolVar(&repair, "repair", false, "rebuild a damaged user store, keeping every entry that verifies")
	return c
}

func runVerify(c *cobra.Command, o *dbOptions, remove, repair bool) error {
	ctx := c.Context()
	o.repair = repair
	db, err := o.openExisting(ctx)
	if errors.Is(err, storage.ErrCorrupt) && !interrupted(ctx) {
		// Damage is a finding of verify, like an entry that fails: exit 1.
		fmt.Fprintf(c.OutOrStdout(), "damaged: %s\n", explain(err))
		if !repair {
			fmt.Fprintln(c.OutOrStdout(), `run "capsengine db verify --repair" to keep what verifies and move the damaged store aside`)
		}
		return exitError{1}
	}
	if err != nil {
		return storeError(c, err)
	}
	repaired := db.Repaired()
	if repaired != nil {
		fmt.Fprintf(c.OutOrStdout(), "damaged: %s\n%s\n", explain(repaired.Problem), repaired)
	}
	bad := map[storage.Source][]hashing.Key{}
	checked := map[storage.Source]int{}
	unkeyed := 0
	for _, src := range []storage.Source{storage.Trusted, storage.User} {
		err := db.Scan(ctx, src, func(r storage.Record) error {
			checked[src]++
			err := r.Err
			if err == nil {
				_, err = hashing.Verify(r.Key, &r.Entry.Info, r.Entry.Method.Options())
			}
			if err == nil {
				return nil
			}
			fmt.Fprintf(c.OutOrStdout(), "%s %s: %s: %s\n", src, r.Key, verifyRule(err), explain(err))
			if r.Key.IsZero() {
				unkeyed++
			} else {
				bad[src] = append(bad[src], r.Key)
			}
			return nil
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			db.Close(context.WithoutCancel(ctx))
			return storeError(c, err)
		}
	}
	if remove {
		for _, k := range bad[storage.User] {
			if err := db.Delete(ctx, k); err != nil {
				db.Close(context.WithoutCancel(ctx))
				return storeError(c, err)
			}
		}
	}
	if err := db.Close(context.WithoutCancel(ctx)); err != nil {
		return storeError(c, err)
	}
	if remove && len(bad[storage.Trusted]) > 0 {
		tw, err := storage.OpenTrustedWriter(storage.Config{TrustedDir: o.trustedDir()})
		if err != nil {
			return storeError(c, err)
		}
		for _, k := range bad[storage.Trusted] {
			if err := tw.Delete(k); err != nil {
				tw.Close()
				return storeError(c, err)
			}
		}
		if err := tw.Close(); err != nil {
			return storeError(c, err)
		}
	}
	nbad := len(bad[storage.Trusted]) + len(bad[storage.User]) + unkeyed
	fmt.Fprintf(c.OutOrStdout(), "checked %d trusted and %d user entries: %d failed", checked[storage.Trusted], checked[storage.User], nbad)
	if remove && nbad > 0 {
		fmt.Fprintf(c.OutOrStdout(), ", %d removed", len(bad[storage.Trusted])+len(bad[storage.User]))
	}
	fmt.Fprintln(c.OutOrStdout())
	if nbad > 0 || repaired != nil {
		// A repair lost what it could not read: still a finding.
		return exitError{1}
	}
	return nil
}

func verifyRule(err error) string {
	if errors.Is(err, storage.ErrCorrupt) || errors.Is(err, storage.ErrFormat) {
		return "unreadable"
	}
	return hashing.Rule(err)
}
