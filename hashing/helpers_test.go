package hashing_test

import (
	"crypto/sha1"
	"encoding/xml"
	"testing"

	"github.com/capsengine/capsengine/hashing"
)

// xmlInfo decodes a disco#info <query/> with encoding/xml. It is enough for
// the well-formed XEP examples these tests read and keeps this package's
// tests independent of the messages decoder (which has its own).
type xmlInfo struct {
	Node       string `xml:"node,attr"`
	Identities []struct {
		Category string `xml:"category,attr"`
		Type     string `xml:"type,attr"`
		Lang     string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
		Name     string `xml:"name,attr"`
	} `xml:"http://jabber.org/protocol/disco#info identity"`
	Features []struct {
		Var string `xml:"var,attr"`
	} `xml:"http://jabber.org/protocol/disco#info feature"`
	Forms []struct {
		Type   string `xml:"type,attr"`
		Fields []struct {
			Var    string   `xml:"var,attr"`
			Type   string   `xml:"type,attr"`
			Values []string `xml:"jabber:x:data value"`
		} `xml:"jabber:x:data field"`
	} `xml:"jabber:x:data x"`
}

func decodeInfo(t testing.TB, b []byte) *hashing.Info {
	t.Helper()
	var x xmlInfo
	if err := xml.Unmarshal(b, &x); err != nil {
		t.Fatalf("decode: %v", err)
	}
	in := &hashing.Info{Node: x.Node}
	for _, id := range x.Identities {
		in.Identities = append(in.Identities, hashing.Identity{Category: id.Category, Type: id.Type, Lang: id.Lang, Name: id.Name})
	}
	for _, f := range x.Features {
		in.Features = append(in.Features, f.Var)
	}
	for _, f := range x.Forms {
		form := hashing.Form{Type: f.Type}
		for _, fld := range f.Fields {
			form.Fields = append(form.Fields, hashing.Field{Var: fld.Var, Type: fld.Type, Values: fld.Values})
		}
		in.Forms = append(in.Forms, form)
	}
	return in
}

func sha1Sum(b []byte) []byte {
	s := sha1.Sum(b)
	return s[:]
}
