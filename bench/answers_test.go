package bench

import (
	"hash/maphash"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

func TestAnswers(t *testing.T) {
	var file []byte
	docs := map[string]*hashing.Info{}
	for i, name := range []string{"a", "b", "c"} {
		in := &hashing.Info{Node: "http://example.org/" + name + "#v",
			Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: name}},
			Features:   []string{"urn:example:" + strings.Repeat(name, i+1)}}
		docs[in.Node] = in
		file = append(messages.AppendDiscoInfo(file, in), '\n')
	}
	// A second answer for a node already known is ignored; blank lines too.
	dup := &hashing.Info{Node: "http://example.org/a#v", Features: []string{"urn:example:other"}}
	file = append(append(messages.AppendDiscoInfo(file, dup), '\n'), '\n')
	path := filepath.Join(t.TempDir(), "answers")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile, err := readAnswersFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fromFile.Close()
	fromReader, err := readAnswers(strings.NewReader(string(file)))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*answers{fromFile, fromReader} {
		if a.Len() != 3 {
			t.Fatalf("Len %d, want 3", a.Len())
		}
		for node, want := range docs {
			_, got, ok := a.lookup(node)
			if !ok {
				t.Fatalf("%s: not found", node)
			}
			if got.Features[0] != want.Features[0] || got.Identities[0].Name != want.Identities[0].Name {
				t.Fatalf("%s: got %+v, want %+v", node, got, want)
			}
			// Each call decodes anew: the caller owns what it gets.
			if _, again, _ := a.lookup(node); again == got {
				t.Fatalf("%s: the same Info twice", node)
			}
		}
		if _, _, ok := a.lookup("http://example.org/d#v"); ok {
			t.Fatal("an unknown node was found")
		}
	}
	if _, err := readAnswers(strings.NewReader("<query xmlns='http://jabber.org/protocol/disco#info'/>\n")); err == nil {
		t.Fatal("an answer without a node was accepted")
	}
	if _, err := readAnswers(strings.NewReader("<query\n")); err == nil {
		t.Fatal("a malformed answer was accepted")
	}
}

// Two nodes sharing a fingerprint are refused, not answered for each
// other.
func TestAnswersFingerprintCollision(t *testing.T) {
	var file []byte
	for _, node := range []string{"http://example.org/a#v", "http://example.org/b#v"} {
		in := &hashing.Info{Node: node, Identities: []hashing.Identity{{Category: "client", Type: "pc"}}}
		file = append(messages.AppendDiscoInfo(file, in), '\n')
	}
	a := &answers{src: strings.NewReader(string(file)), byFP: map[uint64]int32{}, seed: maphash.MakeSeed()}
	if err := a.add("http://example.org/a#v", 0, int64(strings.IndexByte(string(file), '\n'))); err != nil {
		t.Fatal(err)
	}
	// Forge the collision: b's fingerprint is made a's.
	for fp := range a.byFP {
		delete(a.byFP, fp)
		a.byFP[maphash.String(a.seed, "http://example.org/b#v")] = 0
	}
	if err := a.add("http://example.org/b#v", 0, 1); err == nil || !strings.Contains(err.Error(), "share a fingerprint") {
		t.Fatalf("collision: %v", err)
	}
}
