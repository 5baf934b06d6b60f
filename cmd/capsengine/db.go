package main

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/internal/units"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
)

const dbLong = `Manage the stores of verified entity capabilities.

capsengine keeps two stores under --data: "user", what the engine verified
while serving, and "trusted" (or --trusted), a read-only store filled offline
with "import --into trusted". A key found in both is served from trusted and
removed from user. Every entry in either store was verified against its hash
when it was written.

File layout shared by import and export (capsdb's and aioxmpp's cache):

  hashes/<algo>_<urlquote(node#ver)>.xml              XEP-0115 keys
  caps2/<urlquote(algo)>/<b32[:2]>/<b32[2:4]>/<b32[4:]>.xml  XEP-0390 keys

where b32 is the digest in lower-case base32 without padding. Each file holds
one disco#info <query/>. A file's modification time is when its entry was seen.

stats, lookup, verify and export only read: they never create a store, and
a --data directory that does not exist is an error. The trusted store is
opened read-only and left as it was found, without a LOCK file.

Exit status: 0 on success, 1 when an entry was rejected, is missing or failed
verification, 2 for a usage error or a store that cannot be opened, 130 (143)
when SIGINT (SIGTERM) stopped it.`

// dbOptions are the flags every db subcommand shares.
type dbOptions struct {
	data    string
	trusted string
}

func newDBCmd() *cobra.Command {
	o := &dbOptions{}
	c := &cobra.Command{
		Use:   "db",
		Short: "Import, export, inspect and verify the capability stores",
		Long:  dbLong,
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return usageError(c, errors.New("missing subcommand (import, export, stats, verify, lookup)"))
		},
	}
	pf := c.PersistentFlags()
	pf.StringVar(&o.data, "data", defaultDataDir(), "directory of the stores; the user store is DATA/user")
	pf.StringVar(&o.trusted, "trusted", "", "trusted store directory (default DATA/trusted)")
	c.AddCommand(newDBImportCmd(o), newDBExportCmd(o), newDBStatsCmd(o), newDBVerifyCmd(o), newDBLookupCmd(o))
	return c
}

// defaultDataDir is $XDG_DATA_HOME/capsengine, else ~/.local/share/capsengine.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "capsengine")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "capsengine")
	}
	return "capsengine"
}

func (o *dbOptions) userDir() string { return storage.Layout{Dir: o.data}.User() }

func (o *dbOptions) trustedDir() string {
	if o.trusted != "" {
		return o.trusted
	}
	return storage.Layout{Dir: o.data}.Trusted()
}

// open opens the stores for a command that writes the user store,
// creating it when missing. The trusted store takes part when its
// directory exists; --trusted naming a missing one is an error.
func (o *dbOptions) open(ctx context.Context, verify hashing.Options) (*storage.DB, error) {
	cfg := storage.Config{Dir: o.userDir(), Verify: verify}
	if _, err := os.Stat(o.trustedDir()); err == nil || o.trusted != "" {
		cfg.TrustedDir = o.trustedDir()
	}
	return storage.Open(ctx, cfg)
}

// openExisting opens the stores for a command that only reads them (stats,
// lookup, verify, export). Opening creates a missing user store, so a typo
// in --data would silently give an empty store and "0 entries": check
// first, and refuse.
func (o *dbOptions) openExisting(ctx context.Context) (*storage.DB, error) {
	for _, dir := range []string{o.data, o.userDir()} {
		st, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if dir == o.data {
				return nil, fmt.Errorf("no store: the --data directory %s does not exist", displayName(dir))
			}
			return nil, fmt.Errorf("no store: %s holds no user store (%s does not exist); \"capsengine db import\" creates one",
				displayName(o.data), displayName(dir))
		case err != nil:
			return nil, err
		case !st.IsDir():
			return nil, fmt.Errorf("no store: %s is not a directory", displayName(dir))
		}
	}
	return o.open(ctx, hashing.Options{})
}

