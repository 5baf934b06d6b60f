package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/httpapi"
	"github.com/capsengine/capsengine/internal/units"
	"github.com/capsengine/capsengine/messages"
	"github.com/capsengine/capsengine/storage"
	"github.com/capsengine/capsengine/transport"
)

const observeLong = `Connect to an XMPP server and resolve the capabilities of every entity seen.

As a client (--jid user@domain, and the password in --password-file or the
CAPSENGINE_PASSWORD environment variable; --password works too, but other
users of the machine can read a command line), observe logs in with SCRAM or
PLAIN after STARTTLS, and refuses a server that offers no STARTTLS
(--insecure-no-tls logs in in plaintext, for test servers only). It sees the
presence of its roster contacts; --accept-subscriptions
approves every subscription request and asks for one back, so anyone who
subscribes is observed. As a XEP-0114 component (--jid the component's
domain, --component-secret, --addr), it sees the entities subscribed to it
and probes its contacts (--probe, plus those remembered in --data) on
connect. With --privileged the component is the server's XEP-0356
privileged entity: the server forwards every presence of its users, and
observe exits 1 unless the server grants the presence permission
(--allow-unprivileged goes on anyway; docs/server.md has the Prosody and
ejabberd configuration). --join room@service crawls a MUC room's occupants
(--skip-muc-occupants drops them again, as a load control).

Every announced hash is looked up once (disco#info to the first announcer,
the next one when that fails), verified, and kept in --data (unless
--in-memory), where "capsengine db" finds them. With --query-unhashed,
an entity whose presence has no verifiable hash (no caps, legacy caps
with ext and no hash, an unknown algorithm) is asked one disco#info of
its own, to its full JID, rate-limited; its answer is kept in memory for
that JID only, never in --data, and marked unverified in events, GET
/caps and the dump. observe answers disco#info for its own caps, and
reconnects with backoff when the connection drops. What it announces is
--identity (category/type/name; default client/bot/capsengine, or
component/generic/capsengine) under the caps node --node (a URI naming
the software).

A login that is not done within --dial-timeout fails and is tried again
with backoff, as is a server that cannot be reached; --timeout and an
interrupt end observe wherever it is.

--http ADDR serves the HTTP API and the dashboard (GET /caps/{jid},
/entities?feature=F, /features, /software, /keys/..., /stats, /events as
Server-Sent Events, /metrics for Prometheus, /healthz; the page at /; see
/openapi.yaml); the listening address is logged ("http: listening on
ADDR"). ADDR without a host (":8080", "8080") binds to 127.0.0.1. Any other
address needs --http-token-file: every request must then carry the token
(Authorization: Bearer TOKEN); --http-open-health leaves /healthz and
/metrics open. --http-cert and --http-key serve HTTPS. --dump FILE writes,
at exit, one JSON document with, per full JID: node, ver, hash algorithm,
whether it verified, identities, features and forms (sorted), when it was
resolved, and the error when it failed.

observe runs until interrupted, until --timeout has passed, or until
--exit-after N entities are resolved. Exit status: 0 on an interrupt, at
--timeout without --exit-after, or once N entities are resolved; 1 when the
login is refused, when --timeout passed before N entities resolved, or when
it passed without a single successful login; 2 for a usage error.`

const observeExample = `  CAPSENGINE_PASSWORD=... capsengine observe --jid crawler@example.org --accept-subscriptions --data ./caps --http 127.0.0.1:8080
  capsengine observe --jid caps.example.org --component-secret s3cret --addr 127.0.0.1:5347 --probe juliet@example.org
  capsengine observe --privileged --jid caps.example.org --component-secret s3cret --addr 127.0.0.1:5347 --http 127.0.0.1:8080
  capsengine observe --jid bot@localhost --password-file pw.txt --addr 127.0.0.1:5222 --insecure-no-tls --exit-after 10 --timeout 1m --dump caps.json
  capsengine observe --jid crawler@example.org --password-file pw.txt --node https://example.org/crawler --identity client/bot/Example Crawler`

