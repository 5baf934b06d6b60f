package hashing

// Proof is Verify's finding that an Info hashes to a Key, carried with
// the Info so that code handed both later need not hash it again: the
// engine verifies an answer before serving it, and its store, which
// never keeps an unverified entry, would otherwise hash the same answer a
// second time (half of a put's CPU). Only Prove makes a Proof that holds.
//
// A Proof holds for the Info it was made for, as that Info's slices were:
// a verified Info must not be changed in place, which the engine never
// does (its answers are shared read-only).
type Proof struct {
	key        Key
	method     Method
	opts       Options // what the verification allowed
	identities []Identity
	features   []string
	forms      []Form
}

// Prove is Verify, returning a Proof of what it found.
func Prove(k Key, in *Info, opts Options) (Proof, error) {
	m, err := Verify(k, in, opts)
	if err != nil {
		return Proof{}, err
	}
	return Proof{key: k, method: m, opts: opts, identities: in.Identities, features: in.Features, forms: in.Forms}, nil
}

// Method is how the proven Info verified; 0 for a zero Proof.
func (p Proof) Method() Method { return p.method }

// For reports how in verifies against k, when p proves exactly that: p
// was made for k and for in's slices (the same arrays and lengths, so a
// copy of the Info struct is covered too), and, unless it verified
// strictly, opts allow all that Prove's options did.
// Otherwise the caller must Verify.
func (p Proof) For(k Key, in *Info, opts Options) (Method, bool) {
	if p.method == 0 || k.IsZero() || p.key != k {
		return 0, false
	}
	if !same(p.identities, in.Identities) || !same(p.features, in.Features) || !same(p.forms, in.Forms) {
		return 0, false
	}
	// A lenient method may rest on more than its name says (escaped
	// over features as sent): opts must allow all that Prove's did.
	if p.method != Strict && (p.opts.DuplicateFeatures && !opts.DuplicateFeatures || p.opts.EscapedS && !opts.EscapedS) {
		return 0, false
	}
	return p.method, true
}

// same: a and b are the same slice (the same array, from its start, and
// the same length), not merely equal ones.
func same[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
