package main

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/capsengine/capsengine/capsfiles"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
)

const importLong = `Import disco#info documents into a store, verifying every one.

SRC is a directory in the layout above (a capsdb checkout, an aioxmpp cache, a
previous export), a directory of <algo>_<urlquote(node#ver)>.xml files, or
capsdb's db.json (the file, or a directory holding it without hashes/): one
JSON object of ver → {hash, node, identities, features, forms}. Each
document must hash to the key its file name gives; one that does not is
counted as mismatched, one that breaks a XEP-0115 §5.4 rule or is not a
disco#info document as rejected with the rule's name, and neither is stored.
The node in a file name is recorded as a node seen announcing the key, the
file's modification time as when it was seen.

--into trusted writes the trusted store, creating it if needed. It is the only
way anything writes there; it fails while an engine serves from that store.

--lenient accepts two deviations real clients make: a duplicated feature when
the hash over the answer as sent verifies (tkabber, leechcraft, telepathy), and
a XEP-0115 hash over XML-escaped text (aioxmpp). Such entries are marked with
how they verified.

A summary goes to standard output, each refused file to standard error, and a
progress bar to standard error when it is a terminal.`

type importOptions struct {
	into    string
	lenient bool
	jobs    int
}

func newDBImportCmd(o *dbOptions) *cobra.Command {
	var opt importOptions
	c := &cobra.Command{
		Use:   "import [--into user|trusted] [--lenient] SRC...",
		Short: "Import capsdb or aioxmpp cache directories, verifying every entry",
		Long:  importLong,
		Example: `  capsengine db import ~/src/capsdb
  capsengine db import --into trusted --lenient ~/src/capsdb ~/.cache/aioxmpp/caps`,
		RunE: func(c *cobra.Command, args []string) error { return runImport(c, o, opt, args) },
	}
	f := c.Flags()
	f.StringVar(&opt.into, "into", "user", "store to import into: user or trusted")
	f.BoolVar(&opt.lenient, "lenient", false, "accept duplicated features and escaped-text hashes that verify as sent")
	f.IntVar(&opt.jobs, "jobs", 4*runtime.GOMAXPROCS(0), "files parsed and verified at once")
	return c
}

// importFile is one document to import and the key its path names.
type importFile struct {
	path    string
	key     hashing.Key
	node    string // "" for XEP-0390 keys: their path names no node
	keyErr  error  // the path does not name a key
	readErr error  // a directory on the way could not be listed
	// info is set for an entry of a db.json, parsed already; seen is then
	// the file's modification time.
	info *hashing.Info
	seen time.Time
}

// importSummary counts the outcomes.
type importSummary struct {
	mu         sync.Mutex
	files      int
	done       int // files processed, whatever the outcome
	imported   int
	trusted    int // already in the trusted store
	rejected   map[string]int
	mismatched int
}

func (s *importSummary) refused() int {
	n := s.mismatched
	for _, v := range s.rejected {
		n += v
	}
	return n
}

func runImport(c *cobra.Command, o *dbOptions, opt importOptions, srcs []string) error {
	if len(srcs) == 0 {
		return usageError(c, errors.New("no SRC given"))
	}
	if opt.into != "user" && opt.into != "trusted" {
		return usageError(c, fmt.Errorf("--into %q: want user or trusted", opt.into))
	}
	var files []importFile
	for _, src := range srcs {
		fs, err := collectImport(c.Context(), src)
		if err != nil {
			return storeError(c, err)
		}
		files = append(files, fs...)
	}
	if len(files) == 0 {
		names := make([]string, len(srcs))
		for i, s := range srcs {
			names[i] = displayName(s)
		}
		return storeError(c, fmt.Errorf("no documents found in %s", strings.Join(names, ", ")))
	}
	return importInto(c, o, opt, files)
}

