package messages

import (
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages/internal/xmlscan"
)

// discoState collects an answer as spans of one byte buffer, so that the
// Info is built at the end from a single string: seven allocations whatever
// the size of the answer. Feature names the shared table holds stay out of
// the buffer (intern.go).
type discoState struct {
	strs   []byte
	node   span
	ids    []identityRec
	feats  []span
	shared []string // shared[i], when set, is feature i; feats[i] is then empty
	forms  []formRec
	fields []fieldRec
	vals   []span
}

type span struct{ start, end int }

type identityRec struct{ category, typ, lang, name span }

type formRec struct {
	typ       span
	fieldsEnd int // this form's fields are fields[previous form's fieldsEnd:fieldsEnd]
}

type fieldRec struct {
	vr, typ   span
	valuesEnd int
}

func (st *discoState) reset() {
	st.strs = st.strs[:0]
	st.node = span{}
	st.ids = st.ids[:0]
	st.feats = st.feats[:0]
	clear(st.shared)
	st.shared = st.shared[:0]
	st.forms = st.forms[:0]
	st.fields = st.fields[:0]
	st.vals = st.vals[:0]
}

func (st *discoState) add(b []byte) span {
	start := len(st.strs)
	st.strs = append(st.strs, b...)
	return span{start, len(st.strs)}
}

// DecodeDiscoInfo decodes a XEP-0030 disco#info answer: a
// <query xmlns='http://jabber.org/protocol/disco#info'/> element, or an
// <iq/> in no namespace or a stanza namespace whose first such query child
// is used. An XML declaration may precede it.
//
// Only direct children of the query count: <identity/> and <feature/> in
// the disco#info namespace and XEP-0004 forms (<x xmlns='jabber:x:data'/>)
// with their <field/> and <value/> children. Everything else, a query
// nested in the query included, is checked and ignored. An identity's Lang
// is the xml:lang attribute of that <identity/> only, never one inherited
// from the iq or the query. A value's text is taken exactly: references
// decoded, CDATA sections included, whitespace kept.
//
// The Info owns its memory. The errors are a *SyntaxError for malformed
// input, ErrTooLarge, ErrTooDeep or ErrTooMany when a limit is exceeded,
// ErrNotDiscoInfo for another well-formed document, ErrIQError for an iq of
// type error and ErrNoQuery for an iq without a query. The Info is not
// validated against XEP-0115 §5.4; that is hashing's job.
func (d *Decoder) DecodeDiscoInfo(b []byte) (*hashing.Info, error) {
	lim := d.limits()
	if len(b) > lim.MaxDiscoInfoBytes {
		return nil, tooLarge(len(b), lim.MaxDiscoInfoBytes)
	}
	s := d.reset(b, lim)
	st := &d.disco
	st.reset()
	if err := decodeDiscoInfo(s, st, lim); err != nil {
		return nil, err
	}
	return st.info(), nil
}

func decodeDiscoInfo(s *xmlscan.Scanner, st *discoState, lim *Limits) error {
	if _, err := s.Next(); err != nil { // always the root's StartElement
		return scanError(err)
	}
	ns, local := s.Space(), s.Local()
	switch {
	case string(local) == "query" && string(ns) == NSDiscoInfo:
		if err := readQuery(s, st, lim); err != nil {
			return err
		}
		return end(s)
	case string(local) == "iq" && isStanzaNS(ns):
	default:
		if err := s.Skip(); err != nil {
			return scanError(err)
		}
		if err := end(s); err != nil {
			return err
		}
		return ErrNotDiscoInfo
	}
	typ, _ := s.Attr("type")
	isError := string(typ) == "error"
	found := false
	for {
		k, err := s.Next()
		if err != nil {
			return scanError(err)
		}
		if k == xmlscan.EndElement {
			break
		}
		if k != xmlscan.StartElement {
			continue
		}
		if !isError && !found && string(s.Local()) == "query" && string(s.Space()) == NSDiscoInfo {
			found = true
			if err := readQuery(s, st, lim); err != nil {
				return err
			}
			continue
		}
		if err := s.Skip(); err != nil {
			return scanError(err)
		}
	}
	if err := end(s); err != nil {
		return err
	}
	switch {
	case isError:
		return ErrIQError
	case !found:
		return ErrNoQuery
	}
	return nil
}

// readQuery consumes the query element just started.
func readQuery(s *xmlscan.Scanner, st *discoState, lim *Limits) error {
	node, _ := s.Attr("node")
	st.node = st.add(node)
	for {
		k, err := s.Next()
		if err != nil {
			return scanError(err)
		}
		if k == xmlscan.EndElement {
			return nil
		}
		if k != xmlscan.StartElement {
			continue
		}
		ns, local := s.Space(), s.Local()
		switch {
		case string(ns) == NSDiscoInfo && string(local) == "identity":
			if len(st.ids) >= lim.MaxIdentities {
				return tooMany("identities", lim.MaxIdentities)
			}
			st.ids = append(st.ids, readIdentity(s, st))
		case string(ns) == NSDiscoInfo && string(local) == "feature":
			if len(st.feats) >= lim.MaxFeatures {
				return tooMany("features", lim.MaxFeatures)
			}
			v, _ := s.Attr("var")
			if name, ok := featureNames.intern(v); ok {
				st.feats, st.shared = append(st.feats, span{}), append(st.shared, name)
			} else {
				st.feats, st.shared = append(st.feats, st.add(v)), append(st.shared, "")
			}
		case string(ns) == NSDataForms && string(local) == "x":
			if len(st.forms) >= lim.MaxForms {
				return tooMany("forms", lim.MaxForms)
			}
			if err := readForm(s, st, lim); err != nil {
				return err
			}
			continue
		}
		if err := s.Skip(); err != nil {
			return scanError(err)
		}
	}
}

