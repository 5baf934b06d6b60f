package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

const verLong = `Compute the capability hashes of disco#info documents.

Each FILE (or "-" for standard input) holds one disco#info answer: a
<query xmlns='http://jabber.org/protocol/disco#info'> element, or an <iq> that
wraps one, as a client would send it. For every file, ver prints the XEP-0115
ver (--hash, default sha-1) and XEP-0390 hashes (--caps2) that the document
hashes to, after checking it against the XEP-0115 §5.4 rules.

Output, one line per file and algorithm, saying which XEP the hash is for:

  FILE ALG VALUE (XEP-0115 ver)
  FILE ALG VALUE (XEP-0390 caps2)

or with --json one object per file, in order:

  {"file":"a.xml","xep0115":{"sha-1":"..."},"xep0390":{"sha-256":"..."},"error":null}
  {"file":"b.xml","xep0115":null,"xep0390":null,"error":{"rule":"duplicate-feature","message":"..."}}

A rejected file names the rule it broke: duplicate-identity, duplicate-feature,
duplicate-form-type, form-type-multiple-values, or malformed (not XML, not a
disco#info answer, too large); a file that cannot be read (missing, permission
denied, a directory, a named pipe or device) is "unreadable".

Algorithms: sha-1 sha-224 sha-256 sha-384 sha-512 sha3-256 sha3-512
blake2b-256 blake2b-512 (XEP-0390 takes sha-256 sha-512 sha3-256 sha3-512
blake2b-256 blake2b-512). md5 is only ever verified, never computed.

Exit status: 0 when every file hashed, 1 when any was rejected, 2 for a
usage error.`

const verExample = `  capsengine ver client.xml
  capsengine ver --json --hash sha-1 --caps2 sha-256 --caps2 sha3-256 *.xml
  curl -s ... | capsengine ver -`

type verOptions struct {
	json  bool
	hash  []string
	caps2 []string
	max   int64
}

func newVerCmd() *cobra.Command {
	var o verOptions
	c := &cobra.Command{
		Use:     "ver [--json] [--hash ALG]... [--caps2 ALG]... FILE...",
		Short:   "Compute the XEP-0115 ver and XEP-0390 hashes of disco#info documents",
		Long:    verLong,
		Example: verExample,
		RunE: func(c *cobra.Command, args []string) error {
			return runVer(c, o, args)
		},
	}
	f := c.Flags()
	f.BoolVar(&o.json, "json", false, "print one JSON object per file")
	f.StringArrayVar(&o.hash, "hash", nil, "XEP-0115 algorithm (repeatable; default sha-1 when neither --hash nor --caps2 is given)")
	f.StringArrayVar(&o.caps2, "caps2", nil, "XEP-0390 algorithm (repeatable)")
	f.Int64Var(&o.max, "max-size", int64(messages.DefaultLimits().MaxDiscoInfoBytes), "largest document accepted, in bytes")
	return c
}

func parseAlgs(scheme hashing.Scheme, names []string) ([]hashing.Algorithm, error) {
	var out []hashing.Algorithm
	for _, n := range names {
		a, err := hashing.ParseAlgorithm(n)
		if err != nil {
			return nil, err
		}
		if !scheme.Emittable(a) {
			return nil, fmt.Errorf("%s cannot compute %s hashes", scheme, a)
		}
		out = append(out, a)
	}
	return out, nil
}

func runVer(c *cobra.Command, o verOptions, files []string) error {
	if len(files) == 0 {
		return usageError(c, errors.New("no FILE given"))
	}
	if len(o.hash) == 0 && len(o.caps2) == 0 {
		o.hash = []string{"sha-1"}
	}
	algs1, err := parseAlgs(hashing.XEP0115, o.hash)
	if err != nil {
		return usageError(c, err)
	}
	algs2, err := parseAlgs(hashing.XEP0390, o.caps2)
	if err != nil {
		return usageError(c, err)
	}
	if o.max <= 0 {
		return usageError(c, errors.New("--max-size must be positive"))
	}
	dec := &messages.Decoder{}
	dec.Limits.MaxDiscoInfoBytes = int(min(o.max, 1<<30))

	out := c.OutOrStdout()
	failed := false
	for _, file := range files {
		if err := c.Context().Err(); err != nil {
			return err // interrupted: the files so far are printed
		}
		r := verFile(c.Context(), c.InOrStdin(), file, dec, algs1, algs2)
		if err := c.Context().Err(); err != nil {
			return err // interrupted: the read was cut short, not the file
		}
		if r.err != nil {
			failed = true
		}
		if o.json {
			err = writeVerJSON(out, file, r)
		} else {
			err = writeVerText(out, c.ErrOrStderr(), c.CommandPath(), file, r)
		}
		if err != nil {
			return err
		}
	}
	if failed {
		return exitError{1}
	}
	return nil
}

