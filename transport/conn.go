package transport

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/dial"
	"mellium.im/xmpp/jid"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// Config configures a Conn. JID and Password are required; every other
// field's zero value is its documented default.
type Config struct {
	// JID is the client's address (user@domain, optionally /resource —
	// mellium v0.22 lets the server choose the resource either way), or
	// the component's domain when Component is set.
	JID string
	// Password is the client's password, or the component's shared
	// secret (XEP-0114 handshake).
	Password string
	// Component connects as a XEP-0114 external component instead of a
	// client.
	Component bool
	// Addr is the server's host:port. "" for a client means the usual
	// discovery (DNS SRV records of the JID's domain, then domain:5222);
	// a component needs it.
	Addr string
	// TLS configures STARTTLS. Nil means the JID's domain as ServerName,
	// the system's roots and TLS 1.2 or later.
	TLS *tls.Config
	// InsecureNoTLS logs in without TLS, in plaintext: for test servers
	// only. Without it a client requires STARTTLS (a server that does not
	// offer it is refused). Components never use TLS (XEP-0114).
	InsecureNoTLS bool
	// AcceptSubscriptions answers every presence subscription request with
	// "subscribed" and asks for a subscription back, so that the contact's
	// presence reaches us. Without it requests are left to the server.
	AcceptSubscriptions bool
	// Rooms are MUC rooms (room@service) to join on every connect, to see
	// their occupants' presence; Nick is the nickname (default: the JID's
	// localpart, or "capsengine" for a component).
	Rooms []string
	Nick  string
	// Probe lists the JIDs a component sends its presence and a presence
	// probe to on every connect, so that entities already online are seen.
	// Contacts learned while running (subscriptions, presence received)
	// are probed too after a reconnect. Ignored by clients: the server
	// probes a client's contacts for it.
	Probe []string
	// Backoff bounds the wait between reconnection attempts: it starts at
	// Min (default 500ms), doubles after each failure up to Max (default
	// 30s), with ±20% jitter, and starts over after a session that lasted
	// a minute.
	Backoff Backoff
	// DialTimeout bounds connecting and logging in: every read and write
	// until the session is up has this deadline, so a server that accepts
	// the connection and then says nothing fails the attempt (with
	// context.DeadlineExceeded; Run retries it). Default 30s.
	DialTimeout time.Duration
	// WriteTimeout bounds one write once the session is up: a server that
	// stops reading for this long has its connection closed, and Run
	// reconnects. Reads need no such bound: KeepAlive finds a server that
	// went quiet. Default 30s.
	WriteTimeout time.Duration
	// KeepAlive is how often an idle session pings the server (XEP-0199)
	// to find out that it is gone; negative disables. Default 60s.
	KeepAlive time.Duration
	// MaxStanzaBytes bounds one received stanza, re-serialized; longer
	// ones are dropped and counted (Stats.TooLarge). Default 256 KiB.
	MaxStanzaBytes int
	// OnPresence, when set, sees every available and unavailable presence
	// handed to the engine, already parsed, on the session's goroutine. It
	// must not block for long, and must not keep p past the call.
	OnPresence func(p *messages.Presence)
	// OnContact, when set, is told the bare JID of every new contact
	// (component mode), for the caller to keep and pass in Probe next time.
	OnContact func(bare string)
	// Privileged: the component is a XEP-0356 privileged entity that the
	// server forwards its users' presences to. Those presences are the
	// server's, not contacts': they are ingested but not remembered as
	// contacts, probed or sent our presence. The server's advertisement of
	// what it granted (Conn.Privileges, OnPrivileges) is read from
	// PrivilegeServer only. Component mode only.
	Privileged bool
	// PrivilegeServer is the server's JID the advertisement must come
	// from. Default: the component's domain without its first label
	// (caps.example.org → example.org).
	PrivilegeServer string
	// OnPrivileges, when set, is told each advertisement (one per
	// session), on the session's goroutine.
	OnPrivileges func(Privileges)
	// Logger receives connection events. Nil: silent.
	Logger *slog.Logger
}

// Backoff bounds reconnection delays; see Config.Backoff.
type Backoff struct {
	Min, Max time.Duration
}

