package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"syscall"
	"unicode/utf8"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
)

// explain renders err as a sentence for the person at the terminal. The
// packages return wrapped sentinels and typed errors, which is what a
// program needs (errors.Is, errors.As) but reads as a chain of package
// prefixes ("storage: put ...: hashing: ..."); the command line is where
// they become words. Errors it does not know keep their own text.
func explain(err error) string {
	var (
		oe *storage.OpenError
		re *hashing.RuleError
		mm *hashing.MismatchError
		se *messages.SyntaxError
		nr *notRegularError
		tl *tooLargeError
		pe *fs.PathError
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &oe):
		return explainOpen(oe)
	case errors.As(err, &re):
		return explainRule(re)
	case errors.As(err, &mm):
		return fmt.Sprintf("the document's %s %s hash is %s, not %s as announced",
			schemeName(mm.Key.Scheme), mm.Key.Alg, mm.Computed, mm.Key.Ver())
	case errors.As(err, &se):
		return fmt.Sprintf("not well-formed XML: %s (at byte %d)", se.Msg, se.Offset)
	case errors.As(err, &nr):
		return nr.Error()
	case errors.As(err, &tl):
		return tl.Error()
	case errors.As(err, &pe):
		return fmt.Sprintf("cannot %s %s: %s", pathVerb(pe.Op), displayName(pe.Path), errnoWords(pe.Err))
	}
	for _, s := range sentences {
		if errors.Is(err, s.err) {
			return s.text
		}
	}
	return err.Error()
}

// explainFile is explain for a line that already names the file: a
// filesystem error says only what went wrong with it.
func explainFile(err error) string {
	var pe *fs.PathError
	var nr *notRegularError
	switch {
	case errors.As(err, &nr):
		return nr.what()
	case errors.As(err, &pe):
		return errnoWords(pe.Err)
	}
	return explain(err)
}

// sentences words the sentinels that come back bare, or wrapped only in
// text that adds nothing for a person.
var sentences = []struct {
	err  error
	text string
}{
	{storage.ErrLocked, "the store is in use by another process (a running engine or another capsengine db command)"},
	{storage.ErrFailed, "a write to the disk failed (is it full?); nothing acknowledged was lost"},
	{storage.ErrClosed, "the store was closed before the work was done"},
	{storage.ErrCorrupt, "the store's files are damaged: they fail their checksums"},
	{storage.ErrFormat, "not a capsengine store, or one written by a newer version"},
	{storage.ErrTooLarge, "the entry is larger than a store entry may be"},
	{messages.ErrTooLarge, "the document is larger than the size limit"},
	{messages.ErrTooDeep, "the document nests elements deeper than the decoder allows"},
	{messages.ErrTooMany, "the document has more elements or attributes than the decoder allows"},
	{messages.ErrNotDiscoInfo, "not a disco#info answer: the root element is neither a disco#info <query/> nor an <iq/>"},
	{messages.ErrNoQuery, "an <iq/> without a disco#info <query/>"},
	{messages.ErrIQError, "an <iq type='error'/>, not an answer"},
	{hashing.ErrUnknownAlgorithm, "unknown hash algorithm"},
	{hashing.ErrAlgorithmNotAllowed, "this hash algorithm is not allowed for this kind of hash"},
	{hashing.ErrBadVer, "the hash is not valid base64"},
	{hashing.ErrVerLength, "the hash has the wrong length for its algorithm"},
}

func explainOpen(oe *storage.OpenError) string {
	store := fmt.Sprintf("the %s store %s", oe.Source, displayName(oe.Dir))
	switch {
	case errors.Is(oe.Err, fs.ErrNotExist):
		return store + " does not exist"
	case errors.Is(oe.Err, fs.ErrPermission):
		return "cannot open " + store + ": permission denied"
	case errors.Is(oe.Err, storage.ErrLocked):
		return store + " is in use by another process (a running engine or another capsengine db command); try again when it has finished"
	case errors.Is(oe.Err, storage.ErrFormat):
		return displayName(oe.Dir) + " is not a capsengine store, or was written by a newer version of capsengine"
	case errors.Is(oe.Err, storage.ErrCorrupt):
		var ce *storage.CorruptError
		if errors.As(oe.Err, &ce) {
			s := store + " is damaged: "
			if ce.File != "" {
				s += ce.File + ": "
			}
			s += ce.Problem
			if ce.Lost != "" {
				s += "; lost: " + ce.Lost
			}
			return s
		}
		return store + " is damaged: its files fail their checksums"
	}
	return "cannot open " + store + ": " + explain(oe.Err)
}

func explainRule(re *hashing.RuleError) string {
	const forbidden = ", which XEP-0115 §5.4 forbids"
	switch {
	case errors.Is(re, hashing.ErrDuplicateFeature):
		return fmt.Sprintf("the feature %q is listed twice%s", re.Value, forbidden)
	case errors.Is(re, hashing.ErrDuplicateIdentity):
		return fmt.Sprintf("the identity %q (category/type/lang/name) is listed twice%s", re.Value, forbidden)
	case errors.Is(re, hashing.ErrDuplicateFormType):
		return fmt.Sprintf("two forms have the FORM_TYPE %q%s", re.Value, forbidden)
	case errors.Is(re, hashing.ErrFormTypeMultipleValues):
		return fmt.Sprintf("a FORM_TYPE field has different values (%s)%s", re.Value, forbidden)
	}
	return re.Error()
}

func schemeName(s hashing.Scheme) string {
	switch s {
	case hashing.XEP0115:
		return "XEP-0115"
	case hashing.XEP0390:
		return "XEP-0390"
	}
	return s.String()
}

func pathVerb(op string) string {
	switch op {
	case "open", "openat", "stat", "lstat":
		return "open"
	case "read", "readdirent", "readdir", "readdirnames":
		return "read"
	case "mkdir", "mkdirall":
		return "create"
	}
	return op
}

// errnoWords is the system's description of a filesystem error, without
// the operation and path that fs.PathError puts around it.
func errnoWords(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.As(err, &errno):
		return errno.Error()
	}
	return err.Error()
}

// notRegularError refuses a named pipe, device, socket or directory where
// a file is expected: reading one blocks forever or never ends.
type notRegularError struct {
	path string
	mode fs.FileMode
}

func (e *notRegularError) what() string {
	var kind string
	switch t := e.mode.Type(); {
	case t&fs.ModeDir != 0:
		kind = "a directory"
	case t&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case t&fs.ModeSocket != 0:
		kind = "a socket"
	case t&fs.ModeCharDevice != 0:
		kind = "a character device"
	case t&fs.ModeDevice != 0:
		kind = "a device"
	default:
		kind = "not a regular file"
		return kind
	}
	return kind + ", not a regular file"
}

func (e *notRegularError) Error() string { return displayName(e.path) + " is " + e.what() }

// tooLargeError is a document over the size limit; it matches
// messages.ErrTooLarge.
type tooLargeError struct{ max int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the document is larger than the limit of %d bytes", e.max)
}

func (e *tooLargeError) Unwrap() error { return messages.ErrTooLarge }

// displayName is a file name as it may be printed: quoted, with escapes,
// when it holds control characters or invalid UTF-8, which would
// otherwise move the cursor, rewrite the line or hide text on a terminal.
func displayName(name string) string {
	if !utf8.ValidString(name) {
		return strconv.Quote(name)
	}
	for _, r := range name {
		// Not graphic: control characters, and format characters such as
		// U+202E, which reverses the text that follows it.
		if !strconv.IsGraphic(r) {
			return strconv.Quote(name)
		}
	}
	return name
}