type observeOptions struct {
	jid, password, passwordFile, addr, componentSecret string
	data, trusted, dump, nick                          string
	node, identity                                     string
	exitAfter                                          int
	queryTimeout, timeout, dialTimeout                 time.Duration
	insecureNoTLS, acceptSubscriptions, skipMUC        bool
	queryUnhashed                                      bool
	privileged, allowUnprivileged                      bool
	privilegeServer                                    string
	privilegeWait                                      time.Duration
	inMemory, repair                                   bool
	retain, maxStoreBytes                              string
	verbose                                            bool
	join, probe                                        []string
	cluster                                            clusterFlags
	web                                                webFlags
}

func newObserveCmd() *cobra.Command {
	var o observeOptions
	c := &cobra.Command{
		Use:     "observe --jid JID [flags]",
		Short:   "Connect to an XMPP server and resolve the caps of every entity seen",
		Long:    observeLong,
		Example: observeExample,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runObserve(c, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.jid, "jid", "", "client JID (user@domain), or the component's domain with --component-secret")
	f.StringVar(&o.password, "password", "", "client password; other users of this machine can see it (ps): prefer --password-file or $CAPSENGINE_PASSWORD")
	f.StringVar(&o.passwordFile, "password-file", "", "read the client password from this file (first line; keep it mode 600)")
	f.StringVar(&o.addr, "addr", "", "server host:port (client default: DNS SRV of the JID's domain)")
	f.StringVar(&o.componentSecret, "component-secret", "", "connect as a XEP-0114 component with this secret (or $CAPSENGINE_COMPONENT_SECRET)")
	f.StringVar(&o.data, "data", defaultDataDir(), "directory of the caps stores (DATA/user, DATA/trusted: capsengine db's layout)")
	f.BoolVar(&o.inMemory, "in-memory", false, "keep verified caps in memory only, instead of --data")
	f.StringVar(&o.retain, "retain", "180d", "prune verified caps no online JID announced for this long (days or a Go duration)")
	f.StringVar(&o.maxStoreBytes, "max-store-bytes", "0", "cap on the user store's live entries, e.g. 500MiB; the least recently seen go first (0: no cap)")
	f.BoolVar(&o.repair, "repair", false, "start from a damaged user store: keep every entry that verifies, move the damaged store aside")
	f.StringVar(&o.trusted, "trusted", "", "read-only trusted store (default DATA/trusted when it exists)")
	o.web.flags(f)
	f.StringVar(&o.dump, "dump", "", "write every observed entity as JSON to this file at exit")
	f.IntVar(&o.exitAfter, "exit-after", 0, "exit once this many entities are resolved")
	f.DurationVar(&o.queryTimeout, "query-timeout", 10*time.Second, "how long one disco#info may take before the next announcer is asked")
	f.DurationVar(&o.timeout, "timeout", 0, "the longest the whole run may last (0: no limit)")
	f.DurationVar(&o.dialTimeout, "dial-timeout", 30*time.Second, "how long connecting and logging in may take before the attempt fails and is retried")
	f.StringVar(&o.node, "node", defaultNode, "the caps node we announce: a URI naming the software")
	f.StringVar(&o.identity, "identity", "", "the identity we announce, category/type/name (default client/bot/capsengine, component/generic/capsengine for a component)")
	f.BoolVar(&o.insecureNoTLS, "insecure-no-tls", false, "log in without TLS, in plaintext (test servers only)")
	f.BoolVar(&o.acceptSubscriptions, "accept-subscriptions", false, "approve every subscription request and subscribe back")
	f.StringArrayVar(&o.join, "join", nil, "join this MUC room (room@service) to observe its occupants (repeatable)")
	f.StringVar(&o.nick, "nick", "", "MUC nickname (default: the JID's localpart, or capsengine)")
	f.BoolVar(&o.skipMUC, "skip-muc-occupants", false, "ignore the presence of MUC occupants")
	f.BoolVar(&o.queryUnhashed, "query-unhashed", false, "ask entities without a verifiable hash (no caps, legacy ext caps, unknown algorithm) one disco#info each, kept per JID in memory and marked unverified")
	f.StringArrayVar(&o.probe, "probe", nil, "component: send presence and a probe to this JID on connect (repeatable)")
	f.BoolVar(&o.privileged, "privileged", false, "component: be the server's XEP-0356 privileged entity and see every presence of its users (docs/server.md)")
	f.StringVar(&o.privilegeServer, "privilege-server", "", "the server JID whose privilege advertisement counts (default: --jid without its first label)")
	f.DurationVar(&o.privilegeWait, "privilege-wait", 10*time.Second, "how long to wait after connecting for the server's privilege advertisement")
	f.BoolVar(&o.allowUnprivileged, "allow-unprivileged", false, "with --privileged, go on when the server grants no presence permission (only the component's own contacts are seen)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log debug details")
	o.cluster.add(f)
	return c
}

func runObserve(c *cobra.Command, o observeOptions) error {
	stderr := c.ErrOrStderr()
	if o.jid == "" {
		return usageError(c, errors.New("--jid is required"))
	}
	if o.exitAfter < 0 || o.queryTimeout <= 0 || o.timeout < 0 || o.dialTimeout <= 0 {
		return usageError(c, errors.New("--exit-after and --timeout must not be negative, --query-timeout and --dial-timeout must be positive"))
	}
	retain, err := units.ParseDuration(o.retain)
	if err != nil || retain <= 0 {
		return usageError(c, fmt.Errorf("--retain %q: want a positive duration like 180d", o.retain))
	}
	maxStoreBytes, err := units.ParseBytes(o.maxStoreBytes)
	if err != nil {
		return usageError(c, fmt.Errorf("--max-store-bytes: %w", err))
	}
	cluster, err := o.cluster.config()
	if err != nil {
		return usageError(c, err)
	}
	if err := o.web.check(); err != nil {
		return usageError(c, err)
	}
	secret := o.componentSecret
	if secret == "" {
		secret = os.Getenv("CAPSENGINE_COMPONENT_SECRET")
	}
	component := secret != ""
	local, err := observeLocal(o, component)
	if err != nil {
		return usageError(c, err)
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	password := secret
	if !component {
		var err error
		if password, err = observePassword(o, logger); err != nil {
			return usageError(c, err)
		}
		if o.insecureNoTLS {
			logger.Warn("--insecure-no-tls: the password and all traffic cross the network unencrypted; use it with test servers only")
		}
	} else if o.addr == "" {
		return usageError(c, errors.New("a component needs --addr"))
	}
	if o.privileged && !component {
		return usageError(c, errors.New("--privileged needs --component-secret: a privileged entity is a component"))
	}
	if o.privilegeWait <= 0 {
		return usageError(c, errors.New("--privilege-wait must be positive"))
	}

	ctx := c.Context()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	tr := newTracker(o.exitAfter, func() { stop(errEnough) })
	tr.unhashed = o.queryUnhashed
	probe := append([]string(nil), o.probe...)
	contactsFile := ""
	if o.inMemory {
		o.data = ""
	} else if o.data == "" {
		return usageError(c, errors.New("--data is empty (use --in-memory to keep nothing)"))
	}
	if o.data != "" && component {
		contactsFile = filepath.Join(o.data, "contacts.txt")
		probe = append(probe, readContacts(contactsFile)...)
		if err := os.MkdirAll(o.data, 0o755); err != nil {
			return err
		}
	}
	var contactsMu sync.Mutex
	conn, err := transport.New(transport.Config{
		JID:                 o.jid,
		Password:            password,
		Component:           component,
		Addr:                o.addr,
		InsecureNoTLS:       o.insecureNoTLS,
		DialTimeout:         o.dialTimeout,
		AcceptSubscriptions: o.acceptSubscriptions,
		Rooms:               o.join,
		Nick:                o.nick,
		Probe:               probe,
		OnPresence:          tr.presence,
		Privileged:          o.privileged,
		PrivilegeServer:     o.privilegeServer,
		OnContact: func(bare string) {
			if contactsFile == "" {
				return
			}
			contactsMu.Lock()
			defer contactsMu.Unlock()
			appendContact(contactsFile, bare, logger)
		},
		Logger: logger.With("lib", "transport"),
	})
	if err != nil {
		return usageError(c, err)
	}
	// The layout "capsengine db" uses: DATA/user, and DATA/trusted unless
	// --trusted names another one.
	userDir, trustedDir := "", o.trusted
	if o.data != "" {
		layout := storage.Layout{Dir: o.data}
		userDir = layout.User()
		if trustedDir == "" {
			trustedDir = layout.TrustedIfPresent()
		}
	}
	eng, err := capsengine.Open(ctx, capsengine.Config{
		DataDir:       userDir,
		TrustedDir:    trustedDir,
		InMemory:      o.data == "",
		Repair:        o.repair,
		Retain:        retain,
		MaxStoreBytes: maxStoreBytes,
		Querier:       conn,
		Logger:        logger.With("lib", "engine"),
		Tuning: capsengine.Tuning{QueryTimeout: o.queryTimeout, SkipMUC: o.skipMUC, LocalNode: o.node,
			QueryUnhashed: o.queryUnhashed},
		Cluster: cluster,
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := eng.Close(cctx); err != nil {
			logger.Error("close engine", "err", err)
		}
	}()
	if rep := eng.Storage().Repaired(); rep != nil {
		fmt.Fprintf(c.ErrOrStderr(), "%s: the user store was damaged (%v)\n%s: %s\n", c.CommandPath(), rep.Problem, c.CommandPath(), rep)
	}
	if err := eng.SetLocal(local); err != nil {
		return err
	}
	if err := eng.FlushLocal(ctx); err != nil {
		return err
	}
	if ann, ok := eng.Announcement(); ok {
		logger.Info("announcing", "node", ann.Caps.Node, "ver", ann.Caps.Ver,
			"identity", transport.FormatIdentity(local.Identities[0]))
	}
	sub := eng.Subscribe(messages.KindCapsResolved|messages.KindCapsFailed|messages.KindEntityGone, 1<<16)
	trackDone := make(chan struct{})
	go func() {
		defer close(trackDone)
		for ev := range sub.Events() {
			tr.event(ev)
		}
	}()
	defer func() {
		sub.Close()
		<-trackDone
	}()

	if o.web.addr != "" {
		shutdown, err := o.web.serve(eng, conn, o.privileged, logger)
		if err != nil {
			return err
		}
		defer shutdown()
	}

	runErr := make(chan error, 1)
	go func() { runErr <- conn.Run(ctx, eng) }()
	if o.privileged {
		go watchPrivileges(ctx, conn, o, logger, func(err error) { stop(err) })
	}
	var failure error
	select {
	case <-ctx.Done():
		err := <-runErr
		if err != nil {
			failure = err
		}
	case err := <-runErr: // Run ends early only when the login is refused
		failure = err
		stop(err)
	}
	timedOut := errors.Is(context.Cause(ctx), context.DeadlineExceeded)
	switch {
	case errors.Is(failure, transport.ErrNoStartTLS):
		failure = errors.New("the server offers no STARTTLS; --insecure-no-tls is for test servers only")
	case timedOut && conn.Stats().Connects == 0:
		// Exiting 0 here would report an empty run as a success.
		failure = fmt.Errorf("--timeout %v passed without a successful login", o.timeout)
		if err := conn.LastDialError(); err != nil {
			failure = fmt.Errorf("%w; the last attempt: %v", failure, err)
		}
	case errors.Is(context.Cause(ctx), errUnprivileged):
		failure = context.Cause(ctx)
	case timedOut && o.exitAfter > 0:
		failure = fmt.Errorf("--timeout %v passed with %d of %d entities resolved", o.timeout, tr.resolvedCount(), o.exitAfter)
	}
	// Let events already published reach the tracker before dumping.
	sub.Close()
	<-trackDone
	if o.dump != "" {
		if err := tr.dump(o.dump, eng.Counters()); err != nil {
			logger.Error("dump", "err", err)
			if failure == nil {
				failure = err
			}
		}
	}
	if failure != nil {
		fmt.Fprintln(stderr, "capsengine observe:", failure)
		return exitError{1}
	}
	return nil
}

var errEnough = errors.New("enough entities resolved")

// defaultNode is the caps node observe announces without --node: the
// project's address, as XEP-0115 §4 asks of a node.
const defaultNode = "https://github.com/capsengine/capsengine"

// observeLocal is the disco#info observe announces: the transport's
// features, under --identity when given.
func observeLocal(o observeOptions, component bool) (*hashing.Info, error) {
	if err := transport.CheckNode(o.node); err != nil {
		return nil, flagValueError(err)
	}
	info := transport.LocalInfo("capsengine", component)
	if o.identity != "" {
		id, err := transport.ParseIdentity(o.identity)
		if err != nil {
			return nil, flagValueError(err)
		}
		info.Identities = []hashing.Identity{id}
	}
	return info, nil
}

// flagValueError words a *transport.ValueError after the flag that took
// the value.
func flagValueError(err error) error {
	var ve *transport.ValueError
	if errors.As(err, &ve) {
		return fmt.Errorf("--%s %q: %s", ve.What, ve.Value, ve.Reason)
	}
	return err
}

func observePassword(o observeOptions, logger *slog.Logger) (string, error) {
	switch {
	case o.password != "":
		return o.password, nil
	case o.passwordFile != "":
		f, err := os.Open(o.passwordFile)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
			logger.Warn("--password-file can be read by other users: chmod 600 it",
				"file", o.passwordFile, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
		}
		// One line is a password; a FIFO or a device given by mistake
		// must not make us read for ever.
		b, err := io.ReadAll(io.LimitReader(f, 4096))
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		pw, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(pw, "\r"), nil
	case os.Getenv("CAPSENGINE_PASSWORD") != "":
		return os.Getenv("CAPSENGINE_PASSWORD"), nil
	}
	return "", errors.New("a client needs --password, --password-file or $CAPSENGINE_PASSWORD (or --component-secret for a component)")
}

// readContacts reads the component's remembered contacts, one bare JID a
// line; a missing file is no contacts.
func readContacts(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func appendContact(path, bare string, logger *slog.Logger) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		_, err = io.WriteString(f, bare+"\n")
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		logger.Warn("remember contact", "jid", bare, "err", err)
	}
}

// tracker keeps, per full JID, what the dump reports.
type tracker struct {
	mu        sync.Mutex
	entities  map[string]*entity
	resolved  map[string]struct{}
	exitAfter int
	enough    func()
	fired     bool
	// unhashed: --query-unhashed, so JIDs without a verifiable hash are
	// entities too.
	unhashed bool
}

// entity is one full JID in the dump.
type entity struct {
	Node       string             `json:"node"`
	Ver        string             `json:"ver"`
	Hash       string             `json:"hash"`
	Caps2      []messages.Hash    `json:"caps2,omitempty"`
	Ext        string             `json:"ext,omitempty"` // legacy XEP-0115 v1.0 caps
	Verified   bool               `json:"verified"`
	Unverified bool               `json:"unverified,omitempty"` // no verifiable hash: the JID's own answer (--query-unhashed)
	Resolved   *httpapi.Key       `json:"resolved_key,omitempty"`
	Identities []httpapi.Identity `json:"identities"`
	Features   []string           `json:"features"`
	Forms      []httpapi.Form     `json:"forms"`
	FirstSeen  time.Time          `json:"first_seen"`
	ResolvedAt *time.Time         `json:"resolved_at,omitempty"`
	ResolveMS  *float64           `json:"resolve_ms,omitempty"`
	Online     bool               `json:"online"`
	Error      string             `json:"error,omitempty"`

	keys []hashing.Key
	seen time.Time // when the current hash was first announced
}

func newTracker(exitAfter int, enough func()) *tracker {
	return &tracker{entities: make(map[string]*entity), resolved: make(map[string]struct{}),
		exitAfter: exitAfter, enough: enough}
}

// presence records what a JID announces (transport's OnPresence).
func (t *tracker) presence(p *messages.Presence) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entities[p.From]
	if p.Type == "unavailable" {
		if e != nil {
			e.Online = false
		}
		return
	}
	keys, _ := p.AppendKeys(nil)
	if len(keys) == 0 {
		// The engine keeps a JID's verifiable hash over a later presence
		// without one, and asks the others only with --query-unhashed.
		if !t.unhashed {
			return
		}
		if e != nil && e.Online {
			return // the engine keeps what it has for an online JID
		}
		first := now
		if e != nil {
			first = e.FirstSeen
		}
		e = &entity{FirstSeen: first, Online: true, seen: now,
			Identities: []httpapi.Identity{}, Features: []string{}, Forms: []httpapi.Form{}}
		if p.Caps != nil {
			e.Node, e.Ver, e.Hash, e.Ext = p.Caps.Node, p.Caps.Ver, p.Caps.Hash, p.Caps.Ext
		}
		t.entities[p.From] = e
		return
	}
	if e == nil {
		e = &entity{FirstSeen: now}
		t.entities[p.From] = e
	}
	e.Online = true
	if sameKeys(e.keys, keys) {
		return
	}
	*e = entity{FirstSeen: e.FirstSeen, Online: true, keys: keys, seen: now}
	if p.Caps != nil {
		e.Node, e.Ver, e.Hash = p.Caps.Node, p.Caps.Ver, p.Caps.Hash
	} else if len(p.Caps2) > 0 {
		e.Node, e.Ver, e.Hash = messages.NSCaps2, p.Caps2[0].Value, p.Caps2[0].Algo
	}
	e.Caps2 = append([]messages.Hash(nil), p.Caps2...)
	e.Identities, e.Features, e.Forms = []httpapi.Identity{}, []string{}, []httpapi.Form{}
}

func sameKeys(a, b []hashing.Key) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// event records a resolution or failure.
func (t *tracker) event(ev messages.Event) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev := ev.(type) {
	case *messages.CapsResolved:
		e := t.entities[ev.JID]
		if e == nil || !ev.Unverified && !slices.Contains(e.keys, ev.Key) || ev.Unverified && len(e.keys) > 0 {
			return // an older announcement, or a JID we did not see
		}
		info := httpapi.NewInfo(ev.Info)
		e.Verified, e.Unverified, e.Error, e.Resolved = !ev.Unverified, ev.Unverified, "", httpapi.NewKey(ev.Key)
		e.Identities, e.Features, e.Forms = info.Identities, info.Features, info.Forms
		if e.ResolvedAt == nil {
			at := now.UTC()
			ms := float64(now.Sub(e.seen).Microseconds()) / 1000
			e.ResolvedAt, e.ResolveMS = &at, &ms
		}
		t.resolved[ev.JID] = struct{}{}
		if t.exitAfter > 0 && len(t.resolved) >= t.exitAfter && !t.fired {
			t.fired = true
			t.enough()
		}
	case *messages.CapsFailed:
		// An unhashed JID's failure has the zero key and no keys.
		if e := t.entities[ev.JID]; e != nil && !e.Verified && !e.Unverified &&
			(slices.Contains(e.keys, ev.Key) || ev.Key.IsZero() && len(e.keys) == 0) {
			e.Error = ev.Err.Error()
		}
	case *messages.EntityGone:
		if e := t.entities[ev.JID]; e != nil {
			e.Online = false
		}
	}
}

func (t *tracker) resolvedCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.resolved)
}

// dump writes the JSON document atomically (a temporary file renamed).
func (t *tracker) dump(path string, counters map[string]uint64) error {
	t.mu.Lock()
	doc := struct {
		Generated time.Time          `json:"generated"`
		Entities  map[string]*entity `json:"entities"`
		Counters  map[string]uint64  `json:"counters"`
	}{time.Now().UTC(), t.entities, counters}
	data, err := json.MarshalIndent(doc, "", "  ")
	t.mu.Unlock()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".capsengine-dump-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(data, '\n'))
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--dump: %w", err)
	}
	return nil
}
