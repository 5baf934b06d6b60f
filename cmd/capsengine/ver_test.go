package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

type verLine struct {
	File    string                          `json:"file"`
	XEP0115 map[string]string               `json:"xep0115"`
	XEP0390 map[string]string               `json:"xep0390"`
	Error   *struct{ Rule, Message string } `json:"error"`
}

func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func parseLines(t *testing.T, out string) []verLine {
	t.Helper()
	var lines []verLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var v verLine
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		lines = append(lines, v)
	}
	return lines
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerJSON(t *testing.T) {
	code, out, errOut := runCmd(t, "", "ver", "--json",
		"../../examples/exodus.xml", "../../examples/psi.xml")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := parseLines(t, out)
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %q", len(lines), out)
	}
	for i, want := range []string{"QgayPKawpkPSDYmwT/WM94uAlu0=", "q07IKJEyjvHSyhy//CH0CxmKi8w="} {
		if got := lines[i].XEP0115["sha-1"]; got != want {
			t.Errorf("line %d sha-1 = %q, want %q", i, got, want)
		}
		if lines[i].Error != nil {
			t.Errorf("line %d error = %+v", i, lines[i].Error)
		}
	}
	// The contract's key order: file, xep0115, xep0390, error.
	if !strings.HasPrefix(out, `{"file":"../../examples/exodus.xml","xep0115":{"sha-1":"QgayPKawpkPSDYmwT/WM94uAlu0="},"xep0390":{},"error":null}`) {
		t.Errorf("first line = %q", strings.SplitN(out, "\n", 2)[0])
	}
}

func TestVerCaps2(t *testing.T) {
	code, out, _ := runCmd(t, "", "ver", "--json", "--hash", "sha-1", "--caps2", "sha-256", "--caps2", "sha3-256", "../../examples/tkabber.xml")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	l := parseLines(t, out)[0]
	if l.XEP0390["sha-256"] != "u79ZroNJbdSWhdSp311mddz44oHHPsEBntQ5b1jqBSY=" ||
		l.XEP0390["sha3-256"] != "XpUJzLAc93258sMECZ3FJpebkzuyNXDzRNwQog8eycg=" {
		t.Errorf("xep0390 = %v", l.XEP0390)
	}
	if l.XEP0115["sha-1"] == "" {
		t.Errorf("xep0115 = %v, want a sha-1", l.XEP0115)
	}
}

func TestVerRules(t *testing.T) {
	for _, tc := range []struct {
		name, content, rule string
	}{
		{"duplicate-feature", `<query xmlns='http://jabber.org/protocol/disco#info'><feature var='a'/><feature var='a'/></query>`, "duplicate-feature"},
		{"duplicate-identity", `<query xmlns='http://jabber.org/protocol/disco#info'><identity category='c' type='t'/><identity category='c' type='t'/></query>`, "duplicate-identity"},
		{"duplicate-form-type", `<query xmlns='http://jabber.org/protocol/disco#info'>` +
			`<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>u</value></field></x>` +
			`<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>u</value></field></x></query>`, "duplicate-form-type"},
		{"form-type-multiple-values", `<query xmlns='http://jabber.org/protocol/disco#info'>` +
			`<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>u</value><value>v</value></field></x></query>`, "form-type-multiple-values"},
		{"not xml", "this is not xml", "malformed"},
		{"unclosed", `<query xmlns='http://jabber.org/protocol/disco#info'><feature var='a'/>`, "malformed"},
		{"wrong namespace", `<query xmlns='jabber:iq:version'><feature var='a'/></query>`, "malformed"},
		{"empty", "", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, "in.xml", tc.content)
			code, out, _ := runCmd(t, "", "ver", "--json", p)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			l := parseLines(t, out)[0]
			if l.Error == nil || l.Error.Rule != tc.rule || l.Error.Message == "" {
				t.Fatalf("error = %+v, want rule %q", l.Error, tc.rule)
			}
			if l.XEP0115 != nil || l.XEP0390 != nil || !strings.Contains(out, `"xep0115":null,"xep0390":null`) {
				t.Errorf("hashes present on error: %q", out)
			}
		})
	}
}

