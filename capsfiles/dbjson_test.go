package capsfiles

import (
	"os"
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

// TestParseDBJSONCorpus reads capsdb's db.json and checks that its entries
// verify against their keys as the hashes/ files do: the corpus's own
// rejects (duplicated features) and all.
func TestParseDBJSONCorpus(t *testing.T) {
	data, err := os.ReadFile("../testdata/capsdb/db.json")
	if err != nil {
		t.Skip(err)
	}
	entries, err := ParseDBJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	verified, rejected, bad := 0, 0, 0
	for _, e := range entries {
		if e.Err != nil {
			bad++
			t.Logf("%v", e.Err)
			continue
		}
		if _, err := hashing.Verify(e.Key, e.Info, hashing.Options{DuplicateFeatures: true, EscapedS: true}); err != nil {
			rejected++
			continue
		}
		verified++
	}
	t.Logf("%d entries: %d verify (leniently), %d do not, %d unreadable", len(entries), verified, rejected, bad)
	if len(entries) < 1500 || verified < len(entries)*9/10 {
		t.Errorf("%d of %d entries verify", verified, len(entries))
	}
}

func TestParseDBJSON(t *testing.T) {
	data := []byte(`{"QgayPKawpkPSDYmwT/WM94uAlu0=": {"hash": "sha-1", "node": "http://code.google.com/p/exodus",
		"identities": [{"category": "client", "type": "pc", "name": "Exodus 0.9.1"}],
		"features": ["http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
			"http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc"], "forms": {}},
		"not-base64!": {"hash": "sha-1"}, "AAAA": {"hash": "rot13"}, "BBBB": 7}`)
	entries, err := ParseDBJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Fatalf("%d entries, want 4", len(entries))
	}
	var good *DBEntry
	for i := range entries {
		if entries[i].Ver == "QgayPKawpkPSDYmwT/WM94uAlu0=" {
			good = &entries[i]
		} else if entries[i].Err == nil {
			t.Errorf("entry %q: no error", entries[i].Ver)
		}
	}
	if good == nil || good.Err != nil || good.Node != "http://code.google.com/p/exodus" {
		t.Fatalf("the §5.2 entry: %+v", good)
	}
	if _, err := hashing.Verify(good.Key, good.Info, hashing.Options{}); err != nil {
		t.Errorf("the §5.2 entry does not verify: %v", err)
	}
	if _, err := ParseDBJSON([]byte(`[1, 2]`)); err == nil {
		t.Errorf("a JSON array parsed as db.json")
	}
}

func FuzzParseDBJSON(f *testing.F) {
	f.Add([]byte(`{"QgayPKawpkPSDYmwT/WM94uAlu0=": {"hash": "sha-1", "node": "n", "identities": [{"category": "client", "type": "pc"}], "features": ["a"], "forms": {"urn:x": {"a": ["1"], "FORM_TYPE": ["urn:x"]}}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"x": null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseDBJSON(data)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Err == nil && (e.Key.IsZero() || e.Info == nil) {
				t.Fatalf("entry %q without error has key %v, info %v", e.Ver, e.Key, e.Info)
			}
			if e.Err == nil {
				// Peer-controlled text must never make hashing panic.
				_, _ = hashing.Verify(e.Key, e.Info, hashing.Options{})
			}
		}
	})
}
