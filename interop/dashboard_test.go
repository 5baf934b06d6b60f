package interop

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/capsengine/capsengine/internal/xmpptest"
)

// chromium finds Debian's Chromium; it skips t without one, or fails it
// under CI, where scripts/test installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "the dashboard test needs Chromium (apt-get install -y chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestDashboard drives the dashboard in headless Chromium against
// "capsengine observe" on a real Prosody with slixmpp peers: the page asks
// for the token, shows the peers' software and features, updates live
// when a new peer logs in (no reload), fits a phone's width, and is saved
// as a screenshot (go test -artifacts keeps it; CAPSENGINE_SCREENSHOT=FILE
// writes it there, as for the README's).
func TestDashboard(t *testing.T) {
	xmpptest.Require(t)
	browser := chromium(t)
	bin := buildCapsengine(t)
	srv := xmpptest.StartProsody(t, xmpptest.Options{})
	srv.Register(t, map[string]string{"watcher": "watcher-pw", "gajim": "g-pw", "conv": "c-pw", "dino": "d-pw"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir := t.TempDir()
	const token = "dashboard-test-token-0123456789"
	for name, content := range map[string]string{"pw": "watcher-pw", "token": token} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ob := startObserve(t, ctx, bin, "observe", "--jid", "watcher@localhost", "--password-file", filepath.Join(dir, "pw"),
		"--addr", srv.C2S, "--insecure-no-tls", "--accept-subscriptions", "--in-memory",
		"--http", "127.0.0.1:0", "--http-token-file", filepath.Join(dir, "token"), "--query-timeout", "8s")
	if ob == nil {
		return
	}
	api := ob.api

	software := func(name, version string) []xmpptest.FormSpec {
		return []xmpptest.FormSpec{{FormType: "urn:xmpp:dataforms:softwareinfo", Fields: []xmpptest.FieldSpec{
			{Var: "software", Values: []string{name}}, {Var: "software_version", Values: []string{version}}}}}
	}
	first := xmpptest.StartPeers(t, xmpptest.Slixmpp, srv, "watcher@localhost", []xmpptest.PeerSpec{
		{Name: "gajim", JID: "gajim@localhost", Password: "g-pw",
			Identities: []xmpptest.Identity{{Category: "client", Type: "pc", Name: "Gajim"}},
			Features:   []string{"urn:xmpp:jingle:1", "urn:xmpp:receipts"}, Forms: software("Gajim", "1.8.4")},
		{Name: "conv", JID: "conv@localhost", Password: "c-pw",
			Identities: []xmpptest.Identity{{Category: "client", Type: "phone", Name: "Conversations"}},
			Features:   []string{"urn:xmpp:jingle:1", "eu.siacs.conversations.axolotl.devicelist+notify"},
			Forms:      software("Conversations", "2.17.2")},
	})
	first.WaitAll(ctx, "ready", []string{"gajim", "conv"})
	first.Command(map[string]any{"cmd": "announce", "peer": "*"})
	first.WaitAll(ctx, "announced", []string{"gajim", "conv"})

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(1100, 1400))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	// The page asks for the token, and keeps it for its API calls and its
	// event stream.
	if err := chromedp.Do(bctx,
		chromedp.Navigate("http://"+api+"/"),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS("#login button")),
		chromedp.WaitVisible(chromedp.ID("main")),
		chromedp.WaitNotVisible(chromedp.ID("login")),
	); err != nil {
		t.Fatalf("login: %v", err)
	}
	pageText := func(sel string) string {
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// waitShown waits until sel's text holds every want and none of
	// unwanted: the page redraws asynchronously.
	waitShown := func(sel string, want, unwanted []string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			s := pageText(sel)
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(s, w)
			}
			for _, u := range unwanted {
				ok = ok && !strings.Contains(s, u)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s shows %q, want %q and not %q", sel, s, want, unwanted)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitText := func(sel string, want ...string) {
		t.Helper()
		waitShown(sel, want, nil)
	}
	waitText("#software tbody", "Gajim", "1.8.4", "Conversations", "2.17.2")
	waitText("#features tbody", "urn:xmpp:jingle:1", "eu.siacs.conversations.axolotl.devicelist+notify", "urn:xmpp:receipts")
	waitText("#live", "live")
	waitText("#c-online", "2")

	// Who supports jingle: a click on the feature lists both.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.Search(`//td[text()="urn:xmpp:jingle:1"]`))); err != nil {
		t.Fatal(err)
	}
	waitText("#who-list", "gajim@localhost", "conv@localhost")
	// The filter keeps matching features only.
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("feature-filter"), "axolotl")); err != nil {
		t.Fatal(err)
	}
	// The unfiltered table shows axolotl too: wait for the others to go.
	waitShown("#features tbody", []string{"axolotl"}, []string{"urn:xmpp:receipts", "urn:xmpp:jingle:1"})
	// Cleared, the filter shows every feature again.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => {
		const f = document.getElementById("feature-filter");
		f.value = "";
		return f.dispatchEvent(new Event("input"));
	})()`)); err != nil {
		t.Fatal(err)
	}
	waitText("#features tbody", "urn:xmpp:receipts")

	// A new peer logs in: the open page shows it without a reload.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[string](`window.__loaded = "yes"; window.__loaded`)); err != nil {
		t.Fatal(err)
	}
	late := xmpptest.StartPeers(t, xmpptest.Slixmpp, srv, "watcher@localhost", []xmpptest.PeerSpec{
		{Name: "dino", JID: "dino@localhost", Password: "d-pw",
			Identities: []xmpptest.Identity{{Category: "client", Type: "pc", Name: "Dino"}},
			Features:   []string{"urn:xmpp:jingle:1", "urn:xmpp:jingle:apps:rtp:1"}, Forms: software("Dino", "0.4.3")},
	})
	late.WaitAll(ctx, "ready", []string{"dino"})
	late.Command(map[string]any{"cmd": "announce", "peer": "*"})
	waitText("#events", "CapsResolved", "dino@localhost")
	waitText("#software tbody", "Dino", "0.4.3")
	waitText("#features tbody", "urn:xmpp:jingle:apps:rtp:1")
	waitText("#c-online", "3")
	if marker, err := chromedp.Run(bctx, chromedp.Evaluate[string](`window.__loaded || "reloaded"`)); err != nil || marker != "yes" {
		t.Errorf("the page reloaded (%q, %v): the update was not live", marker, err)
	}
	if histogramBars, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#latency .bar").length`)); err != nil || histogramBars < 10 {
		t.Errorf("latency histogram: %d bars (%v)", histogramBars, err)
	}
	waitText("#latency-summary", "keys resolved by a query")

	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	save := filepath.Join(t.ArtifactDir(), "dashboard.png")
	if p := os.Getenv("CAPSENGINE_SCREENSHOT"); p != "" {
		save = p
	}
	if err := os.WriteFile(save, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", save, len(shot))

	// On a phone's width nothing overflows sideways.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844), chromedp.Sleep(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	overflow, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Error("on a 390 px wide screen the page is wider than the screen")
	}
}