// storeError reports a store that cannot be opened or used: exit status 2,
// or the interrupt's status when a signal is why it stopped.
func storeError(c *cobra.Command, err error) error {
	if interrupted(c.Context()) {
		fmt.Fprintf(c.ErrOrStderr(), "%s: interrupted\n", c.CommandPath())
		return exitError{interruptedCode(c.Context())}
	}
	fmt.Fprintf(c.ErrOrStderr(), "%s: %s\n", c.CommandPath(), explain(err))
	return exitError{2}
}

// ---- import ----

const importLong = `Import disco#info documents into a store, verifying every one.

SRC is a directory in the layout above (a capsdb checkout, an aioxmpp cache, a
previous export), or a directory of <algo>_<urlquote(node#ver)>.xml files. Each
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
	err = put(f.key, e)
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
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", displayName(src))
	}
	var out []importFile
	hashes, caps2 := filepath.Join(src, "hashes"), filepath.Join(src, "caps2")
	_, herr := os.Lstat(hashes)
	_, cerr := os.Lstat(caps2)
	if errors.Is(herr, fs.ErrNotExist) && errors.Is(cerr, fs.ErrNotExist) {
		// A bare directory of <algo>_<node#ver>.xml files.
		if err := collectHashes(src, &out); err != nil {
			return nil, err
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
		f.key, f.node, f.keyErr = parseHashesName(de.Name())
		*out = append(*out, f)
	}
	return nil
}

// parseHashesName decodes "<algo>_<urlquote(node#ver)>.xml".
func parseHashesName(name string) (hashing.Key, string, error) {
	base := strings.TrimSuffix(name, ".xml")
	algName, quoted, ok := strings.Cut(base, "_")
	if !ok {
		return hashing.Key{}, "", fmt.Errorf("file name %q is not <algo>_<node#ver>.xml", name)
	}
	nodever, err := url.PathUnescape(quoted)
	if err != nil {
		return hashing.Key{}, "", fmt.Errorf("file name %q: %v", name, err)
	}
	i := strings.LastIndexByte(nodever, '#')
	if i < 0 {
		return hashing.Key{}, "", fmt.Errorf("file name %q names no node#ver", name)
	}
	alg, err := hashing.ParseAlgorithm(algName)
	if err != nil {
		return hashing.Key{}, "", fmt.Errorf("file name %q: %w", name, err)
	}
	k, err := hashing.ParseKey(hashing.XEP0115, alg, nodever[i+1:])
	if err != nil {
		return hashing.Key{}, "", fmt.Errorf("file name %q: %w", name, err)
	}
	return k, nodever[:i], nil
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

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
			f.key, f.keyErr = parseCaps2Path(ad.Name(), rel)
			*out = append(*out, f)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// parseCaps2Path decodes aioxmpp's caps2/<urlquote(algo)>/ab/cd/<rest>.xml.
func parseCaps2Path(quotedAlg, rel string) (hashing.Key, error) {
	algName, err := url.PathUnescape(quotedAlg)
	if err != nil {
		return hashing.Key{}, fmt.Errorf("caps2 algorithm directory %q: %v", quotedAlg, err)
	}
	alg, err := hashing.ParseAlgorithm(algName)
	if err != nil {
		return hashing.Key{}, fmt.Errorf("caps2 algorithm directory %q: %w", quotedAlg, err)
	}
	parts := strings.Split(filepath.ToSlash(strings.TrimSuffix(rel, ".xml")), "/")
	if len(parts) != 3 || len(parts[0]) != 2 || len(parts[1]) != 2 {
		return hashing.Key{}, fmt.Errorf("caps2 path %q is not ab/cd/<rest>.xml", rel)
	}
	digest, err := b32.DecodeString(strings.ToUpper(strings.Join(parts, "")))
	if err != nil {
		return hashing.Key{}, fmt.Errorf("caps2 path %q: %v", rel, err)
	}
	return hashing.NewKey(hashing.XEP0390, alg, digest)
}

// ---- export ----

func newDBExportCmd(o *dbOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "export DIR",
		Short: "Write every stored entry to DIR in the capsdb/aioxmpp layout",
		Long: `Write every entry of both stores to DIR, in the layout above, so that it can
