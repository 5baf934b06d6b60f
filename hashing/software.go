package hashing

// NSSoftwareInfo is the FORM_TYPE of XEP-0232 (Software Information).
const NSSoftwareInfo = "urn:xmpp:dataforms:softwareinfo"

// Software is what an entity says it runs: the software and version of
// its XEP-0232 form when it has one, else the name of its first named
// identity (with no version). FromForm says which.
type Software struct {
	Name, Version string
	FromForm      bool
}

// SoftwareOf reads the software an entity announces; ok is false when it
// names none (no form, no named identity).
func SoftwareOf(info *Info) (s Software, ok bool) {
	for _, f := range info.Forms {
		if field(f, "FORM_TYPE") != NSSoftwareInfo {
			continue
		}
		if name := field(f, "software"); name != "" {
			return Software{Name: name, Version: field(f, "software_version"), FromForm: true}, true
		}
	}
	for _, id := range info.Identities {
		if id.Name != "" {
			return Software{Name: id.Name}, true
		}
	}
	return Software{}, false
}

// field is the first value of f's field v, or "".
func field(f Form, v string) string {
	for _, fl := range f.Fields {
		if fl.Var == v && len(fl.Values) > 0 {
			return fl.Values[0]
		}
	}
	return ""
}
