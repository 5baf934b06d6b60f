package messages_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// Structured fuzzing. Byte-level mutation rarely turns a stanza into one
// that moves an element to another namespace while staying well-formed, yet
// that is where a namespace-aware decoder can be subtly wrong. mutateDoc
// applies XML-aware edits to a well-formed seed, driven by the fuzz input:
// redeclare or undeclare the default namespace, move an element behind a
// prefix (renaming its end tag), prefix an attribute, swap quotes, put
// literal whitespace or references into values and text, split text with
// comments, PIs and CDATA, wrap an element in an unknown one, duplicate an
// attribute, and, now and then, break the document.

var (
	tokenRE = regexp.MustCompile(`<[^>]*>|[^<]+`)
	attrRE  = regexp.MustCompile(`\s([\w:]+)=('[^']*'|"[^"]*")`)
)

type genTok struct {
	s    string
	mate int // for a start tag, the index of its end tag; -1 otherwise
}

func splitDoc(doc string) []genTok {
	var toks []genTok
	var stack []int
	for _, s := range tokenRE.FindAllString(doc, -1) {
		toks = append(toks, genTok{s: s, mate: -1})
		i := len(toks) - 1
		switch {
		case strings.HasPrefix(s, "</"):
			if len(stack) > 0 {
				toks[stack[len(stack)-1]].mate = i
				stack = stack[:len(stack)-1]
			}
		case strings.HasPrefix(s, "<?"), strings.HasPrefix(s, "<!"), strings.HasSuffix(s, "/>"):
		case strings.HasPrefix(s, "<"):
			stack = append(stack, i)
		}
	}
	return toks
}

func isStartTag(s string) bool {
	return strings.HasPrefix(s, "<") && !strings.HasPrefix(s, "</") &&
		!strings.HasPrefix(s, "<?") && !strings.HasPrefix(s, "<!")
}

// tagName returns the element name of a start or end tag.
func tagName(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "<"), "/")
	if i := strings.IndexAny(s, " \t\r\n/>"); i >= 0 {
		return s[:i]
	}
	return s
}

// addAttr inserts attr (with its leading space) at the end of a start tag.
func addAttr(tag, attr string) string {
	end := len(tag) - 1
	if strings.HasSuffix(tag, "/>") {
		end--
	}
	return tag[:end] + attr + tag[end:]
}

var genNamespaces = []string{"", messages.NSCaps, messages.NSCaps2, messages.NSHashes2, messages.NSMUCUser,
	messages.NSDiscoInfo, messages.NSDataForms, messages.NSClient, "urn:x",
	"http://www.w3.org/XML/1998/namespace", "jabber&#58;client", "http://jabber.org/protocol/caps\t"}

func genSeeds() []string {
	var seeds []string
	for _, p := range benchPresences {
		seeds = append(seeds, p.xml)
	}
	seeds = append(seeds, presenceSeeds[:12]...)
	seeds = append(seeds, discoSeeds...)
	vectors, _ := filepath.Glob(filepath.Join(vectorDir, "*.xml"))
	for _, name := range vectors {
		if b, err := os.ReadFile(name); err == nil {
			seeds = append(seeds, string(b))
		}
	}
	return seeds
}

