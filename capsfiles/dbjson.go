package capsfiles

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/capsengine/capsengine/hashing"
)

// DBJSON is the name of capsdb's single-file form of its corpus: one JSON
// object keyed by ver (base64), each value
//
//	{"hash": "sha-1", "node": "http://psi-im.org",
//	 "identities": [{"category": "client", "type": "pc", "name": "Psi", "lang": "en"}],
//	 "features": ["..."],
//	 "forms": {"urn:xmpp:dataforms:softwareinfo": {"software": ["Psi"], ...}}}
//
// It holds the same entries as hashes/, one per ver rather than one per
// node, with each form as FORM_TYPE → var → values.
const DBJSON = "db.json"

// DBEntry is one entry of a db.json: its XEP-0115 key, the node it was
// seen with, and its disco#info, or Err when the entry cannot be read
// (the other entries still can).
type DBEntry struct {
	Ver  string // the JSON key, as written
	Key  hashing.Key
	Node string
	Info *hashing.Info
	Err  error
}

type dbJSONEntry struct {
	Hash       string `json:"hash"`
	Node       string `json:"node"`
	Identities []struct {
		Category string `json:"category"`
		Type     string `json:"type"`
		Name     string `json:"name"`
		Lang     string `json:"lang"`
	} `json:"identities"`
	Features []string                       `json:"features"`
	Forms    map[string]map[string][]string `json:"forms"`
}

// ParseDBJSON reads a capsdb db.json. It fails only when data is not a
// JSON object; an entry that does not decode, or whose ver and hash do
// not make a key, comes back with Err set. Entries are in ver order.
// Forms get type "result", a hidden FORM_TYPE first and their fields in
// var order (JSON objects have no order; the hash sorts them anyway).
func ParseDBJSON(data []byte) ([]DBEntry, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", DBJSON, err)
	}
	vers := make([]string, 0, len(raw))
	for v := range raw {
		vers = append(vers, v)
	}
	slices.Sort(vers)
	out := make([]DBEntry, 0, len(raw))
	for _, ver := range vers {
		out = append(out, parseDBEntry(ver, raw[ver]))
	}
	return out, nil
}

func parseDBEntry(ver string, msg json.RawMessage) DBEntry {
	de := DBEntry{Ver: ver}
	var e dbJSONEntry
	if err := json.Unmarshal(msg, &e); err != nil {
		de.Err = fmt.Errorf("entry %q: %w", ver, err)
		return de
	}
	alg, err := hashing.ParseAlgorithm(strings.ToLower(e.Hash))
	if err != nil {
		de.Err = fmt.Errorf("entry %q: %w", ver, err)
		return de
	}
	if de.Key, err = hashing.ParseKey(hashing.XEP0115, alg, ver); err != nil {
		de.Err = fmt.Errorf("entry %q: %w", ver, err)
		return de
	}
	de.Node = e.Node
	in := &hashing.Info{Features: e.Features}
	for _, id := range e.Identities {
		in.Identities = append(in.Identities, hashing.Identity{Category: id.Category, Type: id.Type, Lang: id.Lang, Name: id.Name})
	}
	formTypes := make([]string, 0, len(e.Forms))
	for ft := range e.Forms {
		formTypes = append(formTypes, ft)
	}
	slices.Sort(formTypes)
	for _, ft := range formTypes {
		f := hashing.Form{Type: "result", Fields: []hashing.Field{{Var: "FORM_TYPE", Type: "hidden", Values: []string{ft}}}}
		vars := make([]string, 0, len(e.Forms[ft]))
		for v := range e.Forms[ft] {
			vars = append(vars, v)
		}
		slices.Sort(vars)
		for _, v := range vars {
			if v == "FORM_TYPE" {
				continue // the key already says it
			}
			f.Fields = append(f.Fields, hashing.Field{Var: v, Values: e.Forms[ft][v]})
		}
		in.Forms = append(in.Forms, f)
	}
	de.Info = in
	return de
}
