package xmpptest

import (
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// ejabberdctl is Debian's; /usr/sbin is not on every user's PATH.
func ejabberdctl() string {
	if p, err := exec.LookPath("ejabberdctl"); err == nil {
		return p
	}
	return "/usr/sbin/ejabberdctl"
}

// RequireEjabberd skips t when ejabberd or the peers' Python libraries
// are missing, or when ejabberdctl cannot run (it runs only as root or
// as the ejabberd user); it fails t instead when the CI environment
// variable is set.
func RequireEjabberd(t testing.TB) {
	t.Helper()
	var missing []string
	if _, err := os.Stat(ejabberdctl()); err != nil {
		missing = append(missing, "ejabberd")
	}
	if err := exec.Command(Python, "-c", "import slixmpp, aioxmpp").Run(); err != nil {
		missing = append(missing, "python3-slixmpp/python3-aioxmpp")
	}
	msg := ""
	if len(missing) != 0 {
		msg = fmt.Sprintf("interop test needs %s (apt-get install -y ejabberd python3-slixmpp python3-aioxmpp)",
			strings.Join(missing, ", "))
	} else if _, err := ejabberdCredential(); err != nil {
		msg = "ejabberd test: " + err.Error()
	}
	if msg == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// ejabberdCredential is whom ejabberdctl must run as: Debian's script
// runs only as the ejabberd user, or as root, which it turns into the
// ejabberd user through su (in a session of its own, out of reach of
// Kill). Run as root, the tests run it as the ejabberd user themselves;
// nil when they already are that user.
func ejabberdCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("ejabberd")
	if err != nil {
		return nil, fmt.Errorf("no ejabberd user: %v", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	switch os.Geteuid() {
	case int(uid):
		return nil, nil
	case 0:
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, fmt.Errorf("ejabberdctl runs only as root or as the ejabberd user, not as uid %d", os.Geteuid())
}

// ejabberd is the ejabberd backend of a Server.
type ejabberd struct {
	dir    string
	domain string
	node   string // Erlang node name, unique per server
	cred   *syscall.Credential
}

// StartEjabberd writes a configuration into a temporary directory, starts
// ejabberd in the foreground (ejabberdctl foreground) and waits until it
// accepts connections. It is killed when the test ends.
//
// The Erlang node has a name, a cookie and a distribution port of its own
// (ejabberdctl.cfg in Dir: ERL_DIST_PORT, so no epmd), and its own spool
// (Mnesia) and log directories: ejabberdctl reaches this instance only,
// and several can run at once. Dir is outside the test's temporary
// directory, which the ejabberd user could not enter, and removed at the
// end.
func StartEjabberd(t testing.TB, opts Options) *Server {
	t.Helper()
	RequireEjabberd(t)
	if opts.TLS {
		t.Fatal("xmpptest: Options.TLS is not implemented for ejabberd")
	}
	cred, err := ejabberdCredential()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "xmpptest-ejabberd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var rnd [12]byte
	_, _ = crand.Read(rnd[:])
	b := &ejabberd{dir: dir, domain: "localhost", node: "xmpptest-" + hex.EncodeToString(rnd[:4]) + "@localhost", cred: cred}
	s := &Server{
		Kind:            Ejabberd,
		Dir:             dir,
		Domain:          b.domain,
		C2S:             freeAddr(t),
		ComponentAddr:   freeAddr(t),
		Component:       "caps.localhost",
		ComponentSecret: "component-secret",
		impl:            b,
	}
	_, c2sPort, _ := net.SplitHostPort(s.C2S)
	_, compPort, _ := net.SplitHostPort(s.ComponentAddr)
	_, distPort, _ := net.SplitHostPort(freeAddr(t))
	privilege := ""
	switch opts.Privilege {
	case "":
	case "none":
		// "none" is ejabberd's ACL that matches nobody: with no permission
		// granted at all, ejabberd sends no advertisement.
		privilege = "  mod_privilege:\n    presence:\n      managed_entity: none\n"
	default:
		// caps_service: the access rule allowing the component's address
		// (the ACL of the same name, below).
		privilege = fmt.Sprintf("  mod_privilege:\n    presence:\n      %s: caps_service\n", opts.Privilege)
	}
	level := "info"
	if os.Getenv("XMPPTEST_EJABBERD_DEBUG") != "" {
		level = "debug"
	}
	conf := fmt.Sprintf(`# written by internal/xmpptest
loglevel: %s
log_rotate_count: 0
hosts:
  - %q
listen:
  -
    port: %s
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: false
  -
    port: %s
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts:
      %q:
        password: %q
auth_method: internal
auth_password_format: plain
acl:
  local:
    user_regexp: ""
  caps_service:
    server: %q
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  caps_service:
    allow: caps_service
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
modules:
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
%s`, level, s.Domain, c2sPort, compPort, s.Component, s.ComponentSecret, s.Component, privilege)
	ctl := fmt.Sprintf(`# written by internal/xmpptest
ERL_OPTIONS="-setcookie %s -kernel inet_dist_use_interface {127,0,0,1}"
ERL_DIST_PORT=%s
`, hex.EncodeToString(rnd[4:]), distPort)
	for _, d := range []string{"spool", "logs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{
		"ejabberd.yml":    conf,
		"ejabberdctl.cfg": ctl,
		"inetrc":          "", // Erlang reads $CONFIG_DIR/inetrc and complains when missing
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if cred != nil {
		err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, int(cred.Uid), int(cred.Gid))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s.cleanup(t)
	s.Start(t)
	return s
}

// ctl is ejabberdctl with this instance's configuration, node and
// directories, run as the ejabberd user.
func (b *ejabberd) ctl(args ...string) *exec.Cmd {
	cmd := exec.Command(ejabberdctl(), append([]string{
		"--config", filepath.Join(b.dir, "ejabberd.yml"),
		"--config-dir", b.dir,
		"--ctl-config", filepath.Join(b.dir, "ejabberdctl.cfg"),
		"--spool", filepath.Join(b.dir, "spool"),
		"--logs", filepath.Join(b.dir, "logs"),
		"--node", b.node,
	}, args...)...)
	cmd.Dir = b.dir
	cmd.Env = append(os.Environ(), "HOME="+b.dir) // Erlang wants a HOME the ejabberd user can write
	if b.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: b.cred}
	}
	return cmd
}

func (b *ejabberd) command() *exec.Cmd { return b.ctl("foreground") }

func (b *ejabberd) logs() []string { return []string{"logs/ejabberd.log", "logs/error.log"} }

// register imports every account at once from a XEP-0227 file
// (ejabberdctl import_piefxis): each ejabberdctl command starts an Erlang
// VM, about a second here, so one "ejabberdctl register" per account
// would take a minute for a hundred users. It then checks that every
// account exists (ejabberdctl registered_users).
func (b *ejabberd) register(t testing.TB, accounts map[string]string) {
	t.Helper()
	var x bytes.Buffer
	x.WriteString("<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='urn:xmpp:pie:0'>\n")
	fmt.Fprintf(&x, "  <host jid='%s'>\n", escape(b.domain))
	for user, pw := range accounts {
		fmt.Fprintf(&x, "    <user name='%s' password='%s'/>\n", escape(user), escape(pw))
	}
	x.WriteString("  </host>\n</server-data>\n")
	f, err := os.CreateTemp(b.dir, "accounts-*.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(x.Bytes()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := b.ctl("import_piefxis", f.Name()).CombinedOutput(); err != nil {
		t.Fatalf("ejabberdctl import_piefxis: %v\n%s", err, out)
	}
	out, err := b.ctl("registered_users", b.domain).CombinedOutput()
	if err != nil {
		t.Fatalf("ejabberdctl registered_users: %v\n%s", err, out)
	}
	have := map[string]bool{}
	for _, u := range strings.Fields(string(out)) {
		have[u] = true
	}
	for user := range accounts {
		if !have[user] {
			t.Fatalf("ejabberdctl import_piefxis did not register %s:\n%s", user, out)
		}
	}
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
