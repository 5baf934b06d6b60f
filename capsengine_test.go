package capsengine_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// network is a set of simulated peers answering disco#info honestly.
type network struct {
	infos   map[string]*hashing.Info // node#ver → answer
	queries atomic.Int64
}

func (n *network) QueryInfo(ctx context.Context, jid, node string) (*hashing.Info, error) {
	n.queries.Add(1)
	if info, ok := n.infos[node]; ok {
		return info, nil
	}
	return nil, errors.New("item-not-found")
}

func (n *network) client(t *testing.T, name string, features ...string) *messages.Caps {
	info := &hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: name}},
		Features:   append([]string{"http://jabber.org/protocol/caps"}, features...),
	}
	ver, err := hashing.Ver(hashing.SHA1, info)
	if err != nil {
		t.Fatal(err)
	}
	node := "https://" + name + ".example"
	n.infos[node+"#"+ver] = info
	return &messages.Caps{Hash: "sha-1", Node: node, Ver: ver}
}

func TestRestartResolvesFromUserDB(t *testing.T) {
	dir := t.TempDir()
	net := &network{infos: map[string]*hashing.Info{}}
	clients := []*messages.Caps{
		net.client(t, "psi", "urn:xmpp:jingle:1"),
		net.client(t, "gajim", "urn:xmpp:receipts"),
		net.client(t, "dino", "urn:xmpp:jingle:1", "urn:xmpp:mam:2"),
	}
	eng, err := capsengine.Open(testCtx(t), capsengine.Config{DataDir: dir, Querier: net})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		jid := fmt.Sprintf("user%d@example.org/a", i)
		if err := eng.Ingest(testCtx(t), &messages.Presence{From: jid, Caps: c}); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Wait(testCtx(t), jid); err != nil {
			t.Fatalf("%s: %v", jid, err)
		}
		if err := eng.Flush(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		// The entry records the caps node itself, as capsdb file names and
		// "db export" expect, not node#ver.
		k, _ := eng.Key(jid)
		e, err := eng.Storage().Get(k)
		if err != nil || len(e.Nodes) != 1 || e.Nodes[0] != c.Node {
			t.Errorf("%s: stored entry %+v, %v; want nodes [%s]", jid, e, err, c.Node)
		}
	}
	if err := eng.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if q := net.queries.Load(); q != 3 {
		t.Fatalf("first run made %d queries, want 3", q)
	}

	// Second run: nobody answers any more, yet every key is known.
	silent := capsengine.QuerierFunc(func(ctx context.Context, jid, node string) (*hashing.Info, error) {
		t.Errorf("query to %s for %s after restart", jid, node)
		return nil, errors.New("no")
	})
	eng, err = capsengine.Open(testCtx(t), capsengine.Config{DataDir: dir, Querier: silent})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(testCtx(t))
	for i, c := range clients {
		jid := fmt.Sprintf("other%d@example.net/b", i)
		_ = eng.Ingest(testCtx(t), &messages.Presence{From: jid, Caps: c})
		info, err := eng.Wait(testCtx(t), jid)
		if err != nil || info.Identities[0].Name == "" {
			t.Fatalf("%s after restart: %v, %v", jid, info, err)
		}
	}
	if got := eng.Counters()["Hits"]; got != 3 {
		t.Errorf("Hits = %d, want 3", got)
	}
	ok, err := eng.Supports("other2@example.net/b", "urn:xmpp:mam:2")
	if !ok || err != nil {
		t.Errorf("Supports = %v, %v", ok, err)
	}
	got := eng.Entities("urn:xmpp:jingle:1")
	sort.Strings(got)
	if want := []string{"other0@example.net/b", "other2@example.net/b"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Entities = %v, want %v", got, want)
	}
}

