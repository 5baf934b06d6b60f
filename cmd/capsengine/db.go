package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/storage"
)

const dbLong = `Manage the stores of verified entity capabilities.

capsengine keeps two stores under --data: "user", what the engine verified
while serving, and "trusted" (or --trusted), a read-only store filled offline
with "import --into trusted". A key found in both is served from trusted and
removed from user. Every entry in either store was verified against its hash
when it was written.

File layout shared by import and export (capsdb's and aioxmpp's cache):

  hashes/<algo>_<urlquote(node#ver)>.xml              XEP-0115 keys
  caps2/<urlquote(algo)>/<b32[:2]>/<b32[2:4]>/<b32[4:]>.xml  XEP-0390 keys

where b32 is the digest in lower-case base32 without padding. Each file holds
one disco#info <query/>. A file's modification time is when its entry was seen.

stats, lookup, verify and export only read: they never create a store, and
a --data directory that does not exist is an error. The trusted store is
opened read-only and left as it was found, without a LOCK file.

Exit status: 0 on success, 1 when an entry was rejected, is missing or failed
verification, or a store is damaged (verify), 2 for a usage error or a store that cannot be opened, 130 (143)
when SIGINT (SIGTERM) stopped it.`

// dbOptions are the flags every db subcommand shares.
type dbOptions struct {
	data    string
	trusted string
	// repair lets open rebuild a damaged user store (verify --repair).
	repair bool
}

func newDBCmd() *cobra.Command {
	o := &dbOptions{}
	c := &cobra.Command{
		Use:   "db",
		Short: "Import, export, inspect and verify the capability stores",
		Long:  dbLong,
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return usageError(c, errors.New("missing subcommand (import, export, stats, verify, lookup, prune)"))
		},
	}
	pf := c.PersistentFlags()
	pf.StringVar(&o.data, "data", defaultDataDir(), "directory of the stores; the user store is DATA/user")
	pf.StringVar(&o.trusted, "trusted", "", "trusted store directory (default DATA/trusted)")
	c.AddCommand(newDBImportCmd(o), newDBExportCmd(o), newDBStatsCmd(o), newDBVerifyCmd(o), newDBLookupCmd(o), newDBPruneCmd(o), newDBSeedCmd(o))
	return c
}

// defaultDataDir is $XDG_DATA_HOME/capsengine, else ~/.local/share/capsengine.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "capsengine")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "capsengine")
	}
	return "capsengine"
}

func (o *dbOptions) userDir() string { return storage.Layout{Dir: o.data}.User() }

func (o *dbOptions) trustedDir() string {
	if o.trusted != "" {
		return o.trusted
	}
	return storage.Layout{Dir: o.data}.Trusted()
}

// open opens the stores for a command that writes the user store,
// creating it when missing. The trusted store takes part when its
// directory exists; --trusted naming a missing one is an error.
func (o *dbOptions) open(ctx context.Context, verify hashing.Options) (*storage.DB, error) {
	// No pruner: a db command prunes only when asked ("db prune"); an
	// import of old corpus files must not be pruned as it goes.
	cfg := storage.Config{Dir: o.userDir(), Verify: verify, Repair: o.repair, PruneEvery: -1}
	if _, err := os.Stat(o.trustedDir()); err == nil || o.trusted != "" {
		cfg.TrustedDir = o.trustedDir()
	}
	return storage.Open(ctx, cfg)
}

// openExisting opens the stores for a command that only reads them (stats,
// lookup, verify, export). Opening creates a missing user store, so a typo
// in --data would silently give an empty store and "0 entries": check
// first, and refuse.
func (o *dbOptions) openExisting(ctx context.Context) (*storage.DB, error) {
	for _, dir := range []string{o.data, o.userDir()} {
		st, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if dir == o.data {
				return nil, fmt.Errorf("no store: the --data directory %s does not exist", displayName(dir))
			}
			return nil, fmt.Errorf("no store: %s holds no user store (%s does not exist); \"capsengine db import\" creates one",
				displayName(o.data), displayName(dir))
		case err != nil:
			return nil, err
		case !st.IsDir():
			return nil, fmt.Errorf("no store: %s is not a directory", displayName(dir))
		}
	}
	return o.open(ctx, hashing.Options{})
}

// storeError reports a store that cannot be opened or used: exit status 2,
// or the interrupt's status when a signal is why it stopped.
func storeError(c *cobra.Command, err error) error {
	if interrupted(c.Context()) {
		fmt.Fprintf(c.ErrOrStderr(), "%s: interrupted\n", c.CommandPath())
		return exitError{interruptedCode(c.Context())}
	}
	fmt.Fprintf(c.ErrOrStderr(), "%s: %s\n", c.CommandPath(), explain(err))
	return exitError{2}
}
