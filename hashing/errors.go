package hashing

import (
	"errors"
	"fmt"
)

// Validation errors: XEP-0115 §5.4 says a response with any of these is
// ill-formed and must not be cached. They come wrapped in a *RuleError, so
// match them with errors.Is.
var (
	// ErrDuplicateIdentity: two identities with the same category, type,
	// xml:lang and name.
	ErrDuplicateIdentity = errors.New("hashing: duplicate identity")
	// ErrDuplicateFeature: a feature var listed twice.
	ErrDuplicateFeature = errors.New("hashing: duplicate feature")
	// ErrDuplicateFormType: two extended information forms with one FORM_TYPE.
	ErrDuplicateFormType = errors.New("hashing: duplicate FORM_TYPE")
	// ErrFormTypeMultipleValues: a FORM_TYPE field whose values differ.
	ErrFormTypeMultipleValues = errors.New("hashing: FORM_TYPE with different values")
)

// Errors about the announced hash itself.
var (
	ErrUnknownAlgorithm    = errors.New("hashing: unknown hash algorithm")
	ErrAlgorithmNotAllowed = errors.New("hashing: algorithm not allowed for this scheme")
	ErrBadVer              = errors.New("hashing: ver is not valid base64")
	ErrVerLength           = errors.New("hashing: ver has the wrong length for its algorithm")
)

// RuleError reports which §5.4 rule a disco#info answer broke and the value
// that broke it.
type RuleError struct {
	Err   error  // one of the validation sentinels above
	Value string // the duplicated identity, feature or FORM_TYPE
}

func (e *RuleError) Error() string { return fmt.Sprintf("%v: %q", e.Err, e.Value) }
func (e *RuleError) Unwrap() error { return e.Err }

// MismatchError reports that a disco#info answer does not hash to the
// announced value.
type MismatchError struct {
	Node     string // the node the answer was for, when known
	Key      Key    // what was announced
	Computed string // what the answer hashes to (base64)
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("hashing: %s %s: answer hashes to %s, announced %s",
		e.Key.Scheme, e.Key.Alg, e.Computed, e.Key.Ver())
}

// Rule names a validation failure with the words of the capsengine ver
// contract: "duplicate-identity", "duplicate-feature", "duplicate-form-type",
// "form-type-multiple-values", "mismatch" for a *MismatchError, and
// "malformed" for anything else that is not nil.
func Rule(err error) string {
	var mm *MismatchError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrDuplicateIdentity):
		return "duplicate-identity"
	case errors.Is(err, ErrDuplicateFeature):
		return "duplicate-feature"
	case errors.Is(err, ErrDuplicateFormType):
		return "duplicate-form-type"
	case errors.Is(err, ErrFormTypeMultipleValues):
		return "form-type-multiple-values"
	case errors.As(err, &mm):
		return "mismatch"
	}
	return "malformed"
}
