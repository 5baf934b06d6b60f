package hashing

import "testing"

func TestSoftwareOf(t *testing.T) {
	form := Form{Fields: []Field{
		{Var: "FORM_TYPE", Type: "hidden", Values: []string{NSSoftwareInfo}},
		{Var: "software", Values: []string{"Gajim"}},
		{Var: "software_version", Values: []string{"1.9.5"}},
	}}
	other := Form{Fields: []Field{{Var: "FORM_TYPE", Type: "hidden", Values: []string{"urn:xmpp:dataforms:contact"}},
		{Var: "software", Values: []string{"not this"}}}}
	named := []Identity{{Category: "client", Type: "pc"}, {Category: "client", Type: "pc", Lang: "en", Name: "Dino"}}
	for _, tc := range []struct {
		name string
		info *Info
		want Software
		ok   bool
	}{
		{"form wins", &Info{Identities: named, Forms: []Form{other, form}}, Software{"Gajim", "1.9.5", true}, true},
		{"identity name", &Info{Identities: named, Forms: []Form{other}}, Software{Name: "Dino"}, true},
		{"nothing", &Info{Identities: []Identity{{Category: "client", Type: "pc"}}}, Software{}, false},
	} {
		got, ok := SoftwareOf(tc.info)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