// Stats are a Conn's running totals since New.
type Stats struct {
	Connects      uint64 // sessions established
	Disconnects   uint64 // sessions that ended (errors and server restarts included)
	DialErrors    uint64 // connection or login attempts that failed
	Stanzas       uint64 // stanzas received
	Presences     uint64 // presences handed to the engine
	TooLarge      uint64 // stanzas dropped: longer than MaxStanzaBytes
	Malformed     uint64 // presences the engine could not decode
	DiscoAnswered uint64 // disco#info requests we answered with our own info
	IQErrorsSent  uint64 // IQ requests we answered with an error
	Queries       uint64 // disco#info queries sent
	QueryErrors   uint64 // queries answered with an IQ error
	QueryTimeouts uint64 // queries without an answer before their deadline
	Resent        uint64 // queries sent again after a reconnect
	Subscriptions uint64 // subscription requests accepted
	Probes        uint64 // presence probes sent (component)
	PresencesSent uint64 // presences of our own sent (initial, VerChanged, MUC, directed)
}

// Map returns the totals by field name (for metrics).
func (s Stats) Map() map[string]uint64 {
	return map[string]uint64{
		"Connects": s.Connects, "Disconnects": s.Disconnects, "DialErrors": s.DialErrors,
		"Stanzas": s.Stanzas, "Presences": s.Presences, "TooLarge": s.TooLarge, "Malformed": s.Malformed,
		"DiscoAnswered": s.DiscoAnswered, "IQErrorsSent": s.IQErrorsSent, "Queries": s.Queries,
		"QueryErrors": s.QueryErrors, "QueryTimeouts": s.QueryTimeouts, "Resent": s.Resent,
		"Subscriptions": s.Subscriptions, "Probes": s.Probes, "PresencesSent": s.PresencesSent,
	}
}

// Conn is one XMPP session for an engine, re-established whenever it
// drops. It implements capsengine.Querier. All its methods are safe for
// concurrent use.
type Conn struct {
	cfg  Config
	addr jid.JID
	log  *slog.Logger

	mu       sync.Mutex
	sess     *xmpp.Session
	sessCtx  context.Context // cancelled when sess ends
	up       chan struct{}   // closed when a session is up, or when Run ends
	local    string          // our bound full JID (the domain for a component)
	running  bool
	closed   bool
	contacts map[string]struct{} // bare JIDs (component mode)
	eng      *capsengine.Engine
	wanted   map[string]chan struct{} // JIDs whose next available presence a re-sent query waits for
	dialErr  error                    // the last failed connection attempt's
	priv     *Privileges              // this session's XEP-0356 advertisement

	st statsCounters
}

type statsCounters struct {
	connects, disconnects, dialErrors, stanzas, presences, tooLarge, malformed,
	discoAnswered, iqErrorsSent, queries, queryErrors, queryTimeouts, resent,
	subscriptions, probes, presencesSent atomic.Uint64
}

// New checks cfg and returns a Conn that is not connected yet: give it to
// capsengine.Open as the Querier, then call Run with the engine.
func New(cfg Config) (*Conn, error) {
	if cfg.JID == "" {
		return nil, errors.New("transport: Config.JID is required")
	}
	addr, err := jid.Parse(cfg.JID)
	if err != nil {
		return nil, fmt.Errorf("transport: JID %q: %w", cfg.JID, err)
	}
	if cfg.Component {
		addr = addr.Domain()
		if cfg.Addr == "" {
			return nil, errors.New("transport: a component needs Config.Addr")
		}
	} else if addr.Localpart() == "" {
		return nil, fmt.Errorf("transport: client JID %q has no localpart", cfg.JID)
	}
	if cfg.Privileged && !cfg.Component {
		return nil, errors.New("transport: Config.Privileged is for components (XEP-0356 privileged entities)")
	}
	if cfg.Backoff.Min <= 0 {
		cfg.Backoff.Min = 500 * time.Millisecond
	}
	if cfg.Backoff.Max < cfg.Backoff.Min {
		cfg.Backoff.Max = max(30*time.Second, cfg.Backoff.Min)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 60 * time.Second
	}
	if cfg.MaxStanzaBytes <= 0 {
		cfg.MaxStanzaBytes = 256 << 10
	}
	if cfg.Nick == "" {
		cfg.Nick = addr.Localpart()
		if cfg.Component || cfg.Nick == "" {
			cfg.Nick = "capsengine"
		}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Conn{
		cfg:      cfg,
		addr:     addr,
		log:      logger,
		up:       make(chan struct{}),
		contacts: make(map[string]struct{}),
		wanted:   make(map[string]chan struct{}),
	}
	for _, p := range cfg.Probe {
		if j, err := jid.Parse(p); err == nil {
			c.contacts[j.Bare().String()] = struct{}{}
		}
	}
	return c, nil
}

// Stats returns the running totals.
func (c *Conn) Stats() Stats {
	s := &c.st
	return Stats{
		Connects: s.connects.Load(), Disconnects: s.disconnects.Load(), DialErrors: s.dialErrors.Load(),
		Stanzas: s.stanzas.Load(), Presences: s.presences.Load(), TooLarge: s.tooLarge.Load(),
		Malformed: s.malformed.Load(), DiscoAnswered: s.discoAnswered.Load(),
		IQErrorsSent: s.iqErrorsSent.Load(), Queries: s.queries.Load(), QueryErrors: s.queryErrors.Load(),
		QueryTimeouts: s.queryTimeouts.Load(), Resent: s.resent.Load(),
		Subscriptions: s.subscriptions.Load(), Probes: s.probes.Load(), PresencesSent: s.presencesSent.Load(),
	}
}

// Privileges is what the server granted this component in the current
// session (XEP-0356), and whether it said anything yet.
func (c *Conn) Privileges() (Privileges, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.priv == nil {
		return Privileges{}, false
	}
	return *c.priv, true
}

// Connected reports whether a session is up now.
func (c *Conn) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess != nil
}

