package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"

	"github.com/capsengine/capsengine/messages"
)

// Spec describes a workload: the presence stream and the documents behind
// its hashes. The same Spec always generates the same bytes.
type Spec struct {
	Seed      uint64 `json:"seed"`
	Presences int    `json:"presences"` // stanzas in the stream
	JIDs      int    `json:"jids"`      // distinct full JIDs
	Unique    int    `json:"unique"`    // distinct disco#info documents (caps keys)
	// Zipf is the exponent of client popularity: the client of rank k is
	// used by a share of JIDs proportional to 1/(k+1)^Zipf; 0 is uniform.
	Zipf float64 `json:"zipf"`
	// Unavailable is the share of all presences that are unavailable.
	// Every JID's first presence is available (the login burst), so the
	// share is taken from the presences after it.
	Unavailable float64 `json:"unavailable"`
	MUC         float64 `json:"muc"`   // share of JIDs that are MUC occupants (muc#user)
	Forms       float64 `json:"forms"` // share of documents with a XEP-0128 form
	Caps2       float64 `json:"caps2"` // share of documents also announced with a XEP-0390 sha-256 hash
}

// defaultSpec is the workload of a plain "capsengine bench".
func defaultSpec() Spec {
	return Spec{
		Seed:        1,
		Presences:   2_000_000,
		JIDs:        1_000_000,
		Unique:      10_000,
		Zipf:        1.1,
		Unavailable: 0.05,
		MUC:         0.1,
		Forms:       0.3,
		Caps2:       0.1,
	}
}

func (s *Spec) validate() error {
	switch {
	case s.Presences < 1:
		return errors.New("bench: presences must be at least 1")
	case s.JIDs < 1:
		return errors.New("bench: jids must be at least 1")
	case s.Unique < 1:
		return errors.New("bench: unique must be at least 1")
	case s.Zipf < 0 || math.IsNaN(s.Zipf):
		return errors.New("bench: zipf must be >= 0")
	}
	for _, v := range []struct {
		name string
		v    float64
	}{{"unavailable", s.Unavailable}, {"muc", s.MUC}, {"forms", s.Forms}, {"caps2", s.Caps2}} {
		if v.v < 0 || v.v > 1 || math.IsNaN(v.v) {
			return fmt.Errorf("bench: %s must be a share between 0 and 1", v.name)
		}
	}
	return nil
}

// observer is the to address of every generated presence: the entity
// (a server component or a crawler) that receives them.
const observer = "observer@bench.example/capsengine"

