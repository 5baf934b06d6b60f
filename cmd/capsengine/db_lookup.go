package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
)

func newDBLookupCmd(o *dbOptions) *cobra.Command {
	var caps2, meta bool
	c := &cobra.Command{
		Use:   "lookup [--caps2] ALGO VER",
		Short: "Print the stored disco#info of a hash",
		Long: `Print the disco#info stored for an announced hash as XML: an XEP-0115 ver
(ALGO as in <c hash='...'/>), or with --caps2 an XEP-0390 hash (ALGO as in
<hash algo='...'>). With --meta, the store it came from, how it was verified,
the nodes seen and when come first, as lines of "name: value".

Exit status 1 when no store has the hash.`,
		Example: `  capsengine db lookup sha-1 q07IKJEyjvHSyhy//CH0CxmKi8w=
  capsengine db lookup --caps2 sha-256 u79ZroNJbdSWhdSp311mddz44oHHPsEBntQ5b1jqBSY=`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error { return runLookup(c, o, caps2, meta, args[0], args[1]) },
	}
	c.Flags().BoolVar(&caps2, "caps2", false, "VER is a XEP-0390 hash")
	c.Flags().BoolVar(&meta, "meta", false, "also print where the entry came from")
	return c
}

func runLookup(c *cobra.Command, o *dbOptions, caps2, meta bool, algName, ver string) error {
	scheme := hashing.XEP0115
	if caps2 {
		scheme = hashing.XEP0390
	}
	alg, err := hashing.ParseAlgorithm(algName)
	if err != nil {
		return usageError(c, err)
	}
	k, err := hashing.ParseKey(scheme, alg, ver)
	if err != nil {
		return usageError(c, err)
	}
	ctx := c.Context()
	db, err := o.openExisting(ctx)
	if err != nil {
		return storeError(c, err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	e, src, err := db.Lookup(k)
	if errors.Is(err, storage.ErrNotFound) {
		fmt.Fprintf(c.ErrOrStderr(), "%s: %s: not found\n", c.CommandPath(), k)
		return exitError{1}
	}
	if err != nil {
		return storeError(c, err)
	}
	out := c.OutOrStdout()
	if meta {
		fmt.Fprintf(out, "key: %s\nstore: %s\nverified: %s\nnodes: %s\nfirst-seen: %s\nlast-seen: %s\n\n",
			k, src, e.Method, strings.Join(e.Nodes, " "), stamp(e.FirstSeen), stamp(e.LastSeen))
	}
	doc := messages.AppendDiscoInfo(nil, &e.Info)
	_, err = out.Write(append(doc, '\n'))
	return err
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.Format(time.RFC3339Nano)
}