func mutateDoc(seeds []string, prog []byte) []byte {
	next := func() int {
		if len(prog) == 0 {
			return 0
		}
		b := prog[0]
		prog = prog[1:]
		return int(b)
	}
	pick := func(list []string) string { return list[next()%len(list)] }
	toks := splitDoc(seeds[next()%len(seeds)])
	for len(prog) > 0 {
		op := next()
		i := next() % len(toks)
		t := &toks[i]
		start := isStartTag(t.s)
		text := !strings.HasPrefix(t.s, "<")
		switch op % 16 {
		case 0: // (re)declare or undeclare the default namespace
			if start {
				t.s = addAttr(t.s, " xmlns='"+pick(genNamespaces)+"'")
			}
		case 1: // move the element behind a prefix
			name := tagName(t.s)
			if start && !strings.Contains(name, ":") {
				p := pick([]string{"p", "q", "d", "xml", "xmlns"})
				t.s = "<" + p + ":" + t.s[1:]
				if next()&3 != 0 {
					t.s = addAttr(t.s, " xmlns:"+p+"='"+pick(genNamespaces)+"'")
				}
				if m := t.mate; m >= 0 && strings.HasPrefix(toks[m].s, "</") {
					toks[m].s = "</" + p + ":" + toks[m].s[2:]
				}
			}
		case 2: // prefix the first attribute
			if start {
				if j := strings.IndexAny(t.s, " \t\n"); j > 0 && j+1 < len(t.s) && t.s[j+1] != '/' && t.s[j+1] != '>' {
					t.s = t.s[:j+1] + pick([]string{"p:", "q:", "xml:", "xmlns:"}) + t.s[j+1:]
				}
			}
		case 3: // swap quotes
			if start && !strings.Contains(t.s, `"`) {
				t.s = strings.ReplaceAll(t.s, "'", `"`)
			}
		case 4: // whitespace or a reference into the first attribute value
			if start {
				if j := strings.IndexAny(t.s, `'"`); j > 0 {
					t.s = t.s[:j+1] + pick([]string{"\t", "\n", "\r\n", "\r", "&#9;", "&#xA;", "&#13;", "&amp;", "&lt;", " ", "&#xD800;", "&#x1F600;"}) + t.s[j+1:]
				}
			}
		case 5: // split text or put something into it
			if text && len(t.s) > 0 {
				j := next() % (len(t.s) + 1)
				for j > 0 && j < len(t.s) && t.s[j]&0xC0 == 0x80 {
					j-- // keep UTF-8 sequences whole
				}
				t.s = t.s[:j] + pick([]string{"<!---->", "<?pi x?>", "<![CDATA[]]>", "<![CDATA[&amp;\r\n]]>",
					"&amp;", "&#x41;", "\r\n", "\r", "]]>", "<x/>", "<c xmlns='urn:x'>t</c>"}) + t.s[j:]
			}
		case 6: // text between elements
			if !text {
				toks = append(toks[:i+1], append([]genTok{{s: pick([]string{" ", "\n", "x", "&#32;", "<!-- -->", "<?pi?>"}), mate: -1}}, toks[i+1:]...)...)
				for k := range toks {
					if toks[k].mate > i {
						toks[k].mate++
					}
				}
			}
		case 7: // wrap the element in an unknown one
			if start && t.mate >= 0 && i > 0 {
				m := t.mate
				toks[m].s += "</w>"
				t.s = "<w>" + t.s
			}
		case 8: // duplicate the first attribute, literally or through another prefix
			if start {
				if m := attrRE.FindStringSubmatch(t.s); m != nil {
					t.s = addAttr(t.s, " "+m[1]+"="+m[2])
				}
			}
		case 9: // xml:lang
			if start {
				t.s = addAttr(t.s, " xml:lang='"+pick([]string{"en", "", "de-CH"})+"'")
			}
		case 10: // a stray byte
			if len(t.s) > 0 {
				j := next() % len(t.s)
				t.s = t.s[:j] + string([]byte{byte(next())}) + t.s[j:]
			}
		case 11: // delete
			t.s = ""
		case 12: // a character reference for a text character
			if text && len(t.s) > 0 {
				j := next() % len(t.s)
				if t.s[j] < 0x80 && t.s[j] != '&' && t.s[j] != ';' {
					t.s = t.s[:j] + "&#" + strconv.Itoa(int(t.s[j])) + ";" + t.s[j+1:]
				}
			}
		case 13: // whitespace inside a tag
			if start || strings.HasPrefix(t.s, "</") {
				t.s = t.s[:len(t.s)-1] + pick([]string{" ", "\n", "\t", "\r\n"}) + t.s[len(t.s)-1:]
			}
		case 14: // a declaration bound on the element, used by nothing
			if start {
				t.s = addAttr(t.s, " xmlns:"+pick([]string{"p", "q", "c"})+"='"+pick(genNamespaces)+"'")
			}
		case 15: // an XML declaration or misc at the very start
			toks[0].s = pick([]string{"<?xml version='1.0'?>", "<!-- x -->", "\xEF\xBB\xBF", " "}) + toks[0].s
		}
	}
	var out []byte
	for _, t := range toks {
		out = append(out, t.s...)
	}
	return out
}

func FuzzStructuredPresence(f *testing.F) {
	seeds := genSeeds()
	for i := range seeds {
		f.Add([]byte{byte(i)})
		f.Add([]byte{byte(i), 0, 1, 1, 2})
		f.Add([]byte{byte(i), 1, 3, 0, 3})
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		b := mutateDoc(seeds, prog)
		want, wantErr := refPresence(b)
		got, err := messages.ParsePresence(b)
		if gc, wc := errClass(err), errClass(wantErr); gc != wc {
			t.Fatalf("input %q:\nfast:      %s %v\nreference: %s %v", b, gc, err, wc, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("input %q:\nfast:      %+v\nreference: %+v", b, show(got), show(want))
		}
	})
}

func FuzzStructuredDiscoInfo(f *testing.F) {
	seeds := genSeeds()
	for i := range seeds {
		f.Add([]byte{byte(i)})
		f.Add([]byte{byte(i), 0, 3, 1, 4})
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		b := mutateDoc(seeds, prog)
		want, wantErr := refDiscoInfo(b)
		got, err := messages.ParseDiscoInfo(b)
		if gc, wc := errClass(err), errClass(wantErr); gc != wc {
			t.Fatalf("input %q:\nfast:      %s %v\nreference: %s %v", b, gc, err, wc, wantErr)
		}
		if err == nil && !reflect.DeepEqual(normInfo(got), normInfo(want)) {
			t.Fatalf("input %q:\nfast:      %+v\nreference: %+v", b, got, want)
		}
		if err == nil {
			_, _ = hashing.Ver(hashing.SHA1, got)
		}
	})
}
