package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"strings"

	cerrors "github.com/cockroachdb/errors"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Corruption is never silent.
//
// pebble replays a write-ahead log up to its first unreadable record and
// treats the rest as a torn tail, which is what a crash leaves; so a WAL
// damaged in its middle, or cut short, used to open without an error and
// without the entries that followed. Three checks close that gap:
//
//   - The user store is written in pebble's FormatWALSyncChunks format,
//     whose WAL chunks record how far the log was synced. A later chunk
//     promising more than an unreadable one proves the damage is not a torn
//     tail, and pebble then fails the replay with a corruption error.
//   - Every group commit carries a commit mark (the count of commits and
//     of writes so far) in the store, and after the commit is synced the
//     writer copies it to AckFile. The copy is written after the fsync
//     returned, so it never runs ahead of what is durable: after kill -9 or
//     power loss the store's mark is at least the file's. A store whose
//     mark is behind AckFile lost acknowledged commits (a truncated WAL,
//     or damage pebble took for a tail), and Open says how many.
//   - Every table's blocks are read and their checksums checked, and a
//     missing or resized table, which pebble reports in words only, is
//     translated to ErrCorrupt.
//
// All of it runs on a read-only open first, so a damaged store is left
// exactly as it was found: Repair (or a person) decides what to do with it.

// AckFile is the name of the file in the user store's directory that holds
// the commit mark of the last acknowledged commit.
const AckFile = "CAPSENGINE-ACKED"

// commitKey holds the store's commit mark.
var commitKey = []byte{kindMeta, 'c', 'o', 'm', 'm', 'i', 't', 's'}

// commitMark counts the writer's synced commits and the writes (puts and
// deletes) they carried, since the store was created.
type commitMark struct{ Commits, Writes uint64 }

const commitMarkSize = 16

func (m commitMark) append(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, m.Commits)
	return binary.LittleEndian.AppendUint64(dst, m.Writes)
}

func decodeCommitMark(b []byte) (commitMark, error) {
	if len(b) != commitMarkSize {
		return commitMark{}, fmt.Errorf("%w: commit mark of %d bytes", ErrCorrupt, len(b))
	}
	return commitMark{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}, nil
}

// The AckFile holds ackMagic, the commit mark and a CRC-32C of both: 28
// bytes, written in place with one write, so a torn write (power loss) is
// seen as a bad checksum and the file ignored.
var ackMagic = []byte("capsack\x01")

const ackSize = 8 + commitMarkSize + crcSize

func appendAck(dst []byte, m commitMark) []byte {
	start := len(dst)
	dst = append(dst, ackMagic...)
	dst = m.append(dst)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeAck parses an AckFile's bytes.
func decodeAck(b []byte) (commitMark, error) {
	if len(b) != ackSize || !bytes.Equal(b[:8], ackMagic) {
		return commitMark{}, fmt.Errorf("%w: %s: not an acknowledgement record", ErrCorrupt, AckFile)
	}
	if crc32.Checksum(b[:ackSize-crcSize], castagnoli) != binary.LittleEndian.Uint32(b[ackSize-crcSize:]) {
		return commitMark{}, fmt.Errorf("%w: %s: checksum mismatch", ErrCorrupt, AckFile)
	}
	return decodeCommitMark(b[8 : 8+commitMarkSize])
}

// readAck reads dir's AckFile. ok is false when there is none, or when it
// does not decode: a torn write of it after power loss is no damage to the
// store, so it only costs the check.
func readAck(fsys vfs.FS, dir string) (m commitMark, ok bool, err error) {
	f, err := fsys.Open(fsys.PathJoin(dir, AckFile))
	if errors.Is(err, fs.ErrNotExist) {
		return commitMark{}, false, nil
	}
	if err != nil {
		return commitMark{}, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, ackSize+1))
	if err != nil {
		return commitMark{}, false, err
	}
	m, err = decodeAck(b)
	return m, err == nil, nil
}

// ackWriter rewrites the AckFile in place after each commit. It does not
// sync: the file only has to survive a crash of this process, and a lost
// update after power loss only weakens the next check.
type ackWriter struct {
	f   vfs.File
	buf [ackSize]byte
}