// WaitConnected returns once a session is up, or ctx's error, or ErrClosed
// once Run has returned.
func (c *Conn) WaitConnected(ctx context.Context) error {
	_, _, err := c.session(ctx)
	return err
}

// LastDialError is the error of the most recent connection or login
// attempt that failed, or nil when none has: for telling a person why Run
// never connected (Run itself keeps trying, see Run).
func (c *Conn) LastDialError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialErr
}

// LocalJID is our address on the current session: the bound full JID of a
// client, the domain of a component; "" while disconnected.
func (c *Conn) LocalJID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return ""
	}
	return c.local
}

// Contacts returns the bare JIDs a component knows as contacts (from
// Config.Probe, subscriptions and presence received), sorted.
func (c *Conn) Contacts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.contacts))
	for k := range c.contacts {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Run connects, serves the session and reconnects with backoff whenever
// it ends, until ctx is done; the engine's state (cache, JIDs, pending
// lookups) is untouched by reconnects. It feeds received presence to eng,
// answers disco#info for our own caps nodes from eng.LocalInfo, and sends
// our presence (decorated by eng.OutgoingPresence) on every connect and
// again on every VerChanged. Call eng.SetLocal and FlushLocal before Run so
// that the first presence carries our caps.
//
// Run returns nil once ctx is done (after sending unavailable presence and
// closing the stream), or an error matching ErrAuth when a login fails for
// a reason retrying cannot fix before any login succeeded (a server that is
// down is waited for; wrong credentials are not). Run may be called once.
func (c *Conn) Run(ctx context.Context, eng *capsengine.Engine) error {
	c.mu.Lock()
	if c.running || c.closed {
		c.mu.Unlock()
		return errors.New("transport: Run called twice")
	}
	c.running, c.eng = true, eng
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.closed = true
		select {
		case <-c.up:
		default:
			close(c.up) // wake QueryInfo calls waiting for a session
		}
		c.mu.Unlock()
	}()

	sub := eng.Subscribe(messages.KindVerChanged, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.verChanges(ctx, sub)
	}()
	defer wg.Wait()
	defer sub.Close()

	delay := c.cfg.Backoff.Min
	loggedIn := false
	for {
		sess, raw, err := c.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.st.dialErrors.Add(1)
			c.mu.Lock()
			c.dialErr = err
			c.mu.Unlock()
			if !loggedIn && errors.Is(err, ErrAuth) {
				return err
			}
			c.log.Warn("xmpp connect failed", "addr", c.cfg.Addr, "err", err, "retry_in", delay)
		} else {
			loggedIn = true
			started := time.Now()
			err := c.serve(ctx, sess, raw)
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("xmpp session ended", "err", err, "retry_in", delay)
			if time.Since(started) > time.Minute {
				delay = c.cfg.Backoff.Min
			}
		}
		jitter := 0.8 + 0.4*rand.Float64()
		t := time.NewTimer(time.Duration(float64(delay) * jitter))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, c.cfg.Backoff.Max)
	}
}

