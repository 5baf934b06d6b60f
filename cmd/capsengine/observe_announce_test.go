package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// announced is what a peer learns of observe: the caps in its presence,
// and the disco#info it answers for node#ver.
type announced struct {
	node, ver, hash string
	info            *hashing.Info
}

// componentPeer is the server end of one XEP-0114 connection on a real
// socket: it accepts observe as a component, waits for the presence
// observe sends a --probe contact, and asks for node#ver as that contact
// would.
func componentPeer(ln net.Listener) (*announced, error) {
	c, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(observeBound))
	d := xml.NewDecoder(c)
	next := func() (xml.StartElement, error) {
		for {
			tok, err := d.Token()
			if err != nil {
				return xml.StartElement{}, err
			}
			if se, ok := tok.(xml.StartElement); ok {
				return se, nil
			}
		}
	}
	if _, err := next(); err != nil { // <stream:stream>
		return nil, err
	}
	if _, err := io.WriteString(c, "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "+
		"xmlns='jabber:component:accept' from='caps.example.org' id='s1'>"); err != nil {
		return nil, err
	}
	if se, err := next(); err != nil || se.Name.Local != "handshake" {
		return nil, fmt.Errorf("want <handshake/>, got %v, %v", se.Name, err)
	}
	if err := d.Skip(); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, "<handshake/>"); err != nil {
		return nil, err
	}
	var a announced
	for a.ver == "" {
		se, err := next()
		if err != nil {
			return nil, err
		}
		var p struct {
			Type string `xml:"type,attr"`
			C    *struct {
				Node string `xml:"node,attr"`
				Ver  string `xml:"ver,attr"`
				Hash string `xml:"hash,attr"`
			} `xml:"http://jabber.org/protocol/caps c"`
		}
		if err := d.DecodeElement(&p, &se); err != nil {
			return nil, err
		}
		if se.Name.Local == "presence" && p.Type == "" && p.C != nil {
			a.node, a.ver, a.hash = p.C.Node, p.C.Ver, p.C.Hash
		}
	}
	if _, err := fmt.Fprintf(c, "<iq type='get' id='q1' from='juliet@example.org/balcony' to='caps.example.org'>"+
		"<query xmlns='%s' node='%s#%s'/></iq>", messages.NSDiscoInfo, xmlAttr(a.node), xmlAttr(a.ver)); err != nil {
		return nil, err
	}
	for {
		se, err := next()
		if err != nil {
			return nil, err
		}
		var iq struct {
			ID    string `xml:"id,attr"`
			Type  string `xml:"type,attr"`
			Inner []byte `xml:",innerxml"`
		}
		if err := d.DecodeElement(&iq, &se); err != nil {
			return nil, err
		}
		if se.Name.Local != "iq" || iq.ID != "q1" {
			continue
		}
		if iq.Type != "result" {
			return nil, fmt.Errorf("disco#info answered with type %q: %s", iq.Type, iq.Inner)
		}
		if a.info, err = messages.ParseDiscoInfo(iq.Inner); err != nil {
			return nil, fmt.Errorf("disco#info answer %s: %w", iq.Inner, err)
		}
		return &a, nil
	}
}

func xmlAttr(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), "'", "&#39;")
}

// TestObserveAnnounce: --node and --identity are what observe announces
// (the node of its presence's <c/>, the identity of its disco#info), the
// defaults name the project, and the ver it announces is the hash of the
// disco#info it answers.
func TestObserveAnnounce(t *testing.T) {
	t.Setenv("CAPSENGINE_COMPONENT_SECRET", "")
	for _, tc := range []struct {
		name     string
		flags    []string
		wantNode string
		wantID   hashing.Identity
	}{
		{"defaults", nil, "https://github.com/capsengine/capsengine",
			hashing.Identity{Category: "component", Type: "generic", Name: "capsengine"}},
		{"node and identity", []string{"--node", "https://example.org/crawler", "--identity", "client/bot/Example Crawler / 2 <&>"},
			"https://example.org/crawler", hashing.Identity{Category: "client", Type: "bot", Name: "Example Crawler / 2 <&>"}},
		{"identity without a name", []string{"--node", "urn:example:caps", "--identity", "automation/command-list"},
			"urn:example:caps", hashing.Identity{Category: "automation", Type: "command-list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type result struct {
				a   *announced
				err error
			}
			peer := make(chan result, 1)
			go func() {
				a, err := componentPeer(ln)
				peer <- result{a, err}
			}()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errBuf := newSyncBuffer()
			observed := make(chan int, 1)
			go func() {
				args := append([]string{"observe", "--jid", "caps.example.org", "--component-secret", "s", "--addr", ln.Addr().String(),
					"--probe", "juliet@example.org", "--in-memory", "--timeout", "60s"}, tc.flags...)
				observed <- run(ctx, args, strings.NewReader(""), io.Discard, errBuf)
			}()
			var r result
			select {
			case r = <-peer:
			case code := <-observed:
				t.Fatalf("observe exited %d before the peer got its answer:\n%s", code, errBuf.String())
			}
			cancel()
			select {
			case <-observed:
			case <-time.After(observeBound):
				t.Fatalf("observe still running %v after its context ended:\n%s", observeBound, errBuf.String())
			}
			errOut := errBuf.String()
			if r.err != nil {
				t.Fatalf("peer: %v\nobserve:\n%s", r.err, errOut)
			}
			a := r.a
			if a.node != tc.wantNode || a.hash != "sha-1" {
				t.Errorf("presence <c/>: node %q hash %q, want node %q hash sha-1", a.node, a.hash, tc.wantNode)
			}
			if len(a.info.Identities) != 1 || a.info.Identities[0] != tc.wantID {
				t.Errorf("disco#info identities %+v, want [%+v]", a.info.Identities, tc.wantID)
			}
			if ver, err := hashing.Ver(hashing.SHA1, a.info); err != nil || ver != a.ver {
				t.Errorf("disco#info hashes to %q (%v), announced %q", ver, err, a.ver)
			}
			if !strings.Contains(errOut, "node="+tc.wantNode) {
				t.Errorf("observe did not log the node it announces:\n%s", errOut)
			}
		})
	}
}