func TestOutgoingPresence(t *testing.T) {
	eng, err := capsengine.Open(testCtx(t), capsengine.Config{InMemory: true, Querier: &network{},
		Tuning: capsengine.Tuning{LocalNode: "https://capsengine.example", Debounce: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(testCtx(t))
	p := &messages.Presence{}
	eng.OutgoingPresence(p)
	if p.Caps != nil {
		t.Fatal("caps before SetLocal")
	}
	info := &hashing.Info{Identities: []hashing.Identity{{Category: "client", Type: "bot"}}, Features: []string{"http://jabber.org/protocol/caps"}}
	if err := eng.SetLocal(info); err != nil {
		t.Fatal(err)
	}
	_ = eng.FlushLocal(testCtx(t))
	eng.OutgoingPresence(p)
	ver, _ := hashing.Ver(hashing.SHA1, info)
	if p.Caps == nil || p.Caps.Ver != ver || p.Caps.Hash != "sha-1" || len(p.Caps2) != 2 {
		t.Fatalf("presence = %+v", p)
	}
	if got, ok := eng.LocalInfo(p.Caps.Node + "#" + p.Caps.Ver); !ok || got != info {
		t.Errorf("LocalInfo = %v, %v", got, ok)
	}
}

// TestInMemoryWithTrusted: an engine keeping its user store in memory still
// reads a trusted store from disk, and resolves its keys without a query.
func TestInMemoryWithTrusted(t *testing.T) {
	net := &network{infos: map[string]*hashing.Info{}}
	trusted, unknown := net.client(t, "psi", "urn:xmpp:jingle:1"), net.client(t, "gajim", "urn:xmpp:receipts")
	dir := t.TempDir() + "/trusted"
	w, err := storage.OpenTrustedWriter(storage.Config{TrustedDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	k, err := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, trusted.Ver)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Put(k, &storage.Entry{Info: *net.infos[trusted.Node+"#"+trusted.Ver], Nodes: []string{trusted.Node}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	eng, err := capsengine.Open(testCtx(t), capsengine.Config{InMemory: true, TrustedDir: dir, Querier: net})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(testCtx(t))
	for jid, c := range map[string]*messages.Caps{"a@example.org/r": trusted, "b@example.org/r": unknown} {
		if err := eng.Ingest(testCtx(t), &messages.Presence{From: jid, Caps: c}); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Wait(testCtx(t), jid); err != nil {
			t.Fatalf("%s: %v", jid, err)
		}
	}
	if q := net.queries.Load(); q != 1 {
		t.Errorf("%d queries, want 1 (the key the trusted store lacks)", q)
	}
	if n := eng.Storage().Stats().TrustedHits; n == 0 {
		t.Error("the trusted store was never read")
	}
}

// IngestRawBatch keeps nothing of its stanzas: a caller may read the next
// ones into the same buffer at once, as it would from a socket.
func TestIngestRawBatchBufferReuse(t *testing.T) {
	net := &network{infos: map[string]*hashing.Info{}}
	eng, err := capsengine.Open(testCtx(t), capsengine.Config{InMemory: true, Querier: net})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	cs := []*messages.Caps{net.client(t, "psi"), net.client(t, "gajim"), net.client(t, "dino")}
	buf := make([]byte, 0, 4096)
	var stanzas [][]byte
	for i, c := range cs {
		s := fmt.Sprintf(`<presence from='u%d@example.org/r'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='%s' ver='%s'/></presence>`, i, c.Node, c.Ver)
		start := len(buf)
		buf = append(buf, s...)
		stanzas = append(stanzas, buf[start:len(buf):len(buf)])
	}
	if err := eng.IngestRawBatch(testCtx(t), stanzas); err != nil {
		t.Fatal(err)
	}
	// The next read overwrites the buffer.
	for i := range buf {
		buf[i] = 'x'
	}
	for i, c := range cs {
		jid := fmt.Sprintf("u%d@example.org/r", i)
		info, err := eng.Wait(testCtx(t), jid)
		if err != nil {
			t.Fatalf("%s: %v", jid, err)
		}
		want := net.infos[c.Node+"#"+c.Ver]
		if len(info.Identities) != 1 || info.Identities[0].Name != want.Identities[0].Name {
			t.Errorf("%s resolved to %+v, want %+v", jid, info, want)
		}
		if k, err := eng.Key(jid); err != nil || k.Ver() != c.Ver {
			t.Errorf("%s: key %v, %v; want ver %s", jid, k, err, c.Ver)
		}
	}
	if got := eng.Entities("http://jabber.org/protocol/caps"); len(got) != 3 {
		t.Errorf("entities %v", got)
	}
}
