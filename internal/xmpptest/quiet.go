package xmpptest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// NoTLSPreamble is what a client-to-server listener for domain says first
// when it offers no STARTTLS: its stream header and a features list with
// SASL PLAIN only.
func NoTLSPreamble(domain string) string {
	return StreamHeader(domain) + "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" +
		"<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
}

// StreamHeader is a client-to-server stream header from domain.
func StreamHeader(domain string) string {
	return "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
		"xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='" + domain + "' version='1.0' xml:lang='en'>"
}

// QuietServer listens on 127.0.0.1, writes say to every connection it
// accepts and then neither answers nor closes it: a server that went
// quiet mid-login ("" says nothing at all). It reads and discards what
// the client writes, so that the client's writes never block. It returns
// the listening address; everything is closed when the test ends.
func QuietServer(t testing.TB, say string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if say != "" {
					_, _ = io.WriteString(c, say)
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
