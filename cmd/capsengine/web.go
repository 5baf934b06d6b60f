package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/httpapi"
	"github.com/capsengine/capsengine/transport"
)

// webFlags are observe's HTTP API flags.
type webFlags struct {
	addr, tokenFile, cert, key string
	openHealth                 bool
	maxStreams, maxWaiters     int

	// Set by check: the address to listen on and the token read.
	listen string
	token  []byte
}

func (w *webFlags) flags(f *pflag.FlagSet) {
	f.StringVar(&w.addr, "http", "", "serve the HTTP API and dashboard on this address (host:port; no host: 127.0.0.1)")
	f.StringVar(&w.tokenFile, "http-token-file", "", "bearer token every HTTP request must carry (first line of the file; required off loopback)")
	f.BoolVar(&w.openHealth, "http-open-health", false, "serve /healthz and /metrics without the token (for probes and scrapers)")
	f.StringVar(&w.cert, "http-cert", "", "serve HTTPS with this certificate (PEM; with --http-key)")
	f.StringVar(&w.key, "http-key", "", "the certificate's private key (PEM)")
	f.IntVar(&w.maxStreams, "http-max-streams", 256, "most /events clients at once; more get 503")
	f.IntVar(&w.maxWaiters, "http-max-waiters", 1024, "most GET /caps?wait requests at once; more get 503")
}

// minToken is the shortest token accepted: a token is the only thing
// between the network and the server's user list.
const minToken = 16

// check validates the flags before anything starts, so that a usage
// error is found before the engine opens its store, and keeps what serve
// needs (listen, token).
func (w *webFlags) check() error {
	addr, token, err := w.resolve()
	w.listen, w.token = addr, token
	return err
}

func (w *webFlags) resolve() (addr string, token []byte, err error) {
	if w.addr == "" {
		if w.tokenFile != "" || w.cert != "" || w.key != "" || w.openHealth {
			return "", nil, errors.New("--http-token-file, --http-cert, --http-key and --http-open-health need --http")
		}
		return "", nil, nil
	}
	if (w.cert == "") != (w.key == "") {
		return "", nil, errors.New("--http-cert and --http-key go together")
	}
	if w.maxStreams < 1 || w.maxWaiters < 1 {
		return "", nil, errors.New("--http-max-streams and --http-max-waiters must be positive")
	}
	addr, loopback, err := listenAddr(w.addr)
	if err != nil {
		return "", nil, err
	}
	if w.tokenFile != "" {
		b, err := os.ReadFile(w.tokenFile)
		if err != nil {
			return "", nil, fmt.Errorf("--http-token-file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		token = []byte(strings.TrimSpace(line))
		if len(token) < minToken {
			return "", nil, fmt.Errorf("--http-token-file: the token is %d bytes; it needs at least %d (e.g. openssl rand -hex 32)", len(token), minToken)
		}
	}
	if !loopback && token == nil {
		return "", nil, fmt.Errorf("--http %s listens beyond this machine: give --http-token-file (or bind to 127.0.0.1)", w.addr)
	}
	return addr, token, nil
}

// listenAddr completes an --http address: no host means loopback, never
// every interface. loopback says the address is reachable from this
// machine only.
func listenAddr(a string) (addr string, loopback bool, err error) {
	if !strings.Contains(a, ":") {
		a = ":" + a // a bare port
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", false, fmt.Errorf("--http %s: %w", a, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil {
		loopback = ip.IsLoopback()
	} else {
		loopback = host == "localhost"
	}
	return net.JoinHostPort(host, port), loopback, nil
}

// serve starts the API and returns its shutdown. check must have passed.
func (w *webFlags) serve(eng *capsengine.Engine, conn *transport.Conn, privileged bool, logger *slog.Logger) (func(), error) {
	token := w.token
	ln, err := net.Listen("tcp", w.listen)
	if err != nil {
		return nil, fmt.Errorf("--http: %w", err)
	}
	api := httpapi.New(eng, httpapi.Options{
		Token:      token,
		OpenHealth: w.openHealth,
		MaxStreams: w.maxStreams,
		MaxWaiters: w.maxWaiters,
		Health: func() error {
			if !conn.Connected() {
				return errors.New("not connected to the XMPP server")
			}
			return nil
		},
		HealthDetails: func(h *httpapi.Health) {
			if !privileged {
				return
			}
			p, ok := conn.Privileges()
			if ok {
				h.Privileges = p
			}
			h.Warnings = privilegeWarnings(p, ok)
		},
		Collectors: []prometheus.Collector{
			httpapi.CountersCollector("capsengine", "transport", "XMPP transport counter",
				func() map[string]uint64 { return conn.Stats().Map() }),
		},
		Logger: logger,
	})
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		// Every request is a short GET: its header is all it sends.
		MaxHeaderBytes: 16 << 10,
		IdleTimeout:    2 * time.Minute,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	scheme := "http"
	if w.cert != "" {
		scheme = "https"
	}
	logger.Info("http: listening on "+ln.Addr().String(), "scheme", scheme, "token", token != nil)
	go func() {
		var err error
		if w.cert != "" {
			err = srv.ServeTLS(ln, w.cert, w.key)
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http", "err", err)
		}
	}()
	return func() {
		api.Close() // ends event streams, which Shutdown would wait for
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}, nil
}
