package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/seed"
	"github.com/capsengine/capsengine/storage"
)

// TestDBSeed: a fresh install seeded with "db seed" resolves the clients
// of the seed with zero queries.
func TestDBSeed(t *testing.T) {
	data := t.TempDir()
	code, out, errOut := runCmd(t, "", "db", "seed", "--data", data)
	if code != 0 || !strings.Contains(out, "1567 imported into the trusted store") || !strings.Contains(out, "mismatched: 0") {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	entries, err := seed.Entries()
	if err != nil {
		t.Fatal(err)
	}
	q := capsengine.QuerierFunc(func(_ context.Context, jid, node string) (*hashing.Info, error) {
		t.Errorf("queried %s %s: the seed covers it", jid, node)
		return nil, errors.New("no")
	})
	ctx := context.Background()
	eng, err := capsengine.Open(ctx, capsengine.Config{DataDir: storage.Layout{Dir: data}.User(), TrustedDir: storage.Layout{Dir: data}.Trusted(), Querier: q})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	n := 0
	for i, e := range entries {
		if e.Err != nil || i%40 != 0 { // a sample across the corpus
			continue
		}
		if _, err := hashing.Verify(e.Key, e.Info, hashing.Options{}); err != nil {
			continue
		}
		jid := "user" + e.Ver[:6] + "@example.org/r"
		p := &messages.Presence{From: jid, Caps: &messages.Caps{Hash: e.Key.Alg.String(), Node: e.Node, Ver: e.Ver}}
		if err := eng.Ingest(ctx, p); err != nil {
			t.Fatal(err)
		}
		info, err := eng.Wait(ctx, jid)
		if err != nil || len(info.Features) != len(e.Info.Features) {
			t.Errorf("%s: %v", e.Ver, err)
		}
		n++
	}
	if n < 30 || eng.Counters()["Queries"] != 0 {
		t.Errorf("%d seeded clients resolved with %d queries", n, eng.Counters()["Queries"])
	}
	if c, _, _ := runCmd(t, "", "db", "seed", "--data", filepath.Join(data, "again")); c != 0 {
		t.Errorf("seed into a second directory: exit %d", c)
	}
}
