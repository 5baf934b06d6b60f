package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capsengine/capsengine/capsfiles"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
)

func newDBExportCmd(o *dbOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "export DIR",
		Short: "Write every stored entry to DIR in the capsdb/aioxmpp layout",
		Long: `Write every entry of both stores to DIR, in the layout above, so that it can
be shared and imported elsewhere.

An XEP-0115 entry is written once per node seen announcing it (a file name
carries one node); the first file's modification time is when the entry was
first seen, the others' when it was last seen, so that importing the export
gives back the same entries. An XEP-0390 entry is one file, dated when it was
last seen.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error { return runExport(c, o, args[0]) },
	}
}

func runExport(c *cobra.Command, o *dbOptions, dir string) error {
	ctx := c.Context()
	db, err := o.openExisting(ctx)
	if err != nil {
		return storeError(c, err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	counts := map[storage.Source]int{}
	var skipped int
	for _, src := range []storage.Source{storage.Trusted, storage.User} {
		err := db.Scan(ctx, src, func(r storage.Record) error {
			if r.Err != nil {
				skipped++
				fmt.Fprintf(c.ErrOrStderr(), "%s: %s store: skipping an entry: %s\n", c.CommandPath(), src, explain(r.Err))
				return nil
			}
			counts[src]++
			return exportEntry(dir, r.Key, r.Entry)
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) { // ErrNotFound: no trusted store
			return storeError(c, err)
		}
	}
	fmt.Fprintf(c.OutOrStdout(), "exported %d trusted and %d user entries to %s\n", counts[storage.Trusted], counts[storage.User], dir)
	if skipped > 0 {
		fmt.Fprintf(c.OutOrStdout(), "skipped %d unreadable entries (see capsengine db verify)\n", skipped)
		return exitError{1}
	}
	return nil
}

const xmlHeader = "<?xml version='1.0' encoding='UTF-8'?>\n"

// exportEntry writes the file(s) of one entry.
func exportEntry(dir string, k hashing.Key, e *storage.Entry) error {
	doc := messages.AppendDiscoInfo([]byte(xmlHeader), &e.Info)
	doc = append(doc, '\n')
	if k.Scheme == hashing.XEP0390 {
		return writeDated(filepath.Join(dir, filepath.FromSlash(capsfiles.Path(k, ""))), doc, e.LastSeen)
	}
	nodes := e.Nodes
	if len(nodes) == 0 {
		node, _, _ := strings.Cut(e.Info.Node, "#")
		if node == "" {
			node = "unknown"
		}
		nodes = []string{node}
	}
	for i, node := range nodes {
		when := e.LastSeen
		if i == 0 {
			when = e.FirstSeen
		}
		if err := writeDated(filepath.Join(dir, filepath.FromSlash(capsfiles.Path(k, node))), doc, when); err != nil {
			return err
		}
	}
	return nil
}

func writeDated(p string, data []byte, when time.Time) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return err
	}
	if when.IsZero() {
		return nil
	}
	return os.Chtimes(p, when, when)
}