type verResult struct {
	xep0115, xep0390 []algValue
	err              error
	rule             string // the contract's name for err
}

type algValue struct {
	alg   hashing.Algorithm
	value string
}

func verFile(ctx context.Context, stdin io.Reader, file string, dec *messages.Decoder, algs1, algs2 []hashing.Algorithm) verResult {
	var data []byte
	var err error
	if file == "-" {
		data, err = readStdin(ctx, stdin, int64(dec.Limits.MaxDiscoInfoBytes))
	} else {
		data, err = readLimited(nil, file, int64(dec.Limits.MaxDiscoInfoBytes))
	}
	if err != nil {
		if errors.Is(err, messages.ErrTooLarge) {
			return verResult{err: err, rule: "malformed"}
		}
		// Missing, not permitted, not a regular file: nothing was read,
		// so nothing can be said about the document.
		return verResult{err: err, rule: "unreadable"}
	}
	info, err := dec.DecodeDiscoInfo(data)
	if err != nil {
		return verResult{err: err, rule: hashing.Rule(err)}
	}
	var r verResult
	buf := make([]byte, 0, 1024)
	for _, a := range algs1 {
		if buf, err = hashing.AppendVer(buf[:0], a, info); err != nil {
			return verResult{err: err, rule: hashing.Rule(err)}
		}
		r.xep0115 = append(r.xep0115, algValue{a, string(buf)})
	}
	for _, a := range algs2 {
		if buf, err = hashing.AppendCaps2(buf[:0], a, info); err != nil {
			return verResult{err: err, rule: hashing.Rule(err)}
		}
		r.xep0390 = append(r.xep0390, algValue{a, string(buf)})
	}
	return r
}

// readLimited reads a whole regular file, or standard input for "-",
// refusing more than max bytes so a huge input cannot exhaust memory. A
// named pipe, device or directory is refused (*notRegularError) rather
// than waited on; standard input may be anything, since whoever pipes
// into it decides when it ends.
func readLimited(stdin io.Reader, file string, max int64) ([]byte, error) {
	var r io.Reader = stdin
	if file != "-" {
		f, err := openRegular(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &tooLargeError{max: max}
	}
	return data, nil
}

// readStdin is readLimited of standard input that returns when ctx ends,
// even while the read waits for a writer that never writes: a read cannot
// be cancelled, so it is left running, and ends with the process.
func readStdin(ctx context.Context, stdin io.Reader, max int64) ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := readLimited(stdin, "-", max)
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func writeVerJSON(w io.Writer, file string, r verResult) error {
	var b bytes.Buffer
	b.WriteString(`{"file":`)
	writeJSONString(&b, file)
	if r.err != nil {
		b.WriteString(`,"xep0115":null,"xep0390":null,"error":{"rule":`)
		writeJSONString(&b, r.rule)
		b.WriteString(`,"message":`)
		writeJSONString(&b, r.err.Error())
		b.WriteString("}}\n")
	} else {
		b.WriteString(`,"xep0115":`)
		writeAlgObject(&b, r.xep0115)
		b.WriteString(`,"xep0390":`)
		writeAlgObject(&b, r.xep0390)
		b.WriteString(`,"error":null}` + "\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeAlgObject keeps the algorithms in command-line order, which a map
// passed to encoding/json would not.
func writeAlgObject(b *bytes.Buffer, vs []algValue) {
	b.WriteByte('{')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, v.alg.String())
		b.WriteByte(':')
		writeJSONString(b, v.value)
	}
	b.WriteByte('}')
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}

// writeVerText prints the contract's "FILE ALG VALUE" lines with the XEP
// each hash belongs to after them: sha-256 can be either, and the two
// hashes of one document differ. Extra words go last so that the first
// three fields stay what they were. File names are escaped when they hold
// control characters.
func writeVerText(out, errOut io.Writer, cmd, file string, r verResult) error {
	name := displayName(file)
	if r.err != nil {
		_, err := fmt.Fprintf(errOut, "%s: %s: %s: %s\n", cmd, name, r.rule, explainFile(r.err))
		return err
	}
	for _, v := range r.xep0115 {
		if _, err := fmt.Fprintf(out, "%s %s %s (XEP-0115 ver)\n", name, v.alg, v.value); err != nil {
			return err
		}
	}
	for _, v := range r.xep0390 {
		if _, err := fmt.Fprintf(out, "%s %s %s (XEP-0390 caps2)\n", name, v.alg, v.value); err != nil {
			return err
		}
	}
	return nil
}