// writeWorkload writes the workload of s: the stanzas, one per line, to
// stanzas, and the honest disco#info answer for every node a stanza can
// be asked at, one <query/> per line, to answers (which may be nil).
//
// Each JID runs one client: all its available presences announce the same
// caps. The first JIDs presences bring every JID online once, in a
// shuffled order; the rest are drawn uniformly, and never name a JID seen
// in the last few thousand stanzas, so that workers taking consecutive
// chunks keep each JID's presences in order.
func writeWorkload(s Spec, stanzas, answers io.Writer) error {
	if err := s.validate(); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(s.Seed, 0x63617073656e67))
	clients, err := makeClients(r, s.Unique, s.Forms, s.Caps2)
	if err != nil {
		return err
	}
	if answers != nil {
		bw := bufio.NewWriterSize(answers, 64<<10)
		var buf []byte
		for i := range clients {
			buf = clients[i].appendAnswers(buf[:0])
			if _, err := bw.Write(buf); err != nil {
				return err
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	g := newGen(s, clients)
	bw := bufio.NewWriterSize(stanzas, 256<<10)
	buf := make([]byte, 0, 1024)
	for i := range s.Presences {
		buf = g.next(r, i, buf[:0])
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// gen is the stream's state while generating.
type gen struct {
	s       Spec
	clients []client
	cdf     []float64 // client popularity
	perm    uint64    // multiplier of the login-burst permutation
	off     uint64
	last    []int32 // stanza index of each JID's last presence, -1 none
	online  []bool
	gap     int
	pUnav   float64
}

func newGen(s Spec, clients []client) *gen {
	g := &gen{s: s, clients: clients}
	g.cdf = make([]float64, len(clients))
	sum := 0.0
	for k := range clients {
		sum += math.Pow(float64(k+1), -s.Zipf)
		g.cdf[k] = sum
	}
	for k := range g.cdf {
		g.cdf[k] /= sum
	}
	J := uint64(s.JIDs)
	g.perm = 1
	for a := J/2 + 1; a < J; a++ { // a multiplier coprime to J shuffles the burst
		if gcd(a, J) == 1 {
			g.perm = a
			break
		}
	}
	g.off = mix(s.Seed, 77) % J
	g.last = make([]int32, s.JIDs)
	for i := range g.last {
		g.last[i] = -1
	}
	g.online = make([]bool, s.JIDs)
	g.gap = min(8192, s.JIDs/4)
	if rest := s.Presences - min(s.Presences, s.JIDs); rest > 0 {
		// A JID that went offline comes back with its next presence, so
		// an online JID's presence must be unavailable with probability
		// p = r/(1-r) for a share r of the presences after the burst.
		r := s.Unavailable * float64(s.Presences) / float64(rest)
		g.pUnav = 1
		if r < 0.5 {
			g.pUnav = r / (1 - r)
		}
	}
	return g
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// mix is splitmix64 of seed and x: per-JID properties come from it, so
// they need no table.
func mix(seed, x uint64) uint64 {
	z := seed + (x+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// clientOf is the client JID j runs.
func (g *gen) clientOf(j int) int {
	u := unit(mix(g.s.Seed^0xc11e47, uint64(j)))
	k := sort.SearchFloat64s(g.cdf, u)
	return min(k, len(g.cdf)-1)
}

func (g *gen) isMUC(j int) bool { return unit(mix(g.s.Seed^0x3c, uint64(j))) < g.s.MUC }

func (g *gen) pick(r *rand.Rand, i int) int {
	J := g.s.JIDs
	if i < J {
		return int((uint64(i)*g.perm + g.off) % uint64(J))
	}
	j := 0
	for try := 0; try < 16; try++ {
		j = r.IntN(J)
		if int(g.last[j]) < i-g.gap {
			break
		}
	}
	return j
}

var (
	domains = []string{"jabber.org", "conversations.im", "jabber.de", "xmpp.jp", "jabber.ru",
		"404.city", "blabber.im", "snikket.example", "jabber.fr", "yax.im", "movim.eu",
		"jabberes.org", "trashserver.net", "jabber.cz", "xmpp.is", "disroot.org"}
	names = []string{"alice", "bob", "carol", "dave", "eve", "frank", "grace", "heidi", "ivan",
		"judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor",
		"walter", "juliet", "romeo", "benvolio", "mercutio", "tybalt", "nurse", "paris"}
	statuses = []string{"Available", "On the phone", "In a meeting until 3pm", "Zzz",
		"Working from home", "Tom & Jerry marathon", "Back in 5 minutes", "Café ☕ — brb",
		"https://example.org/blog", "Do not disturb: deploying"}
	shows = []string{"away", "chat", "dnd", "xa"}
)

const b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func appendB62(dst []byte, h uint64, n int) []byte {
	for range n {
		dst = append(dst, b62[h%62])
		h /= 62
	}
	return dst
}

// appendJID appends the full JID of JID j.
func (g *gen) appendJID(dst []byte, j int) []byte {
	h := mix(g.s.Seed^0x1d, uint64(j))
	name := names[h%uint64(len(names))]
	dom := domains[(h>>8)%uint64(len(domains))]
	if g.isMUC(j) {
		room := j % (g.s.JIDs/40 + 1)
		dst = append(dst, "room"...)
		dst = strconv.AppendInt(dst, int64(room), 10)
		dst = append(dst, "@conference."...)
		dst = append(dst, dom...)
		dst = append(dst, '/')
		dst = append(dst, name...)
		return strconv.AppendInt(dst, int64(j), 10)
	}
	dst = append(dst, name...)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(j), 10)
	dst = append(dst, '@')
	dst = append(dst, dom...)
	dst = append(dst, '/')
	f := &families[g.clients[g.clientOf(j)].fam]
	if f.res != "" {
		dst = append(dst, f.res...)
		return appendB62(dst, h>>16, 4)
	}
	return appendB62(dst, h>>16, 8)
}

// next appends the stanza at index i.
func (g *gen) next(r *rand.Rand, i int, dst []byte) []byte {
	j := g.pick(r, i)
	g.last[j] = int32(i)
	unavailable := i >= g.s.JIDs && g.online[j] && r.Float64() < g.pUnav
	g.online[j] = !unavailable

	dst = append(dst, "<presence from='"...)
	dst = g.appendJID(dst, j)
	dst = append(dst, "' to='"+observer+"' id='"...)
	dst = appendB62(dst, r.Uint64(), 10)
	dst = append(dst, '\'')
	if unavailable {
		if r.IntN(2) == 0 {
			return append(dst, " type='unavailable'/>"...)
		}
		return append(dst, " type='unavailable'><status>Logged out</status></presence>"...)
	}
	dst = append(dst, '>')
	if r.IntN(3) == 0 {
		dst = append(dst, "<show>"...)
		dst = append(dst, shows[r.IntN(len(shows))]...)
		dst = append(dst, "</show>"...)
	}
	if r.IntN(4) == 0 {
		dst = append(dst, "<status>"...)
		dst = appendEscapedText(dst, statuses[r.IntN(len(statuses))])
		dst = append(dst, "</status>"...)
	}
	dst = append(dst, "<priority>"...)
	dst = strconv.AppendInt(dst, int64(r.IntN(11)), 10)
	dst = append(dst, "</priority>"...)
	c := &g.clients[g.clientOf(j)]
	dst = messages.AppendCaps(dst, &messages.Caps{Hash: "sha-1", Node: c.node, Ver: c.ver})
	if c.caps2 != "" {
		dst = messages.AppendCaps2(dst, []messages.Hash{{Algo: "sha-256", Value: c.caps2}})
	}
	if g.isMUC(j) {
		dst = append(dst, "<x xmlns='"+messages.NSMUCUser+"'><item affiliation='none' role='participant'/></x>"...)
	}
	// Most clients advertise their avatar hash (XEP-0153).
	if h := mix(g.s.Seed^0xa7, uint64(j)); h%10 < 7 {
		dst = append(dst, "<x xmlns='vcard-temp:x:update'><photo>"...)
		for k := range 40 {
			dst = append(dst, "0123456789abcdef"[mix(h, uint64(k/16))>>(4*(k%16))&15])
		}
		dst = append(dst, "</photo></x>"...)
	}
	return append(dst, "</presence>"...)
}

func appendEscapedText(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			dst = append(dst, "&amp;"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
