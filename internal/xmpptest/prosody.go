package xmpptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Python is the interpreter with Debian's python3-slixmpp and
// python3-aioxmpp: the system one, not a pyenv shim found on PATH.
const Python = "/usr/bin/python3"

// Require skips t when Prosody or the peers' Python libraries are missing,
// or fails it when the CI environment variable is set.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	for _, bin := range []string{"prosody", "prosodyctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if err := exec.Command(Python, "-c", "import slixmpp, aioxmpp").Run(); err != nil {
		missing = append(missing, "python3-slixmpp/python3-aioxmpp")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("interop test needs %s (apt-get install -y prosody python3-slixmpp python3-aioxmpp)",
		strings.Join(missing, ", "))
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// requirePrivilege skips t when prosody-modules' mod_privilege is not
// installed, or fails it when the CI environment variable is set.
func requirePrivilege(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(privilegeModule); err == nil {
		return
	}
	msg := "privileged-component test needs mod_privilege (apt-get install -y prosody-modules)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Options configure StartProsody.
type Options struct {
	// TLS gives the server a fresh self-signed certificate for its domain
	// and offers STARTTLS (optional: peers may still log in in plaintext);
	// Prosody.ClientTLS trusts it.
	TLS bool
	// Privilege, when set, loads prosody-modules' mod_privilege and makes
	// the external component a XEP-0356 privileged entity with this
	// presence permission ("managed_entity", "roster", or "none").
	Privilege string
}

// privilegeModule is where Debian's prosody-modules installs mod_privilege.
const privilegeModule = "/usr/lib/prosody/modules/mod_privilege/mod_privilege.lua"

// Prosody is one running Prosody server.
type Prosody struct {
	Dir             string // configuration, data, log and pid files
	Domain          string // the virtual host: "localhost"
	C2S             string // client address, 127.0.0.1:port
	ComponentAddr   string // XEP-0114 address, 127.0.0.1:port
	Component       string // the external component's domain
	ComponentSecret string
	MUC             string // the MUC service's domain
	// ClientTLS trusts the server's certificate (Options.TLS), else nil.
	ClientTLS *tls.Config

	config string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartProsody writes a configuration into a temporary directory, starts
// Prosody in the foreground and waits until it accepts connections. It is
// killed when the test ends.
func StartProsody(t testing.TB, opts Options) *Prosody {
	t.Helper()
	Require(t)
	if opts.Privilege != "" {
		requirePrivilege(t)
	}
	dir := t.TempDir()
	p := &Prosody{
		Dir:             dir,
		Domain:          "localhost",
		C2S:             freeAddr(t),
		ComponentAddr:   freeAddr(t),
		Component:       "caps.localhost",
		ComponentSecret: "component-secret",
		MUC:             "conference.localhost",
		config:          filepath.Join(dir, "prosody.cfg.lua"),
	}
	modules := `"roster"; "saslauth"; "disco"; "ping"; "presence"; "iq"; "message"`
	tlsConf := ""
	if opts.TLS {
		modules += `; "tls"`
		p.ClientTLS = writeCert(t, dir, p.Domain)
		tlsConf = fmt.Sprintf("ssl = { certificate = %q; key = %q; }\n",
			filepath.Join(dir, "certs", p.Domain+".crt"), filepath.Join(dir, "certs", p.Domain+".key"))
	}
	hostConf, compConf := "", ""
	if opts.Privilege != "" {
		modules += `; "privilege"`
		// The component must load it too, for its login to be seen.
		hostConf = fmt.Sprintf("  privileged_entities = { [%q] = { presence = %q; } }\n", p.Component, opts.Privilege)
		compConf = "  modules_enabled = { \"privilege\" }\n"
	}
	_, c2sPort, _ := net.SplitHostPort(p.C2S)
	_, compPort, _ := net.SplitHostPort(p.ComponentAddr)
	conf := fmt.Sprintf(`-- written by internal/xmpptest
pidfile = %q
data_path = %q
certificates = %q
run_as_root = true
log = { %s = %q; }
interfaces = { "127.0.0.1" }
c2s_ports = { %s }
c2s_interfaces = { "127.0.0.1" }
component_ports = { %s }
component_interfaces = { "127.0.0.1" }
s2s_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
modules_enabled = { %s }
modules_disabled = { "s2s"; "offline"; "pep"; "carbons"; "csi"; "smacks"; "limits" }
%s
VirtualHost %q
%s
Component %q "muc"
  restrict_room_creation = false
  muc_room_default_public = true
  muc_room_default_persistent = false
  muc_room_locking = false

Component %q
  component_secret = %q
%s`,
		filepath.Join(dir, "prosody.pid"), filepath.Join(dir, "data"), filepath.Join(dir, "certs"),
		logLevel(), filepath.Join(dir, "prosody.log"), c2sPort, compPort, modules, tlsConf,
		p.Domain, hostConf, p.MUC, p.Component, p.ComponentSecret, compConf)
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	p.Start(t)
	return p
}

// logLevel is Prosody's: debug with XMPPTEST_PROSODY_DEBUG set, else info.
func logLevel() string {
	if os.Getenv("XMPPTEST_PROSODY_DEBUG") != "" {
		return "debug"
	}
	return "info"
}

// Register creates accounts (user, password pairs) with prosodyctl.
func (p *Prosody) Register(t testing.TB, accounts map[string]string) {
	t.Helper()
	errs := make(chan error, len(accounts))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for user, pw := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out, err := exec.Command("prosodyctl", "--config", p.config, "register", user, p.Domain, pw).CombinedOutput()
			if err != nil {
				errs <- fmt.Errorf("prosodyctl register %s: %v\n%s", user, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Start starts the server (again, after Kill) and waits until both its
// client and component ports accept connections.
func (p *Prosody) Start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		t.Fatal("xmpptest: Prosody already running")
	}
	out, err := os.OpenFile(filepath.Join(p.Dir, "prosody.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("prosody", "--config", p.config, "-F") // -F: foreground
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start prosody: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, addr := range []string{p.C2S, p.ComponentAddr} {
		if err := waitPort(ctx, addr, exited); err != nil {
			t.Fatalf("prosody did not come up on %s: %v\n%s", addr, err, p.tail())
		}
	}
}

// Kill stops the server abruptly (SIGKILL), as a crash would, and waits
// for it to exit. Its data stays for the next Start.
func (p *Prosody) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
	p.cmd, p.exited = nil, nil
}

func waitPort(ctx context.Context, addr string, exited <-chan struct{}) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("prosody exited")
		case <-tick.C:
		}
	}
}

// tail is the end of the server's output and log, for failure messages.
func (p *Prosody) tail() string {
	var b bytes.Buffer
	for _, f := range []string{"prosody.out", "prosody.log"} {
		data, _ := os.ReadFile(filepath.Join(p.Dir, f))
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", f, data)
	}
	return b.String()
}

func (p *Prosody) dumpLog(t testing.TB) { t.Logf("prosody output:\n%s", p.tail()) }

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeCert writes a self-signed certificate for domain into dir/certs and
// returns a client configuration that trusts it.
func writeCert(t testing.TB, dir, domain string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: domain},
		DNSNames:              []string{domain},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(certs, domain+".crt"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, domain+".key"),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{RootCAs: pool, ServerName: domain, MinVersion: tls.VersionTLS12}
}
