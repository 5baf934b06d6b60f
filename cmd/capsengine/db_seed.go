package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/capsengine/capsengine/seed"
)

const seedLong = `Write the trusted seed shipped in this binary into the trusted store
(DATA/trusted, or --trusted): the disco#info answers of the capsdb corpus
(1,611 answers of real clients, CC0), each verified against its hash before it
is stored, with the leniencies real clients need (see import --lenient).

Run it once on a fresh install: an engine serving from that store (observe
uses DATA/trusted when it exists) resolves the clients it covers without
asking anyone, and nobody can answer for those vers. Running it again is
harmless (entries merge). Like import --into trusted, it fails while an engine
serves from that store.`

func newDBSeedCmd(o *dbOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "seed",
		Short: "Write the seed of known clients shipped in this binary into the trusted store",
		Long:  seedLong,
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			entries, err := seed.Entries()
			if err != nil {
				return storeError(c, err)
			}
			if len(entries) == 0 {
				return storeError(c, errors.New("the seed is empty"))
			}
			// The seed was collected long ago: the time it was seen is
			// unknown, and the trusted store is never pruned anyway.
			files := dbJSONFiles("seed", entries, time.Time{})
			return importInto(c, o, importOptions{into: "trusted", lenient: true}, files)
		},
	}
}