// dial connects and logs in. It returns the session and the connection
// under it, whose Close ends the session's I/O at once (TLS included).
//
// mellium honours ctx only by setting the connection's deadline to the past
// and immediately back to zero when ctx ends, which can leave a read
// blocked for good (a server that accepts and says nothing hung the login
// forever). So mellium gets a ctx that never ends, and dial bounds the
// login itself: an absolute deadline on every read and write, and closing
// the connection when ctx ends (Close cannot be undone, unlike a
// deadline).
func (c *Conn) dial(ctx context.Context) (*xmpp.Session, net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	var raw net.Conn
	var err error
	if c.cfg.Addr != "" {
		var d net.Dialer
		raw, err = d.DialContext(ctx, "tcp", c.cfg.Addr)
	} else {
		raw, err = dial.Client(ctx, "tcp", c.addr)
	}
	if err != nil {
		return nil, nil, err
	}
	deadline, _ := ctx.Deadline()
	if err := raw.SetDeadline(deadline); err != nil {
		raw.Close()
		return nil, nil, err
	}
	conn := &guardedConn{Conn: raw, writeTimeout: c.cfg.WriteTimeout}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	var sess *xmpp.Session
	mctx := context.WithoutCancel(ctx)
	if c.cfg.Component {
		sess, err = component.NewSession(mctx, c.addr, []byte(c.cfg.Password), conn)
	} else {
		sess, err = c.clientSession(mctx, conn)
	}
	if !stop() && err == nil {
		err = ctx.Err() // logged in just as ctx ended: the connection is closed
	}
	if err == nil {
		// The session is up: from now on reads wait for the server as long
		// as it likes (KeepAlive watches it) and writes are bounded by the
		// guard.
		err = raw.SetDeadline(time.Time{})
	}
	if err == nil && !c.cfg.Component && sess.State()&xmpp.Authn == 0 {
		err = fmt.Errorf("%w: the server offered no usable authentication", ErrAuth)
	}
	if err == nil {
		return sess, conn, nil
	}
	raw.Close()
	switch {
	case ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
		// Whether ctx's timer or the connection's deadline fired first,
		// it is the same event: the login did not finish in time.
		return nil, nil, fmt.Errorf("transport: %s did not complete the login within %v: %w",
			c.serverName(), c.cfg.DialTimeout, context.DeadlineExceeded)
	case errors.Is(err, ErrAuth), isNetErr(err):
		return nil, nil, err
	}
	return nil, nil, fmt.Errorf("%w: %w", ErrAuth, err)
}

// serverName names the server in errors: Config.Addr, or the JID's domain
// when it is found through DNS.
func (c *Conn) serverName() string {
	if c.cfg.Addr != "" {
		return c.cfg.Addr
	}
	return c.addr.Domainpart()
}

// guardedConn closes the connection when one write takes longer than
// writeTimeout. A server that stops reading would otherwise block the
// writer, and with it mellium's output lock and every later send, for
// good; mellium's per-send ctx has the same deadline reset problem as its
// login (see dial).
type guardedConn struct {
	net.Conn
	writeTimeout time.Duration
}

func (g *guardedConn) Write(b []byte) (int, error) {
	t := time.AfterFunc(g.writeTimeout, func() { g.Conn.Close() })
	defer t.Stop()
	return g.Conn.Write(b)
}

func (c *Conn) clientSession(ctx context.Context, conn net.Conn) (*xmpp.Session, error) {
	var state xmpp.SessionState
	var features []xmpp.StreamFeature
	if c.cfg.InsecureNoTLS {
		// mellium negotiates SASL only on a secure stream: declare the
		// plaintext one secure, as the caller asked.
		state = xmpp.Secure
	} else {
		tc := c.cfg.TLS
		if tc == nil {
			tc = &tls.Config{ServerName: c.addr.Domainpart(), MinVersion: tls.VersionTLS12}
		}
		features = append(features, requireStartTLS(tc))
	}
	features = append(features,
		xmpp.SASL("", c.cfg.Password, sasl.ScramSha256, sasl.ScramSha1, sasl.Plain),
		xmpp.BindResource(),
	)
	return xmpp.NewSession(ctx, c.addr.Domain(), c.addr, conn, state,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Lang: "en", Features: features}
		}))
}