func readIdentity(s *xmlscan.Scanner, st *discoState) identityRec {
	var id identityRec
	for i := range s.NumAttrs() {
		space, local := s.AttrName(i)
		if space != nil {
			if string(local) == "lang" && string(space) == NSXML {
				id.lang = st.add(s.AttrValue(i))
			}
			continue
		}
		switch string(local) {
		case "category":
			id.category = st.add(s.AttrValue(i))
		case "type":
			id.typ = st.add(s.AttrValue(i))
		case "name":
			id.name = st.add(s.AttrValue(i))
		}
	}
	return id
}

// readForm consumes the data form just started.
func readForm(s *xmlscan.Scanner, st *discoState, lim *Limits) error {
	typ, _ := s.Attr("type")
	form := formRec{typ: st.add(typ)}
	for {
		k, err := s.Next()
		if err != nil {
			return scanError(err)
		}
		if k == xmlscan.EndElement {
			form.fieldsEnd = len(st.fields)
			st.forms = append(st.forms, form)
			return nil
		}
		if k != xmlscan.StartElement {
			continue
		}
		if string(s.Local()) != "field" || string(s.Space()) != NSDataForms {
			if err := s.Skip(); err != nil {
				return scanError(err)
			}
			continue
		}
		if len(st.fields) >= lim.MaxFields {
			return tooMany("form fields", lim.MaxFields)
		}
		if err := readField(s, st, lim); err != nil {
			return err
		}
	}
}

// readField consumes the form field just started.
func readField(s *xmlscan.Scanner, st *discoState, lim *Limits) error {
	var f fieldRec
	for i := range s.NumAttrs() {
		space, local := s.AttrName(i)
		if space != nil {
			continue
		}
		switch string(local) {
		case "var":
			f.vr = st.add(s.AttrValue(i))
		case "type":
			f.typ = st.add(s.AttrValue(i))
		}
	}
	for {
		k, err := s.Next()
		if err != nil {
			return scanError(err)
		}
		if k == xmlscan.EndElement {
			f.valuesEnd = len(st.vals)
			st.fields = append(st.fields, f)
			return nil
		}
		if k != xmlscan.StartElement {
			continue
		}
		if string(s.Local()) != "value" || string(s.Space()) != NSDataForms {
			if err := s.Skip(); err != nil {
				return scanError(err)
			}
			continue
		}
		if len(st.vals) >= lim.MaxValues {
			return tooMany("form values", lim.MaxValues)
		}
		text, err := s.ElementText()
		if err != nil {
			return scanError(err)
		}
		st.vals = append(st.vals, st.add(text))
	}
}

// info builds the Info. Slices are cut with their capacity capped, so a
// caller appending to one form's fields cannot overwrite the next form's.
func (st *discoState) info() *hashing.Info {
	all := string(st.strs)
	str := func(sp span) string { return all[sp.start:sp.end] }
	in := &hashing.Info{Node: str(st.node)}
	if len(st.ids) > 0 {
		in.Identities = make([]hashing.Identity, len(st.ids))
		for i, id := range st.ids {
			in.Identities[i] = hashing.Identity{
				Category: str(id.category),
				Type:     str(id.typ),
				Lang:     str(id.lang),
				Name:     str(id.name),
			}
		}
	}
	if len(st.feats) > 0 {
		in.Features = make([]string, len(st.feats))
		for i, sp := range st.feats {
			if name := st.shared[i]; name != "" {
				in.Features[i] = name
			} else {
				in.Features[i] = str(sp)
			}
		}
	}
	if len(st.forms) == 0 {
		return in
	}
	values := make([]string, len(st.vals))
	for i, sp := range st.vals {
		values[i] = str(sp)
	}
	fields := make([]hashing.Field, len(st.fields))
	from := 0
	for i, f := range st.fields {
		fields[i] = hashing.Field{Var: str(f.vr), Type: str(f.typ)}
		if f.valuesEnd > from {
			fields[i].Values = values[from:f.valuesEnd:f.valuesEnd]
		}
		from = f.valuesEnd
	}
	in.Forms = make([]hashing.Form, len(st.forms))
	from = 0
	for i, f := range st.forms {
		in.Forms[i] = hashing.Form{Type: str(f.typ)}
		if f.fieldsEnd > from {
			in.Forms[i].Fields = fields[from:f.fieldsEnd:f.fieldsEnd]
		}
		from = f.fieldsEnd
	}
	return in
}