be shared and imported elsewhere.

An XEP-0115 entry is written once per node seen announcing it (a file name
carries one node); the first file's modification time is when the entry was
first seen, the others' when it was last seen, so that importing the export
gives back the same entries. An XEP-0390 entry is one file, dated when it was
last seen.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error { return runExport(c, o, args[0]) },
	}
}

func runExport(c *cobra.Command, o *dbOptions, dir string) error {
	ctx := c.Context()
	db, err := o.openExisting(ctx)
	if err != nil {
		return storeError(c, err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	counts := map[storage.Source]int{}
	var skipped int
	for _, src := range []storage.Source{storage.Trusted, storage.User} {
		err := db.Scan(ctx, src, func(r storage.Record) error {
			if r.Err != nil {
				skipped++
				fmt.Fprintf(c.ErrOrStderr(), "%s: %s store: skipping an entry: %s\n", c.CommandPath(), src, explain(r.Err))
				return nil
			}
			counts[src]++
			return exportEntry(dir, r.Key, r.Entry)
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) { // ErrNotFound: no trusted store
			return storeError(c, err)
		}
	}
	fmt.Fprintf(c.OutOrStdout(), "exported %d trusted and %d user entries to %s\n", counts[storage.Trusted], counts[storage.User], dir)
	if skipped > 0 {
		fmt.Fprintf(c.OutOrStdout(), "skipped %d unreadable entries (see capsengine db verify)\n", skipped)
		return exitError{1}
	}
	return nil
}

const xmlHeader = "<?xml version='1.0' encoding='UTF-8'?>\n"

// exportEntry writes the file(s) of one entry.
func exportEntry(dir string, k hashing.Key, e *storage.Entry) error {
	doc := messages.AppendDiscoInfo([]byte(xmlHeader), &e.Info)
	doc = append(doc, '\n')
	if k.Scheme == hashing.XEP0390 {
		enc := strings.ToLower(b32.EncodeToString(k.Digest()))
		p := filepath.Join(dir, "caps2", pyQuote(k.Alg.String()), enc[:2], enc[2:4], enc[4:]+".xml")
		return writeDated(p, doc, e.LastSeen)
	}
	nodes := e.Nodes
	if len(nodes) == 0 {
		node, _, _ := strings.Cut(e.Info.Node, "#")
		if node == "" {
			node = "unknown"
		}
		nodes = []string{node}
	}
	for i, node := range nodes {
		when := e.LastSeen
		if i == 0 {
			when = e.FirstSeen
		}
		p := filepath.Join(dir, "hashes", k.Alg.String()+"_"+pyQuote(hashing.CapsNode(node, k.Ver()))+".xml")
		if err := writeDated(p, doc, when); err != nil {
			return err
		}
	}
	return nil
}

func writeDated(p string, data []byte, when time.Time) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return err
	}
	if when.IsZero() {
		return nil
	}
	return os.Chtimes(p, when, when)
}

// pyQuote is Python's urllib.parse.quote(s, safe=""), which names the files
// of the capsdb and aioxmpp layouts: every byte but ASCII letters, digits
// and _.-~ as %XX.
func pyQuote(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == '-', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// ---- stats ----

func newDBStatsCmd(o *dbOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Count the entries of each store by scheme and algorithm, with disk sizes",
		Long: `Count the entries of each store by scheme and algorithm, and give each
store's size on disk. The hot cache figures are this process's own (a running
engine reports its cache in its metrics).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error { return runStats(c, o) },
	}
}

func runStats(c *cobra.Command, o *dbOptions) error {
	ctx := c.Context()
	db, err := o.openExisting(ctx)
	if err != nil {
		return storeError(c, err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	st := db.Stats()
	out := c.OutOrStdout()
	for _, src := range []storage.Source{storage.Trusted, storage.User} {
		dir, size := o.userDir(), st.UserDiskBytes
		if src == storage.Trusted {
			dir, size = o.trustedDir(), st.TrustedDiskBytes
		}
		counts, err := db.Count(ctx, src)
		if errors.Is(err, storage.ErrNotFound) {
			fmt.Fprintf(out, "%-8s none (%s does not exist)\n", src, dir)
			continue
		}
		if err != nil {
			return storeError(c, err)
		}
		kinds := make([]storage.Kind, 0, len(counts))
		total := 0
		for k, n := range counts {
			kinds = append(kinds, k)
			total += n
		}
		slices.SortFunc(kinds, func(a, b storage.Kind) int { return strings.Compare(a.String(), b.String()) })
		fmt.Fprintf(out, "%-8s %d entries, %s on disk, %s\n", src, total, units.Bytes(int64(size)), dir)
		for _, k := range kinds {
			fmt.Fprintf(out, "  %-20s %d\n", k, counts[k])
		}
	}
	fmt.Fprintf(out, "cache    %d hits, %d misses, hit ratio %.2f (this process)\n", st.CacheHits, st.CacheMisses, st.CacheHitRatio())
	return nil
}

// ---- verify ----

func newDBVerifyCmd(o *dbOptions) *cobra.Command {
	var remove bool
	c := &cobra.Command{
		Use:   "verify [--remove]",
		Short: "Re-verify every stored entry against its key",
		Long: `Re-verify every entry of both stores against its key, under the leniency it
was stored with, and report those that are unreadable or no longer verify.
With --remove they are deleted (from the trusted store too, which must then
not be in use).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error { return runVerify(c, o, remove) },
	}
	c.Flags().BoolVar(&remove, "remove", false, "delete the entries that fail")
	return c
}

func runVerify(c *cobra.Command, o *dbOptions, remove bool) error {
	ctx := c.Context()
	db, err := o.openExisting(ctx)
	if err != nil {
		return storeError(c, err)
	}
	bad := map[storage.Source][]hashing.Key{}
	checked := map[storage.Source]int{}
	unkeyed := 0
	for _, src := range []storage.Source{storage.Trusted, storage.User} {
		err := db.Scan(ctx, src, func(r storage.Record) error {
			checked[src]++
			err := r.Err
			if err == nil {
				_, err = hashing.Verify(r.Key, &r.Entry.Info, optionsFor(r.Entry.Method))
			}
			if err == nil {
				return nil
			}
			fmt.Fprintf(c.OutOrStdout(), "%s %s: %s: %s\n", src, r.Key, verifyRule(err), explain(err))
			if r.Key.IsZero() {
				unkeyed++
			} else {
				bad[src] = append(bad[src], r.Key)
			}
			return nil
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			db.Close(context.WithoutCancel(ctx))
			return storeError(c, err)
		}
	}
	if remove {
		for _, k := range bad[storage.User] {
			if err := db.Delete(ctx, k); err != nil {
				db.Close(context.WithoutCancel(ctx))
				return storeError(c, err)
			}
		}
	}
	if err := db.Close(context.WithoutCancel(ctx)); err != nil {
		return storeError(c, err)
	}
	if remove && len(bad[storage.Trusted]) > 0 {
		tw, err := storage.OpenTrustedWriter(storage.Config{TrustedDir: o.trustedDir()})
		if err != nil {
			return storeError(c, err)
		}
		for _, k := range bad[storage.Trusted] {
			if err := tw.Delete(k); err != nil {
				tw.Close()
				return storeError(c, err)
			}
		}
		if err := tw.Close(); err != nil {
			return storeError(c, err)
		}
	}
	nbad := len(bad[storage.Trusted]) + len(bad[storage.User]) + unkeyed
	fmt.Fprintf(c.OutOrStdout(), "checked %d trusted and %d user entries: %d failed", checked[storage.Trusted], checked[storage.User], nbad)
	if remove && nbad > 0 {
		fmt.Fprintf(c.OutOrStdout(), ", %d removed", len(bad[storage.Trusted])+len(bad[storage.User]))
	}
	fmt.Fprintln(c.OutOrStdout())
	if nbad > 0 {
		return exitError{1}
	}
	return nil
}

// optionsFor is the leniency an entry was verified under.
func optionsFor(m hashing.Method) hashing.Options {
	switch m {
	case hashing.AsSentDuplicates:
		return hashing.Options{DuplicateFeatures: true}
	case hashing.Escaped:
		return hashing.Options{DuplicateFeatures: true, EscapedS: true}
	}
	return hashing.Options{}
}

func verifyRule(err error) string {
	if errors.Is(err, storage.ErrCorrupt) || errors.Is(err, storage.ErrFormat) {
		return "unreadable"
	}
	return hashing.Rule(err)
}

// ---- lookup ----

func newDBLookupCmd(o *dbOptions) *cobra.Command {
	var caps2, meta bool
	c := &cobra.Command{
		Use:   "lookup [--caps2] ALGO VER",
		Short: "Print the stored disco#info of a hash",
		Long: `Print the disco#info stored for an announced hash as XML: an XEP-0115 ver
(ALGO as in <c hash='...'/>), or with --caps2 an XEP-0390 hash (ALGO as in
<hash algo='...'>). With --meta, the store it came from, how it was verified,
the nodes seen and when come first, as lines of "name: value".

Exit status 1 when no store has the hash.`,
		Example: `  capsengine db lookup sha-1 q07IKJEyjvHSyhy//CH0CxmKi8w=
  capsengine db lookup --caps2 sha-256 u79ZroNJbdSWhdSp311mddz44oHHPsEBntQ5b1jqBSY=`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error { return runLookup(c, o, caps2, meta, args[0], args[1]) },
	}
	c.Flags().BoolVar(&caps2, "caps2", false, "VER is a XEP-0390 hash")
	c.Flags().BoolVar(&meta, "meta", false, "also print where the entry came from")
	return c
}

func runLookup(c *cobra.Command, o *dbOptions, caps2, meta bool, algName, ver string) error {
	scheme := hashing.XEP0115
	if caps2 {
		scheme = hashing.XEP0390
	}
	alg, err := hashing.ParseAlgorithm(algName)
	if err != nil {
		return usageError(c, err)
	}
	k, err := hashing.ParseKey(scheme, alg, ver)
	if err != nil {
		return usageError(c, err)
	}
	ctx := c.Context()
	db, err := o.openExisting(ctx)
	if err != nil {
		return storeError(c, err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	e, src, err := db.Lookup(k)
	if errors.Is(err, storage.ErrNotFound) {
		fmt.Fprintf(c.ErrOrStderr(), "%s: %s: not found\n", c.CommandPath(), k)
		return exitError{1}
	}
	if err != nil {
		return storeError(c, err)
	}
	out := c.OutOrStdout()
	if meta {
		fmt.Fprintf(out, "key: %s\nstore: %s\nverified: %s\nnodes: %s\nfirst-seen: %s\nlast-seen: %s\n\n",
			k, src, e.Method, strings.Join(e.Nodes, " "), stamp(e.FirstSeen), stamp(e.LastSeen))
	}
	doc := messages.AppendDiscoInfo(nil, &e.Info)
	_, err = out.Write(append(doc, '\n'))
	return err
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.Format(time.RFC3339Nano)
}

// ---- progress ----

// progress is a bar on a terminal and nothing elsewhere.
type progress struct {
	bar *progressbar.ProgressBar
}

func newProgress(w io.Writer, total int, what string) *progress {
	if !isTerminal(w) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *progress) add() {
	if p.bar != nil {
		p.bar.Add(1)
	}
}

// clear erases the bar before a line of output; it redraws on the next add.
func (p *progress) clear() {
	if p.bar != nil {
		p.bar.Clear()
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
