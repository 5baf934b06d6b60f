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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capsengine/capsengine/internal/freeport"
)

// Kind names an XMPP server implementation.
type Kind string

const (
	Prosody  Kind = "prosody"  // Prosody 0.12 (StartProsody)
	Ejabberd Kind = "ejabberd" // ejabberd 23.01 (StartEjabberd)
)

// Options configure StartProsody and StartEjabberd.
type Options struct {
	// TLS gives the server a fresh self-signed certificate for its domain
	// and offers STARTTLS (optional: peers may still log in in plaintext);
	// Server.ClientTLS trusts it. Prosody only.
	TLS bool
	// Privilege, when set, makes the external component a XEP-0356
	// privileged entity with this presence permission ("managed_entity",
	// "roster", or "none"): prosody-modules' mod_privilege on Prosody,
	// the built-in mod_privilege on ejabberd.
	Privilege string
}

// Server is one running XMPP server, Prosody or ejabberd, on 127.0.0.1:
// one virtual host, an external component, and plaintext logins allowed.
type Server struct {
	Kind            Kind
	Dir             string // configuration, data, log and pid files
	Domain          string // the virtual host: "localhost"
	C2S             string // client address, 127.0.0.1:port
	ComponentAddr   string // XEP-0114 address, 127.0.0.1:port
	Component       string // the external component's domain
	ComponentSecret string
	MUC             string // the MUC service's domain (Prosody only; "" on ejabberd)
	// ClientTLS trusts the server's certificate (Options.TLS), else nil.
	ClientTLS *tls.Config

	impl   backend
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// backend is what differs between servers.
type backend interface {
	// command is the server in the foreground, in Dir.
	command() *exec.Cmd
	// register creates accounts with the server's own tool.
	register(t testing.TB, accounts map[string]string)
	// logs are the server's log files, relative to Dir, for failures.
	logs() []string
}

// StartServer starts a server of kind (see StartProsody, StartEjabberd).
func StartServer(t testing.TB, kind Kind, opts Options) *Server {
	t.Helper()
	switch kind {
	case Prosody:
		return StartProsody(t, opts)
	case Ejabberd:
		return StartEjabberd(t, opts)
	}
	t.Fatalf("xmpptest: unknown server %q", kind)
	return nil
}

// Register creates accounts (user, password pairs): prosodyctl register
// on Prosody, ejabberdctl on ejabberd.
func (s *Server) Register(t testing.TB, accounts map[string]string) {
	t.Helper()
	s.impl.register(t, accounts)
}

// Start starts the server (again, after Kill) and waits until both its
// client and component ports accept connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		t.Fatalf("xmpptest: %s already running", s.Kind)
	}
	out, err := os.OpenFile(filepath.Join(s.Dir, string(s.Kind)+".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := s.impl.command()
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = out, out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true // Kill takes the whole group
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start %s: %v", s.Kind, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, addr := range []string{s.C2S, s.ComponentAddr} {
		if err := waitPort(ctx, addr, exited); err != nil {
			t.Fatalf("%s did not come up on %s: %v\n%s", s.Kind, addr, err, s.tail())
		}
	}
}

// Kill stops the server abruptly (SIGKILL to its process group), as a
// crash would, and waits for it to exit. Its data stays for the next
// Start.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// cleanup kills the server when the test ends, and shows its logs when
// the test failed.
func (s *Server) cleanup(t testing.TB) {
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("%s output:\n%s", s.Kind, s.tail())
		}
	})
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
			return errors.New("the server exited")
		case <-tick.C:
		}
	}
}

// tail is the end of the server's output and logs, for failure messages.
func (s *Server) tail() string {
	var b bytes.Buffer
	for _, f := range append([]string{string(s.Kind) + ".out"}, s.impl.logs()...) {
		data, _ := os.ReadFile(filepath.Join(s.Dir, f))
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", f, data)
	}
	return b.String()
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago, for a server in another process to bind.
func freeAddr(t testing.TB) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
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
