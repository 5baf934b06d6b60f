package messages

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/capsengine/capsengine/messages/internal/xmlscan"
)

// Errors returned by the decoders. Limit errors come wrapped with the limit
// that was hit; match them with errors.Is.
var (
	// ErrTooLarge: the input is longer than Limits.MaxPresenceBytes or
	// Limits.MaxDiscoInfoBytes. Nothing of it was read.
	ErrTooLarge = errors.New("messages: input too large")
	// ErrTooDeep: elements are nested deeper than Limits.MaxDepth.
	ErrTooDeep = errors.New("messages: elements nested too deeply")
	// ErrTooMany: more attributes on one element, namespace declarations
	// in scope, caps2 hashes, identities, features, forms, fields or values
	// than Limits allows.
	ErrTooMany = errors.New("messages: too many elements or attributes")
	// ErrNotPresence: a well-formed document whose root is not a presence
	// stanza.
	ErrNotPresence = errors.New("messages: not a presence stanza")
	// ErrNotDiscoInfo: a well-formed document whose root is neither a
	// disco#info query nor an iq.
	ErrNotDiscoInfo = errors.New("messages: not a disco#info query or iq")
	// ErrIQError: a well-formed iq of type error, whatever it carries.
	ErrIQError = errors.New("messages: iq of type error")
	// ErrNoQuery: a well-formed iq without a disco#info query child.
	ErrNoQuery = errors.New("messages: iq without a disco#info query")
)

// SyntaxError reports input that is not well-formed XML 1.0, not
// namespace-well-formed, or uses something this package refuses on
// principle (a DTD, an encoding other than UTF-8).
type SyntaxError struct {
	Offset int64 // byte offset in the input where the problem was found
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "messages: XML syntax error at offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.Msg
}

// scanError translates the scanner's errors at the package boundary.
func scanError(err error) error {
	e, ok := err.(*xmlscan.Error)
	if !ok {
		return err
	}
	switch e.Kind {
	case xmlscan.TooDeep:
		return fmt.Errorf("%w: at offset %d", ErrTooDeep, e.Offset)
	case xmlscan.TooManyAttrs:
		return fmt.Errorf("%w: attributes on the element at offset %d", ErrTooMany, e.Offset)
	case xmlscan.TooManyNamespaces:
		return fmt.Errorf("%w: namespace declarations in scope at offset %d", ErrTooMany, e.Offset)
	}
	return &SyntaxError{Offset: int64(e.Offset), Msg: e.Msg}
}

func tooMany(what string, limit int) error {
	return fmt.Errorf("%w: more than %d %s", ErrTooMany, limit, what)
}

func tooLarge(n, limit int) error {
	return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, limit)
}
