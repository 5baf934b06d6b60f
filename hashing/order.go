package hashing

import (
	"cmp"
	"slices"
	"strings"
	"sync"
)

// scratch holds the index slices that sorting needs. Sorting indices rather
// than the caller's slices keeps Info unmodified; pooling them keeps the
// append-style functions free of allocations once warm.
type scratch struct {
	ids    []int32
	feats  []int32
	forms  []formRef
	fields []int32
	vals   []int32
	buf    []byte
	spans  []span
	sbuf   []byte // S or the XEP-0390 input, for Verify and Compute
}

type formRef struct {
	idx      int32
	formType string
}

type span struct{ from, to int32 }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(s *scratch) {
	// Do not keep pathological buffers alive in the pool.
	if cap(s.buf) > 1<<20 || cap(s.sbuf) > 1<<20 || cap(s.spans) > 1<<16 {
		return
	}
	scratchPool.Put(s)
}

func identityCompare(a, b *Identity) int {
	if c := strings.Compare(a.Category, b.Category); c != 0 {
		return c
	}
	if c := strings.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	if c := strings.Compare(a.Lang, b.Lang); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// at is the i-th index of an order that validate may have left empty to
// mean "as given".
func at(order []int32, i int) int {
	if len(order) == 0 {
		return i
	}
	return int(order[i])
}

func identitiesSorted(ids []Identity) bool {
	for i := 1; i < len(ids); i++ {
		if identityCompare(&ids[i-1], &ids[i]) > 0 {
			return false
		}
	}
	return true
}

// iota32 resets s to 0..n-1, reusing its storage.
func iota32(s []int32, n int) []int32 {
	s = slices.Grow(s[:0], n)[:n]
	for i := range s {
		s[i] = int32(i)
	}
	return s
}

// validate applies XEP-0115 §5.4 and leaves in s the octet-order of the
// identities, the features and the forms that take part in the XEP-0115
// string. With dupFeatures a repeated feature is kept (hashed as sent)
// instead of rejected.
func validate(in *Info, s *scratch, dupFeatures bool) error {
	// Most peers send their lists already sorted: checking costs one pass,
	// and then s.ids / s.feats stay nil and the builders walk the input.
	ids := in.Identities
	s.ids = s.ids[:0]
	if !identitiesSorted(ids) {
		s.ids = iota32(s.ids, len(ids))
		slices.SortFunc(s.ids, func(a, b int32) int { return identityCompare(&ids[a], &ids[b]) })
	}
	for i := 1; i < len(ids); i++ {
		a, b := &ids[at(s.ids, i-1)], &ids[at(s.ids, i)]
		if identityCompare(a, b) == 0 {
			return &RuleError{ErrDuplicateIdentity, a.Category + "/" + a.Type + "/" + a.Lang + "/" + a.Name}
		}
	}

	feats := in.Features
	s.feats = s.feats[:0]
	if !slices.IsSorted(feats) {
		s.feats = iota32(s.feats, len(feats))
		slices.SortFunc(s.feats, func(a, b int32) int { return strings.Compare(feats[a], feats[b]) })
	}
	if !dupFeatures {
		for i := 1; i < len(feats); i++ {
			if f := feats[at(s.feats, i)]; f == feats[at(s.feats, i-1)] {
				return &RuleError{ErrDuplicateFeature, f}
			}
		}
	}

	s.forms = s.forms[:0]
	for i := range in.Forms {
		ft, hidden, ok, err := formType(&in.Forms[i])
		if err != nil {
			return err
		}
		// XEP-0115 §5.4: a form whose FORM_TYPE is not hidden is ignored,
		// and one without FORM_TYPE is not XEP-0128 extended information.
		if ok && hidden {
			s.forms = append(s.forms, formRef{int32(i), ft})
		}
	}
	if !slices.IsSortedFunc(s.forms, compareFormRef) {
		slices.SortStableFunc(s.forms, compareFormRef)
	}
	for i := 1; i < len(s.forms); i++ {
		if s.forms[i].formType == s.forms[i-1].formType {
			return &RuleError{ErrDuplicateFormType, s.forms[i].formType}
		}
	}
	return nil
}

func compareFormRef(a, b formRef) int { return strings.Compare(a.formType, b.formType) }

// formType is Form.FormType plus the check that every FORM_TYPE value in the
// form is the same character data (a value repeated identically counts once).
func formType(f *Form) (value string, hidden, ok bool, err error) {
	for i := range f.Fields {
		fld := &f.Fields[i]
		if fld.Var != FormTypeVar {
			continue
		}
		for _, v := range fld.Values {
			if !ok {
				value, hidden, ok = v, fld.Type == "hidden", true
				continue
			}
			if v != value {
				return "", false, false, &RuleError{ErrFormTypeMultipleValues, value + " / " + v}
			}
		}
	}
	return value, hidden, ok, nil
}

// sortedFields leaves in s.fields the form's fields other than FORM_TYPE,
// ordered by var; fields sharing a var keep their document order.
func sortedFields(f *Form, s *scratch) []int32 {
	s.fields = s.fields[:0]
	for i := range f.Fields {
		if f.Fields[i].Var != FormTypeVar {
			s.fields = append(s.fields, int32(i))
		}
	}
	fields := f.Fields
	cmpVar := func(a, b int32) int { return strings.Compare(fields[a].Var, fields[b].Var) }
	if !slices.IsSortedFunc(s.fields, cmpVar) {
		slices.SortStableFunc(s.fields, cmpVar)
	}
	return s.fields
}

// sortedValues leaves in s.vals the field's values in octet order, or
// returns nil when they already are.
func sortedValues(values []string, s *scratch) []int32 {
	if slices.IsSorted(values) {
		return nil
	}
	s.vals = iota32(s.vals, len(values))
	slices.SortFunc(s.vals, func(a, b int32) int { return cmp.Compare(values[a], values[b]) })
	return s.vals
}