// importInto verifies files into the store opt.into names, prints the
// summary and returns the exit status.
func importInto(c *cobra.Command, o *dbOptions, opt importOptions, files []importFile) error {
	var verify hashing.Options
	if opt.lenient {
		verify = hashing.Options{DuplicateFeatures: true, EscapedS: true}
	}

	ctx := c.Context()
	var put func(k hashing.Key, e *storage.Entry) error
	var closeStore func() error
	var where string
	if opt.into == "trusted" {
		tw, err := storage.OpenTrustedWriter(storage.Config{TrustedDir: o.trustedDir(), Verify: verify})
		if err != nil {
			return storeError(c, err)
		}
		var mu sync.Mutex // a TrustedWriter is not safe for concurrent use
		put = func(k hashing.Key, e *storage.Entry) error {
			mu.Lock()
			defer mu.Unlock()
			return tw.Put(k, e)
		}
		closeStore, where = tw.Close, "trusted store "+displayName(o.trustedDir())
	} else {
		db, err := o.open(ctx, verify)
		if err != nil {
			return storeError(c, err)
		}
		put = func(k hashing.Key, e *storage.Entry) error { return db.Put(ctx, k, e) }
		closeStore = func() error { return db.Close(context.WithoutCancel(ctx)) }
		where = "user store " + displayName(o.userDir())
	}

	bar := newProgress(c.ErrOrStderr(), len(files), "importing")
	sum := &importSummary{files: len(files), rejected: map[string]int{}}
	err := importAll(ctx, files, opt.jobs, put, sum, func(f importFile, rule string, err error) {
		bar.clear()
		fmt.Fprintf(c.ErrOrStderr(), "%s: %s: %s: %s\n", c.CommandPath(), displayName(f.path), rule, explainFile(err))
	}, bar.add)
	bar.finish()
	stopped := interrupted(ctx)
	if stopped {
		// Not a store failure: what was imported is durable once the
		// store is closed, and the summary says how far it got.
		err = nil
	}
	err = errors.Join(err, closeStore())
	if err != nil {
		return storeError(c, err)
	}

	out := c.OutOrStdout()
	fmt.Fprintf(out, "%d files: %d imported into the %s\n", sum.files, sum.imported, where)
	if sum.trusted > 0 {
		fmt.Fprintf(out, "already trusted: %d (not copied to the user store)\n", sum.trusted)
	}
	rules := make([]string, 0, len(sum.rejected))
	for r := range sum.rejected {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	var parts []string
	n := 0
	for _, r := range rules {
		parts = append(parts, fmt.Sprintf("%s %d", r, sum.rejected[r]))
		n += sum.rejected[r]
	}
	if n > 0 {
		fmt.Fprintf(out, "rejected: %d (%s)\n", n, strings.Join(parts, ", "))
	} else {
		fmt.Fprintln(out, "rejected: 0")
	}
	fmt.Fprintf(out, "mismatched: %d\n", sum.mismatched)
	if stopped {
		fmt.Fprintf(out, "interrupted: %d of %d files not processed\n", sum.files-sum.done, sum.files)
		return exitError{interruptedCode(ctx)}
	}
	if sum.refused() > 0 {
		return exitError{1}
	}
	return nil
}

// afterImportFile, when set, runs in the worker after each file. The
// signal tests set it (build tag capsengine_testhook) to hold an import at
// a known point; it is nil in every other build.
var afterImportFile func(ctx context.Context)

// importAll imports files with jobs workers. Files of one key go to one
// worker, in path order, so entries that several files merge into come out
// the same on every run. It stops at the first store error.
func importAll(ctx context.Context, files []importFile, jobs int, put func(hashing.Key, *storage.Entry) error,
	sum *importSummary, refused func(importFile, string, error), progress func()) error {
	jobs = max(jobs, 1)
	shards := make([][]importFile, jobs)
	seed := maphash.MakeSeed()
	for i, f := range files {
		s := i % jobs
		if f.keyErr == nil {
			s = int(maphash.Comparable(seed, f.key) % uint64(jobs))
		}
		shards[s] = append(shards[s], f)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, shard := range shards {
		wg.Go(func() {
			for _, f := range shard {
				if ctx.Err() != nil {
					return
				}
				rule, err := importOne(f, put)
				progress()
				sum.mu.Lock()
				if rule != "store" {
					sum.done++
				}
				switch rule {
				case "":
					sum.imported++
				case "trusted":
					sum.trusted++
				case "store":
					cancel(err)
				case "mismatch":
					sum.mismatched++
				default:
					sum.rejected[rule]++
				}
				if rule != "" && rule != "trusted" && rule != "store" {
					refused(f, rule, err) // under the lock: one line at a time
				}
				sum.mu.Unlock()
				if afterImportFile != nil {
					afterImportFile(ctx)
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// importOne reads, parses and stores one file. It returns "" when stored,
// "trusted" when the trusted store already has the key, "store" with a
// store error that ends the import, and otherwise the rule the file broke
// ("mismatch" included) with the reason.
func importOne(f importFile, put func(hashing.Key, *storage.Entry) error) (string, error) {
	if f.readErr != nil {
		return "unreadable", f.readErr
	}
	if f.keyErr != nil {
		return "malformed", f.keyErr
	}
	if f.info != nil {
		e := &storage.Entry{Info: *f.info, FirstSeen: f.seen, LastSeen: f.seen}
		if f.node != "" {
			e.Nodes = []string{f.node}
		}
		return putOutcome(put(f.key, e))
	}
	data, err := readLimited(nil, f.path, int64(messages.DefaultLimits().MaxDiscoInfoBytes))
	if errors.Is(err, messages.ErrTooLarge) {
		return "malformed", err
	}
	if err != nil {
		return "unreadable", err
	}
	info, err := messages.ParseDiscoInfo(data)
	if err != nil {
		return "malformed", err
	}
	e := &storage.Entry{Info: *info}
	if f.node != "" {
		e.Nodes = []string{f.node}
	}
	if st, err := os.Stat(f.path); err == nil {
		e.FirstSeen, e.LastSeen = st.ModTime(), st.ModTime()
	}
	return putOutcome(put(f.key, e))
}

// putOutcome classifies a put's error as importOne reports it.
func putOutcome(err error) (string, error) {
	var re *hashing.RuleError
	var mm *hashing.MismatchError
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, storage.ErrTrusted):
		return "trusted", nil
	case errors.As(err, &mm):
		return "mismatch", err
	case errors.As(err, &re):
		return hashing.Rule(err), err
	case errors.Is(err, storage.ErrTooLarge), errors.Is(err, hashing.ErrAlgorithmNotAllowed):
		return "malformed", err
	}
	return "store", err
}

// collectImport lists the documents under src: its hashes/ and caps2/
// trees, or src itself as a hashes directory. Only src that cannot be
// listed is an error; a directory under it that cannot be is listed as an
// importFile with readErr, so that it counts as one refused entry and the
// rest still imports.
func collectImport(ctx context.Context, src string) ([]importFile, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	var out []importFile
	if !st.IsDir() {
		if strings.HasSuffix(src, ".json") {
			err := collectDBJSON(src, &out)
			return out, err
		}
		return nil, fmt.Errorf("%s is neither a directory nor a capsdb db.json", displayName(src))
	}
	hashes, caps2 := filepath.Join(src, capsfiles.HashesDir), filepath.Join(src, capsfiles.Caps2Dir)
	_, herr := os.Lstat(hashes)
	_, cerr := os.Lstat(caps2)
	if errors.Is(herr, fs.ErrNotExist) && errors.Is(cerr, fs.ErrNotExist) {
		// A bare directory of <algo>_<node#ver>.xml files, or of a db.json
		// alone. (Next to hashes/, db.json holds the same entries: a
		// checkout imports from hashes/, which keeps every node seen.)
		if err := collectHashes(src, &out); err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(src, capsfiles.DBJSON)); err == nil {
			if err := collectDBJSON(filepath.Join(src, capsfiles.DBJSON), &out); err != nil {
				return nil, err
			}
		}
	} else {
		if err := collectHashes(hashes, &out); err != nil && !errors.Is(err, fs.ErrNotExist) {
			out = append(out, importFile{path: hashes, readErr: err})
		}
		if err := collectCaps2(ctx, caps2, &out); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b importFile) int { return strings.Compare(a.path, b.path) })
	return out, nil
}

// maxDBJSON bounds the db.json read into memory; capsdb's is 1.5 MB.
const maxDBJSON = 256 << 20

// collectDBJSON lists the entries of a capsdb db.json, parsed; an entry
// that does not parse is listed with keyErr, to be counted as malformed.
func collectDBJSON(path string, out *[]importFile) error {
	data, err := readLimited(nil, path, maxDBJSON)
	if err != nil {
		return err
	}
	var seen time.Time
	if st, err := os.Stat(path); err == nil {
		seen = st.ModTime()
	}
	entries, err := capsfiles.ParseDBJSON(data)
	if err != nil {
		return fmt.Errorf("%s: %w", displayName(path), err)
	}
	*out = append(*out, dbJSONFiles(path, entries, seen)...)
	return nil
}

// dbJSONFiles lists the entries of a db.json (named from) as files to
// import, seen at seen; an entry that does not parse is listed with
// keyErr, to be counted as malformed.
func dbJSONFiles(from string, entries []capsfiles.DBEntry, seen time.Time) []importFile {
	out := make([]importFile, 0, len(entries))
	for _, e := range entries {
		out = append(out, importFile{path: from + ": " + e.Ver, key: e.Key, node: e.Node, keyErr: e.Err, info: e.Info, seen: seen})
	}
	return out
}

// collectHashes lists the .xml files of dir. Anything that is not a
// directory is listed, named pipes and devices included: importOne refuses
// those by name rather than this skipping them without a word.
func collectHashes(dir string, out *[]importFile) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range ents {
		if de.IsDir() || !strings.HasSuffix(de.Name(), ".xml") {
			continue
		}
		f := importFile{path: filepath.Join(dir, de.Name())}
		f.key, f.node, f.keyErr = capsfiles.ParseName(de.Name())
		*out = append(*out, f)
	}
	return nil
}

// collectCaps2 lists the files of aioxmpp's caps2 tree under dir. It
// returns only ctx's error: a directory that cannot be read is listed as
// an importFile with readErr, and a missing dir is no tree at all.
func collectCaps2(ctx context.Context, dir string, out *[]importFile) error {
	algs, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		*out = append(*out, importFile{path: dir, readErr: err})
		// ReadDir returns what it read before the error; import that.
	}
	for _, ad := range algs {
		if !ad.IsDir() {
			continue
		}
		root := filepath.Join(dir, ad.Name())
		err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if err != nil {
				// A directory that cannot be listed: one refused entry, and
				// the walk goes on with its siblings.
				*out = append(*out, importFile{path: p, readErr: err})
				if de != nil && de.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if de.IsDir() || !strings.HasSuffix(p, ".xml") {
				return nil
			}
			f := importFile{path: p}
			rel, _ := filepath.Rel(root, p)
			f.key, f.keyErr = capsfiles.ParseCaps2(ad.Name(), rel)
			*out = append(*out, f)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
