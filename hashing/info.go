package hashing

// Info is the part of a disco#info answer (XEP-0030) that entity capabilities
// hash: identities, features and XEP-0128 extended information forms.
//
// Info is plain data. Functions in this package read it and never modify it or
// keep references to its slices after they return, so one Info may be hashed
// from many goroutines at once.
type Info struct {
	// Node is the query's node attribute ("node#ver" in a caps answer). It is
	// carried for reference and is not part of any hash.
	Node       string
	Identities []Identity
	Features   []string
	Forms      []Form
}

// Identity is one <identity/> of a disco#info answer.
type Identity struct {
	Category string
	Type     string
	// Lang is the xml:lang attribute of the <identity/> element itself, or "".
	// It is never inherited from an enclosing element: Prosody stamps xml:lang
	// on every stanza it routes, and inheriting it breaks real peers' hashes.
	Lang string
	Name string
}

// Form is one XEP-0004 data form (<x xmlns='jabber:x:data'/>) carried in a
// disco#info answer as XEP-0128 extended information.
type Form struct {
	// Type is the form's type attribute, normally "result". Not hashed.
	Type   string
	Fields []Field
}

// Field is one <field/> of a data form.
type Field struct {
	Var string
	// Type is the field's type attribute ("hidden", "text-multi", ...).
	// Only FORM_TYPE's type matters to hashing: a form whose FORM_TYPE is not
	// hidden is left out of the XEP-0115 string.
	Type   string
	Values []string
}

// FormTypeVar is the var of the field that names a form's type.
const FormTypeVar = "FORM_TYPE"

// FormType reports the form's FORM_TYPE: its first value, whether the field
// has type "hidden", and whether the form has a FORM_TYPE field with a value
// at all. Values beyond the first are checked by Validate.
func (f *Form) FormType() (value string, hidden, ok bool) {
	for i := range f.Fields {
		fld := &f.Fields[i]
		if fld.Var != FormTypeVar {
			continue
		}
		if len(fld.Values) == 0 {
			continue
		}
		return fld.Values[0], fld.Type == "hidden", true
	}
	return "", false, false
}

// HasFeature reports whether the answer lists feature var.
func (in *Info) HasFeature(v string) bool {
	for _, f := range in.Features {
		if f == v {
			return true
		}
	}
	return false
}