// requireStartTLS is mellium's STARTTLS feature, except that it refuses a
// server that does not offer it with ErrNoStartTLS. mellium sends
// <starttls/> regardless (RFC 7590's downgrade defence), and a server
// without TLS then answers with an unrelated stream error (Prosody:
// unsupported-stanza-type) or not at all. Either way the password is never
// sent; this only makes the reason plain.
func requireStartTLS(tc *tls.Config) xmpp.StreamFeature {
	f := xmpp.StartTLS(tc)
	parse, negotiate := f.Parse, f.Negotiate
	f.Parse = func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, any, error) {
		req, _, err := parse(ctx, d, start)
		return req, startTLSOffered{}, err // mellium's own data is nil
	}
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		// mellium passes what Parse returned when the server listed the
		// feature, and nil when it did not.
		if _, ok := data.(startTLSOffered); !ok {
			return 0, nil, ErrNoStartTLS
		}
		return negotiate(ctx, s, nil)
	}
	return f
}

// startTLSOffered marks a features list that offered STARTTLS.
type startTLSOffered struct{}

// isNetErr tells transient failures (the network, the server going away)
// from refusals.
func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed)
}

// serve runs one session until it ends or ctx is done. raw is the
// connection under sess (see dial).
func (c *Conn) serve(ctx context.Context, sess *xmpp.Session, raw net.Conn) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	local := sess.LocalAddr().String()
	if c.cfg.Component {
		local = c.addr.String()
	}
	c.mu.Lock()
	c.sess, c.sessCtx, c.local = sess, sctx, local
	c.priv = nil // each session's advertisement is its own
	close(c.up)
	c.mu.Unlock()
	c.st.connects.Add(1)
	c.log.Info("xmpp session up", "jid", local)

	done := make(chan error, 1)
	go func() { done <- sess.Serve(c.handler(ctx)) }()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.greet(sctx, sess)
		c.keepAlive(sctx, sess)
	}()

	var err error
	served := false
	select {
	case err = <-done:
		served = true
	case <-ctx.Done():
		// Saying goodbye politely must not hold up shutdown: a server that
		// stopped reading would block the goodbye's writes (and mellium's
		// output lock) until WriteTimeout.
		kill := time.AfterFunc(3*time.Second, func() { raw.Close() })
		defer kill.Stop()
		c.goodbye(sess)
		t := time.NewTimer(2 * time.Second)
		select {
		case err = <-done:
			served = true
		case <-t.C:
		}
		t.Stop()
	}
	c.mu.Lock()
	c.sess, c.sessCtx = nil, nil
	c.up = make(chan struct{})
	c.mu.Unlock()
	cancel()
	sess.Conn().Close() // TLS: sends close_notify, bounded by its own deadline
	raw.Close()
	wg.Wait()
	if !served {
		// Closing the connection ends Serve's read.
		<-done
	}
	c.st.disconnects.Add(1)
	return err
}