func openAckWriter(fsys vfs.FS, dir string) (*ackWriter, error) {
	name := fsys.PathJoin(dir, AckFile)
	f, err := fsys.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, err
	}
	return &ackWriter{f: f}, nil
}

func (a *ackWriter) write(m commitMark) error {
	_, err := a.f.WriteAt(appendAck(a.buf[:0], m), 0)
	return err
}

func (a *ackWriter) close() error {
	if a == nil {
		return nil
	}
	return a.f.Close()
}

// readCommitMark reads a store's commit mark; a store written before marks
// existed has none, the zero mark.
func readCommitMark(db *pebble.DB) (commitMark, error) {
	v, closer, err := db.Get(commitKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return commitMark{}, nil
	}
	if err != nil {
		return commitMark{}, translate(err)
	}
	defer closer.Close()
	return decodeCommitMark(v)
}

// CorruptError reports a store whose files are damaged: which file, what
// is wrong, and what is lost as far as it is known. It wraps ErrCorrupt
// (and pebble's error, when pebble found the damage).
type CorruptError struct {
	// File is the damaged file's name in the store's directory ("000012.sst",
	// "000007.log", AckFile), or "" when the damage is not in one file.
	File string
	// Problem says what is wrong with it.
	Problem string
	// Lost says what is lost, as far as known ("" when nothing is known).
	Lost string
	Err  error
}

func (e *CorruptError) Error() string {
	var b strings.Builder
	b.WriteString("storage: corrupt data")
	if e.File != "" {
		b.WriteString(": " + e.File)
	}
	b.WriteString(": " + e.Problem)
	if e.Lost != "" {
		b.WriteString("; lost: " + e.Lost)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	return b.String()
}

func (e *CorruptError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrCorrupt}
	}
	return []error{ErrCorrupt, e.Err}
}

// classifyOpen turns what pebble.Open reports about damaged files into a
// *CorruptError. pebble marks WAL and manifest damage as corruption, with
// the WAL's number in an error detail; a missing table is an
// os.ErrNotExist and a resized one a plain error, with no sentinel for
// either, so those are recognised by their words. Anything else is
// returned as it was.
func classifyOpen(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unknown to the objstorage provider"):
		return &CorruptError{File: tableName(msg), Problem: "a table the manifest lists is missing",
			Lost: "every entry it held", Err: err}
	case strings.Contains(msg, "object size mismatch"):
		return &CorruptError{File: tableName(msg), Problem: "a table is not the size the manifest records (truncated or extended)",
			Lost: "every entry it held", Err: err}
	case strings.Contains(msg, "could not open manifest file") && errors.Is(err, os.ErrNotExist):
		return &CorruptError{File: manifestName(msg), Problem: "the manifest CURRENT names is missing",
			Lost: "the index of every table: the whole store until repaired", Err: err}
	case pebble.IsCorruptionError(err):
		ce := &CorruptError{Problem: "pebble found damaged data", Err: err}
		if name := tableName(msg); name != "" {
			ce.File, ce.Problem, ce.Lost = name, "a table fails its checks", "the entries in its damaged blocks"
		}
		for _, d := range cerrors.GetAllDetails(err) {
			var num uint64
			if _, serr := fmt.Sscanf(d, "replaying wal %d,", &num); serr == nil {
				ce.File = fmt.Sprintf("%06d.log", num)
				ce.Problem = "the write-ahead log is damaged in its middle, not torn at its tail (" + d + ")"
				ce.Lost = "the entries of the damaged records, and every record after them until repaired"
			}
		}
		return ce
	}
	return err
}

// manifestName picks "MANIFEST-000001" out of pebble's words.
func manifestName(msg string) string {
	for _, f := range strings.FieldsFunc(msg, func(r rune) bool { return r == ' ' || r == '"' || r == '/' || r == ':' }) {
		if strings.HasPrefix(f, "MANIFEST-") {
			return f
		}
	}
	return ""
}