func TestVerMixedAndStdin(t *testing.T) {
	bad := writeTemp(t, "bad.xml", "<nope/>")
	exodus, _ := os.ReadFile("../../examples/exodus.xml")
	code, out, _ := runCmd(t, string(exodus), "ver", "--json", bad, "-", "/does/not/exist.xml")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	lines := parseLines(t, out)
	if len(lines) != 3 || lines[0].Error == nil || lines[1].XEP0115["sha-1"] != "QgayPKawpkPSDYmwT/WM94uAlu0=" ||
		lines[2].Error == nil || lines[2].Error.Rule != "unreadable" || lines[1].File != "-" {
		t.Errorf("lines = %+v", lines)
	}
}

func TestVerText(t *testing.T) {
	code, out, _ := runCmd(t, "", "ver", "--hash", "sha-1", "--hash", "sha-256", "../../examples/exodus.xml")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] != "../../examples/exodus.xml sha-1 QgayPKawpkPSDYmwT/WM94uAlu0= (XEP-0115 ver)" ||
		!strings.HasPrefix(lines[1], "../../examples/exodus.xml sha-256 ") {
		t.Errorf("out = %q", out)
	}
	code, out, errOut := runCmd(t, "", "ver", "../../examples/broken-duplicate.xml")
	if code != 1 || out != "" || !strings.Contains(errOut, "duplicate-feature") {
		t.Errorf("broken: exit %d, out %q, err %q", code, out, errOut)
	}
}

func TestVerUsage(t *testing.T) {
	for _, args := range [][]string{
		{"ver"},
		{"ver", "--hash", "sha-0", "x.xml"},
		{"ver", "--hash", "md5", "x.xml"},
		{"ver", "--caps2", "sha-1", "x.xml"},
		{"ver", "--bogus", "x.xml"},
	} {
		code, _, errOut := runCmd(t, "", args...)
		if code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
	code, out, _ := runCmd(t, "", "ver", "--help")
	if code != 0 || !strings.Contains(out, "duplicate-form-type") || !strings.Contains(out, "Exit status") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
}

func TestVerTooLarge(t *testing.T) {
	p := writeTemp(t, "big.xml", "<query xmlns='http://jabber.org/protocol/disco#info'>"+strings.Repeat("<feature var='x'/>", 100)+"</query>")
	code, out, _ := runCmd(t, "", "ver", "--json", "--max-size", "100", p)
	if code != 1 || !strings.Contains(out, `"rule":"malformed"`) {
		t.Errorf("exit %d, %q", code, out)
	}
}

// TestVerXEPLabels: text output says which XEP each hash belongs to; the
// first three fields stay FILE ALG VALUE.
func TestVerXEPLabels(t *testing.T) {
	code, out, _ := runCmd(t, "", "ver", "--hash", "sha-1", "--caps2", "sha-256", "../../examples/tkabber.xml")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %q, want two lines", out)
	}
	for i, want := range []string{
		"../../examples/tkabber.xml sha-1 ",
		"../../examples/tkabber.xml sha-256 u79ZroNJbdSWhdSp311mddz44oHHPsEBntQ5b1jqBSY= (XEP-0390 caps2)",
	} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d: got %q, want it to start with %q", i, lines[i], want)
		}
	}
	if !strings.HasSuffix(lines[0], " (XEP-0115 ver)") {
		t.Errorf("line 0: got %q, want it labelled XEP-0115", lines[0])
	}
}

// TestVerEscapesNames: a file name with control characters is printed
// quoted, so it cannot drive the terminal.
func TestVerEscapesNames(t *testing.T) {
	exodus, err := os.ReadFile("../../examples/exodus.xml")
	if err != nil {
		t.Fatal(err)
	}
	name := "evil\x1b[2J\rname.xml"
	p := writeTemp(t, name, string(exodus))
	bad := writeTemp(t, "bad\x07.xml", "not xml")
	_, out, errOut := runCmd(t, "", "ver", p, bad)
	if strings.ContainsAny(out+errOut, "\x1b\r\x07") {
		t.Errorf("control characters printed raw: %q %q", out, errOut)
	}
	if want := strconv.Quote(p) + " sha-1 QgayPKawpkPSDYmwT/WM94uAlu0= (XEP-0115 ver)\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if !strings.Contains(errOut, strconv.Quote(bad)+": malformed: ") {
		t.Errorf("stderr %q does not name %s quoted", errOut, strconv.Quote(bad))
	}
	// JSON escapes them itself, and keeps the name exact.
	_, out, _ = runCmd(t, "", "ver", "--json", p)
	if l := parseLines(t, out)[0]; l.File != p {
		t.Errorf("JSON file = %q, want %q", l.File, p)
	}
}
