package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// With --query-unhashed the dump lists JIDs without a verifiable hash,
// their own answers marked unverified; without it they are left out.
func TestTrackerUnhashed(t *testing.T) {
	legacy := &messages.Presence{From: "old@x/exodus",
		Caps: &messages.Caps{Node: "http://exodus.jabberstudio.org/caps", Ver: "0.9.1.0", Ext: "voice"}}
	bare := &messages.Presence{From: "gw@x/irc"}
	info := &hashing.Info{Identities: []hashing.Identity{{Category: "gateway", Type: "irc"}}, Features: []string{"jabber:iq:gateway"}}

	off := newTracker(0, func() {})
	off.presence(legacy)
	off.presence(bare)
	if len(off.entities) != 0 {
		t.Errorf("without --query-unhashed: %d entities, want 0", len(off.entities))
	}

	tr := newTracker(2, func() {})
	tr.unhashed = true
	tr.presence(legacy)
	tr.presence(bare)
	tr.event(&messages.CapsResolved{JID: "gw@x/irc", Info: info, Unverified: true})
	tr.event(&messages.CapsFailed{JID: "old@x/exodus", Err: os.ErrDeadlineExceeded})
	dump := filepath.Join(t.TempDir(), "caps.json")
	if err := tr.dump(dump, nil); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Entities map[string]struct {
			Node, Ver, Hash, Ext string
			Verified, Online     bool
			Unverified           bool
			Features             []string
			Error                string
		}
	}
	data, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	gw, old := doc.Entities["gw@x/irc"], doc.Entities["old@x/exodus"]
	if !gw.Unverified || gw.Verified || len(gw.Features) != 1 || gw.Features[0] != "jabber:iq:gateway" || !gw.Online {
		t.Errorf("gateway: %+v", gw)
	}
	if old.Ext != "voice" || old.Ver != "0.9.1.0" || old.Hash != "" || old.Unverified || old.Error == "" {
		t.Errorf("legacy client: %+v", old)
	}
	if tr.resolvedCount() != 1 {
		t.Errorf("resolved %d, want 1", tr.resolvedCount())
	}
}