// tableName picks "000012.sst" out of pebble's words about a table.
func tableName(msg string) string {
	for _, f := range strings.FieldsFunc(msg, func(r rune) bool { return r == ' ' || r == ':' || r == '(' || r == ')' || r == '/' }) {
		if len(f) == 6 && strings.Trim(f, "0123456789") == "" {
			return f + ".sst"
		}
		if strings.HasSuffix(f, ".sst") {
			return f
		}
	}
	return ""
}

// checkStore runs the checks above on an open pebble database: the commit
// mark against the AckFile (when ack is set), and every table's block
// checksums.
func checkStore(ctx context.Context, db *pebble.DB, opts *pebble.Options, dir string, ack bool) error {
	// Tables first: reading the commit mark may hit a damaged block,
	// which checkTables reports with the table's name.
	if err := checkTables(ctx, db, opts, dir); err != nil {
		return err
	}
	if ack {
		acked, ok, err := readAck(opts.FS, dir)
		if err != nil {
			return err
		}
		if ok {
			have, err := readCommitMark(db)
			if err != nil {
				return err
			}
			if have.Commits < acked.Commits {
				return &CorruptError{
					Problem: fmt.Sprintf("the store ends at commit %d, but commit %d was acknowledged (a write-ahead log was cut short or damaged)",
						have.Commits, acked.Commits),
					Lost: fmt.Sprintf("%d acknowledged commits carrying %d writes", acked.Commits-have.Commits, acked.Writes-min(acked.Writes, have.Writes)),
				}
			}
		}
	}
	return nil
}

// checkTables reads every block of every live table and checks its
// checksum, so a damaged block is found now rather than by the lookup that
// happens to read it.
func checkTables(ctx context.Context, db *pebble.DB, opts *pebble.Options, dir string) error {
	opts = opts.Clone()
	opts.EnsureDefaults()
	levels, err := db.SSTables(pebble.WithProperties())
	if err != nil {
		return translate(err)
	}
	ropts := opts.MakeReaderOptions()
	for level, tables := range levels {
		for _, t := range tables {
			if err := ctx.Err(); err != nil {
				return err
			}
			name := fmt.Sprintf("%s.sst", t.BackingSSTNum)
			if err := checkTable(ctx, opts.FS, opts.FS.PathJoin(dir, name), ropts); err != nil {
				lost := "the entries in its damaged blocks"
				if t.Properties != nil {
					lost = fmt.Sprintf("some of its %d records", t.Properties.NumEntries)
				}
				return &CorruptError{File: name, Problem: fmt.Sprintf("a table (level %d, %d bytes) fails its checks", level, t.Size),
					Lost: lost, Err: err}
			}
		}
	}
	return nil
}

func checkTable(ctx context.Context, fsys vfs.FS, path string, ropts sstable.ReaderOptions) error {
	r, err := openTable(ctx, fsys, path, ropts)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.ValidateBlockChecksums()
}

// openTable opens one sstable for reading outside pebble.DB. Damage
// pebble's reader does not mark (a short file) is marked here.
func openTable(ctx context.Context, fsys vfs.FS, path string, ropts sstable.ReaderOptions) (*sstable.Reader, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	readable, err := sstable.NewSimpleReadable(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := sstable.NewReader(ctx, readable, ropts)
	if err != nil {
		readable.Close()
		return nil, err
	}
	return r, nil
}

// probeUser opens an existing user store read-only, so that nothing is
// replayed into it or compacted, and runs every check. A store that does
// not exist yet passes.
func probeUser(ctx context.Context, dir string, base *pebble.Options) error {
	if _, err := base.FS.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	opts := base.Clone()
	opts.ReadOnly = true
	opts.ErrorIfNotExists = true
	// The probe reads whatever format the store has; only the writable
	// open ratchets it.
	opts.FormatMajorVersion = pebble.FormatDefault
	opts.EnsureDefaults()
	db, err := pebble.Open(dir, opts)
	if errors.Is(err, pebble.ErrDBDoesNotExist) {
		return nil
	}
	if err != nil {
		return openErr(err)
	}
	err = checkStore(ctx, db, opts, dir, true)
	return errors.Join(err, db.Close())
}
