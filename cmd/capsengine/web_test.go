package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/transport"
)

// TestServeHTTPS serves the API as observe does with --http-cert,
// --http-key and --http-token-file: HTTPS with the token required, and
// /healthz open with --http-open-health.
func TestServeHTTPS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := writeTestCert(t, cert, key)
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := capsengine.QuerierFunc(func(context.Context, string, string) (*hashing.Info, error) { return nil, context.Canceled })
	eng, err := capsengine.Open(context.Background(), capsengine.Config{InMemory: true, Querier: q})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	var logs bytes.Buffer
	w := webFlags{addr: "127.0.0.1:0", tokenFile: token, cert: cert, key: key, openHealth: true, maxStreams: 4, maxWaiters: 4}
	if err := w.check(); err != nil {
		t.Fatal(err)
	}
	shutdown, err := w.serve(eng, &transport.Conn{}, false, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown()
	m := regexp.MustCompile(`http: listening on ([0-9.:]+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no address in %s", logs.String())
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for path, want := range map[string]int{"/stats": 401, "/healthz": 503 /* open, and not connected */} {
		resp, err := client.Get("https://" + m[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s without the token: %d, want %d", path, resp.StatusCode, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "https://"+m[1]+"/stats", nil)
	req.Header.Set("Authorization", "Bearer 0123456789abcdef0123")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/stats with the token: %d", resp.StatusCode)
	}
	// Plain HTTP to the TLS port is refused by the TLS server.
	if resp, err := http.Get("http://" + m[1] + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 || resp.StatusCode == 503 {
			t.Errorf("plain HTTP to the HTTPS port answered %d", resp.StatusCode)
		}
	}
}

// writeTestCert writes a self-signed certificate for 127.0.0.1 and
// returns a pool that trusts it.
func writeTestCert(t *testing.T, certPath, keyPath string) *x509.CertPool {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "capsengine test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return pool
}