// session returns the current session, waiting for one.
func (c *Conn) session(ctx context.Context) (*xmpp.Session, context.Context, error) {
	for {
		c.mu.Lock()
		s, sctx, up, closed := c.sess, c.sessCtx, c.up, c.closed
		c.mu.Unlock()
		if s != nil {
			return s, sctx, nil
		}
		if closed {
			return nil, nil, ErrClosed
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// greet sends what a fresh session needs: our presence, MUC joins, and
// for a component directed presence and probes to every contact.
func (c *Conn) greet(ctx context.Context, sess *xmpp.Session) {
	if c.cfg.Component {
		for _, to := range c.Contacts() {
			c.send(ctx, sess, c.ownPresence(to, ""))
			c.send(ctx, sess, c.ownPresence(to, "probe"))
			c.st.probes.Add(1)
		}
	} else {
		c.send(ctx, sess, c.ownPresence("", ""))
	}
	for _, room := range c.cfg.Rooms {
		c.send(ctx, sess, c.joinPresence(room))
	}
}

// goodbye sends unavailable presence and closes the stream.
func (c *Conn) goodbye(sess *xmpp.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if c.cfg.Component {
		for _, to := range c.Contacts() {
			c.send(ctx, sess, c.ownPresence(to, "unavailable"))
		}
	} else {
		c.send(ctx, sess, c.ownPresence("", "unavailable"))
	}
	// Not Session.SetCloseDeadline: it races with Serve in mellium v0.22.
	_ = sess.Conn().SetReadDeadline(time.Now().Add(2 * time.Second))
	_ = sess.Close()
}

// keepAlive pings the server when the session is idle, and closes the
// connection when a ping goes unanswered.
func (c *Conn) keepAlive(ctx context.Context, sess *xmpp.Session) {
	if c.cfg.KeepAlive < 0 {
		return
	}
	t := time.NewTicker(c.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, max(c.cfg.KeepAlive/2, 5*time.Second))
		b := []byte("<iq type='get'")
		b = appendAttr(b, "id", newID())
		b = appendAttr(b, "to", c.addr.Domainpart())
		if c.cfg.Component {
			b = appendAttr(b, "from", c.addr.String())
		}
		b = append(b, "><ping xmlns='urn:xmpp:ping'/></iq>"...)
		resp, err := sess.SendIQ(pctx, xml.NewDecoder(bytes.NewReader(b)))
		cancel()
		if resp != nil {
			_, _ = xmlstream.Copy(xmlstream.Discard(), resp)
			resp.Close()
		}
		if err != nil && ctx.Err() == nil {
			c.log.Warn("xmpp keepalive ping failed: closing the connection", "err", err)
			sess.Conn().Close()
			return
		}
	}
}

// verChanges re-sends our presence whenever our caps change.
func (c *Conn) verChanges(ctx context.Context, sub *capsengine.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-sub.Events():
			if !ok {
				return
			}
		}
		c.mu.Lock()
		sess, sctx := c.sess, c.sessCtx
		c.mu.Unlock()
		if sess == nil {
			continue // the next session's greeting carries the new caps
		}
		if c.cfg.Component {
			for _, to := range c.Contacts() {
				c.send(sctx, sess, c.ownPresence(to, ""))
			}
		} else {
			c.send(sctx, sess, c.ownPresence("", ""))
		}
		for _, room := range c.cfg.Rooms {
			c.send(sctx, sess, c.ownPresence(room+"/"+c.cfg.Nick, ""))
		}
	}
}

// send writes one stanza given as bytes; failures are logged (the session
// is going down anyway).
func (c *Conn) send(ctx context.Context, sess *xmpp.Session, stanza []byte) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sess.Send(ctx, xml.NewDecoder(bytes.NewReader(stanza))); err != nil {
		c.log.Debug("xmpp send", "err", err)
		return
	}
	if bytes.HasPrefix(stanza, []byte("<presence")) {
		c.st.presencesSent.Add(1)
	}
}

// write writes one stanza given as bytes from inside the handler.
func write(w xmlstream.TokenWriter, stanza []byte) error {
	_, err := xmlstream.Copy(w, xml.NewDecoder(bytes.NewReader(stanza)))
	return err
}

// ownPresence is our presence of type typ to to ("" for a broadcast),
// carrying our caps when available.
func (c *Conn) ownPresence(to, typ string) []byte {
	p := &messages.Presence{To: to, Type: typ, ID: newID()}
	if c.cfg.Component {
		p.From = c.addr.String()
	}
	if typ == "" {
		c.eng.OutgoingPresence(p)
	}
	return messages.AppendPresence(nil, p)
}

// joinPresence is our MUC join: presence to room/nick with a muc <x/>.
func (c *Conn) joinPresence(room string) []byte {
	b := c.ownPresence(room+"/"+c.cfg.Nick, "")
	const x = "<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>"
	if bytes.HasSuffix(b, []byte("/>")) {
		return append(b[:len(b)-2], ">"+x...)
	}
	return append(b[:len(b)-len("</presence>")], x...)
}

// presenceOnly answers a presence of type typ (subscribed, unsubscribed...).
func (c *Conn) presenceOnly(to, typ string) []byte {
	b := []byte("<presence")
	if c.cfg.Component {
		b = appendAttr(b, "from", c.addr.String())
	}
	b = appendAttr(b, "to", to)
	b = appendAttr(b, "type", typ)
	return append(b, "/>"...)
}

