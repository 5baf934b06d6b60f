package xmpptest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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

// privilegeModule is where Debian's prosody-modules installs mod_privilege.
const privilegeModule = "/usr/lib/prosody/modules/mod_privilege/mod_privilege.lua"

// StartProsody writes a configuration into a temporary directory, starts
// Prosody in the foreground and waits until it accepts connections. It is
// killed when the test ends.
func StartProsody(t testing.TB, opts Options) *Server {
	t.Helper()
	Require(t)
	if opts.Privilege != "" {
		requirePrivilege(t)
	}
	dir := t.TempDir()
	b := &prosody{config: filepath.Join(dir, "prosody.cfg.lua"), domain: "localhost"}
	p := &Server{
		Kind:            Prosody,
		Dir:             dir,
		Domain:          b.domain,
		C2S:             freeAddr(t),
		ComponentAddr:   freeAddr(t),
		Component:       "caps.localhost",
		ComponentSecret: "component-secret",
		MUC:             "conference.localhost",
		impl:            b,
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
	if err := os.WriteFile(b.config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cleanup(t)
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

// prosody is the Prosody backend of a Server.
type prosody struct {
	config string // prosody.cfg.lua
	domain string
}

func (b *prosody) command() *exec.Cmd {
	return exec.Command("prosody", "--config", b.config, "-F") // -F: foreground
}

func (b *prosody) logs() []string { return []string{"prosody.log"} }

// register runs prosodyctl register for each account.
func (b *prosody) register(t testing.TB, accounts map[string]string) {
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
			out, err := exec.Command("prosodyctl", "--config", b.config, "register", user, b.domain, pw).CombinedOutput()
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
