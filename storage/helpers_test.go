package storage

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/capsengine/capsengine/hashing"
)

// newSystem gives a test its own actor system, shut down with the test.
func newSystem(tb testing.TB) *actor.ActorSystem {
	tb.Helper()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	tb.Cleanup(sys.Shutdown)
	return sys
}

// openTest opens a DB on fs (a fresh MemFS when nil) in its own actor
// system and closes it with the test unless the test closed it.
func openTest(tb testing.TB, fs vfs.FS, cfg Config) *DB {
	tb.Helper()
	if fs == nil {
		fs = vfs.NewMem()
	}
	if cfg.Dir == "" {
		cfg.Dir = "user"
	}
	cfg.FS = fs
	if cfg.System == nil {
		cfg.System = newSystem(tb)
	}
	db, err := Open(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close(context.Background()) })
	return db
}

var commonFeatures = []string{
	"http://jabber.org/protocol/caps",
	"http://jabber.org/protocol/chatstates",
	"http://jabber.org/protocol/disco#info",
	"http://jabber.org/protocol/disco#items",
	"http://jabber.org/protocol/ibb",
	"http://jabber.org/protocol/muc",
	"http://jabber.org/protocol/si",
	"jabber:iq:last",
	"jabber:iq:version",
	"jabber:x:conference",
	"urn:xmpp:carbons:2",
	"urn:xmpp:jingle:1",
	"urn:xmpp:message-correct:0",
	"urn:xmpp:ping",
	"urn:xmpp:receipts",
	"urn:xmpp:time",
}

// testInfo is a distinct, valid disco#info for every i: a typical client
// with a feature of its own, and a software-version form for odd i.
func testInfo(i int) hashing.Info {
	in := hashing.Info{
		Node:       fmt.Sprintf("http://client%d.example#", i%7),
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: fmt.Sprintf("Client %d", i%7)}},
		Features:   append(append([]string(nil), commonFeatures...), fmt.Sprintf("urn:test:feature:%d", i)),
	}
	if i%2 == 1 {
		in.Forms = []hashing.Form{{Type: "result", Fields: []hashing.Field{
			{Var: "FORM_TYPE", Type: "hidden", Values: []string{"urn:xmpp:dataforms:softwareinfo"}},
			{Var: "software", Values: []string{"Client"}},
			{Var: "software_version", Values: []string{fmt.Sprint(i)}},
		}}}
	}
	return in
}

// testKey is the key info hashes to under scheme 115/sha-1 (even i) or
// 390/sha-256 (odd i), so both schemes are exercised.
func testKey(tb testing.TB, i int, in *hashing.Info) hashing.Key {
	tb.Helper()
	scheme, alg := hashing.XEP0115, hashing.SHA1
	if i%2 == 1 {
		scheme, alg = hashing.XEP0390, hashing.SHA256
	}
	k, err := hashing.Compute(scheme, alg, in)
	if err != nil {
		tb.Fatalf("Compute: %v", err)
	}
	return k
}

func testEntry(tb testing.TB, i int) (hashing.Key, *Entry) {
	in := testInfo(i)
	return testKey(tb, i, &in), &Entry{Info: in, Nodes: []string{fmt.Sprintf("http://client%d.example", i%7)}}
}

var testTime = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// sameEntry compares entries the way the encoding promises to keep them:
// times by instant, nil and empty lists alike.
func sameEntry(a, b *Entry) bool {
	enc := func(e *Entry) []byte { return AppendEntry(nil, e) }
	return bytes.Equal(enc(a), enc(b))
}

func sameInfo(a, b *hashing.Info) bool {
	return sameEntry(&Entry{Info: *a}, &Entry{Info: *b})
}

// logRecorder is a slog handler that keeps records for assertions.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
	added   chan struct{}
}

func newLogRecorder() *logRecorder { return &logRecorder{added: make(chan struct{}, 1024)} }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// find returns the first record whose message is msg.
func (l *logRecorder) find(msg string) (slog.Record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r.Message == msg {
			return r, true
		}
	}
	return slog.Record{}, false
}

func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

var discard = slog.New(slog.DiscardHandler)

func sortStrings(s []string) { slices.Sort(s) }

func sha1Base64(s string) string {
	sum := sha1.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}