func newID() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// QueryInfo sends a disco#info query for node to jid and returns the
// answer, decoded with messages.ParseDiscoInfo. It waits for a session when
// there is none. When the session drops before the answer, the query is
// sent again on the next session once jid's available presence arrives
// there (the server re-sends our contacts' presence after we log in again,
// and the peer may itself need to reconnect first): a peer is not blamed
// for our disconnection. ctx bounds all of it (the engine gives each query
// Tuning.QueryTimeout). Errors: ctx's error; a
// *StanzaError (matching ErrIQError) for an IQ error answer; ErrSpoofed,
// ErrTooLarge; a messages decoding error for an answer that is not a
// well-formed disco#info; ErrClosed after Run returned.
func (c *Conn) QueryInfo(ctx context.Context, to, node string) (*hashing.Info, error) {
	var back chan struct{} // closed when to is available again
	for attempt := 0; ; attempt++ {
		sess, sctx, err := c.session(ctx)
		if err == nil && back != nil {
			select {
			case <-back:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				c.st.queryTimeouts.Add(1)
			}
			c.unwant(to, back)
			return nil, err
		}
		if attempt > 0 {
			c.st.resent.Add(1)
		}
		info, err := c.query(ctx, sess, sctx, to, node)
		if errors.Is(err, ErrDisconnected) && attempt < 3 && ctx.Err() == nil {
			back = c.want(to)
			continue
		}
		return info, err
	}
}

// want registers interest in the next available presence of jid.
func (c *Conn) want(jid string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.wanted[jid]
	if ch == nil {
		ch = make(chan struct{})
		c.wanted[jid] = ch
	}
	return ch
}

// unwant drops a registration that nobody waits for any more.
func (c *Conn) unwant(jid string, ch chan struct{}) {
	if ch == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wanted[jid] == ch {
		delete(c.wanted, jid)
	}
}

// available wakes the queries waiting for jid to be back.
func (c *Conn) available(jid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch := c.wanted[jid]; ch != nil {
		close(ch)
		delete(c.wanted, jid)
	}
}

func (c *Conn) query(ctx context.Context, sess *xmpp.Session, sctx context.Context, to, node string) (*hashing.Info, error) {
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(sctx, cancel)
	defer stop()

	b := []byte("<iq type='get'")
	b = appendAttr(b, "id", newID())
	b = appendAttr(b, "to", to)
	if c.cfg.Component {
		b = appendAttr(b, "from", c.addr.String())
	}
	b = append(b, "><query xmlns='"+messages.NSDiscoInfo+"'"...)
	if node != "" {
		b = appendAttr(b, "node", node)
	}
	b = append(b, "/></iq>"...)

	c.st.queries.Add(1)
	resp, err := sess.SendIQ(qctx, xml.NewDecoder(bytes.NewReader(b)))
	if err != nil {
		switch {
		case ctx.Err() != nil:
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				c.st.queryTimeouts.Add(1)
			}
			return nil, ctx.Err()
		case sctx.Err() != nil || connLost(err):
			return nil, ErrDisconnected
		}
		return nil, fmt.Errorf("transport: disco#info to %s: %w", to, err)
	}
	var el element
	err = el.readAll(resp, c.cfg.MaxStanzaBytes)
	resp.Close()
	switch {
	case errors.Is(err, errTooLarge):
		return nil, fmt.Errorf("%w: disco#info from %s", ErrTooLarge, to)
	case err != nil:
		if sctx.Err() != nil || connLost(err) {
			return nil, ErrDisconnected
		}
		return nil, fmt.Errorf("transport: disco#info from %s: %w", to, err)
	}
	if !sameJID(el.from, to, c.LocalJID()) {
		return nil, fmt.Errorf("%w: asked %s, answered by %q", ErrSpoofed, to, el.from)
	}
	if el.typ == "error" {
		c.st.queryErrors.Add(1)
		return nil, &StanzaError{JID: to, Node: node, Type: el.errType, Condition: el.errCond, Text: el.errText}
	}
	info, err := messages.ParseDiscoInfo(el.b)
	if err != nil {
		return nil, fmt.Errorf("transport: disco#info from %s: %w", to, err)
	}
	return info, nil
}

// connLost reports whether err is the connection failing under a query
// rather than the query failing: a write to a socket the server closed
// fails (broken pipe, reset) before the session's reader notices the end
// of the stream, and such a query must be sent again after the reconnect,
// not count as its announcer's failure.
func connLost(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// sameJID reports whether an answer's from matches the address asked.
// mellium blanks a from equal to our own bare JID.
func sameJID(from, asked, local string) bool {
	if from == asked {
		return true
	}
	fj, err1 := jid.Parse(from)
	aj, err2 := jid.Parse(asked)
	if err1 == nil && err2 == nil && fj.Equal(aj) {
		return true
	}
	if from == "" && err2 == nil {
		if lj, err := jid.Parse(local); err == nil {
			return aj.Bare().Equal(lj.Bare())
		}
	}
	return false
}
