package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/messages"
)

// family is one client program. Its releases, platforms and plugin sets
// give the distinct disco#info documents (and so the distinct hashes) of
// a workload.
type family struct {
	name  string // identity name and software
	node  string // XEP-0115 caps node
	typ   string // identity type
	res   string // resource prefix ("" for a random one)
	os    []string
	feats int // typical number of optional features
}

var families = []family{
	{"Gajim", "https://gajim.org", "pc", "gajim.", []string{"Linux", "Windows", "macOS"}, 34},
	{"Conversations", "http://conversations.im", "phone", "Conversations.", []string{"Android"}, 30},
	{"Dino", "https://dino.im", "pc", "dino.", []string{"Linux"}, 24},
	{"Psi", "https://psi-im.org", "pc", "Psi.", []string{"Linux", "Windows"}, 36},
	{"Psi+", "https://psi-plus.com", "pc", "psi-plus.", []string{"Linux", "Windows"}, 38},
	{"Monal", "http://monal.im/", "phone", "Monal-iOS.", []string{"iOS", "macOS"}, 26},
	{"Siskin IM", "https://siskin.im", "phone", "", []string{"iOS"}, 24},
	{"Beagle IM", "https://beagle.im", "pc", "", []string{"macOS"}, 26},
	{"Movim", "https://movim.eu/", "web", "movim", []string{"Linux"}, 22},
	{"Converse", "https://conversejs.org", "web", "converse.js-", []string{"Firefox", "Chrome"}, 20},
	{"Profanity", "http://profanity-im.github.io", "console", "profanity.", []string{"Linux", "FreeBSD"}, 22},
	{"Poezio", "https://poez.io", "console", "poezio-", []string{"Linux"}, 20},
	{"Pidgin", "http://pidgin.im/", "pc", "", []string{"Windows", "Linux"}, 18},
	{"Swift", "http://swift.im", "pc", "Swift.", []string{"Windows", "macOS"}, 16},
	{"Tkabber", "http://tkabber.jabber.ru/", "pc", "Tkabber.", []string{"Linux"}, 20},
	{"Cheogram", "https://cheogram.com", "phone", "Cheogram.", []string{"Android"}, 30},
	{"Blabber.im", "https://blabber.im", "phone", "blabber.", []string{"Android"}, 28},
	{"Kaidan", "https://kaidan.im", "phone", "kaidan.", []string{"Android", "Linux"}, 20},
	{"Miranda NG", "https://miranda-ng.org/caps", "pc", "Miranda.", []string{"Windows"}, 22},
	{"yaxim", "http://yaxim.org/", "phone", "yaxim.", []string{"Android"}, 14},
	{"Spark", "http://www.igniterealtime.org/projects/spark/caps", "pc", "Spark.", []string{"Windows", "Linux"}, 16},
	{"Jitsi", "http://jitsi.org", "pc", "jitsi-", []string{"Windows", "macOS", "Linux"}, 24},
	{"Smack", "https://igniterealtime.org/projects/smack", "bot", "Smack-", []string{"Linux"}, 12},
	{"Slixmpp", "https://slixmpp.readthedocs.io", "bot", "slixmpp-", []string{"Linux"}, 10},
	{"Snikket", "https://snikket.org/app/", "phone", "Snikket.", []string{"Android", "iOS"}, 28},
}

// coreFeatures are in every document.
var coreFeatures = []string{
	"http://jabber.org/protocol/caps",
	"http://jabber.org/protocol/disco#info",
	"http://jabber.org/protocol/disco#items",
	"jabber:iq:version",
	"urn:xmpp:ping",
}

// optionalFeatures are drawn per family and varied per release.
var optionalFeatures = []string{
	"http://jabber.org/protocol/muc", "http://jabber.org/protocol/chatstates",
	"urn:xmpp:receipts", "urn:xmpp:chat-markers:0", "urn:xmpp:time", "jabber:iq:last",
	"eu.siacs.conversations.axolotl.devicelist+notify", "urn:xmpp:avatar:metadata+notify",
	"http://jabber.org/protocol/nick+notify", "urn:xmpp:mam:2", "urn:xmpp:carbons:2",
	"urn:xmpp:message-correct:0", "urn:xmpp:jingle:1", "urn:xmpp:jingle:apps:rtp:1",
	"urn:xmpp:jingle:apps:rtp:audio", "urn:xmpp:jingle:apps:rtp:video",
	"urn:xmpp:jingle:transports:ice-udp:1", "urn:xmpp:jingle:transports:s5b:1",
	"urn:xmpp:jingle:transports:ibb:1", "urn:xmpp:jingle:apps:file-transfer:5",
	"http://jabber.org/protocol/si", "http://jabber.org/protocol/si/profile/file-transfer",
	"http://jabber.org/protocol/bytestreams", "http://jabber.org/protocol/ibb",
	"jabber:x:conference", "urn:xmpp:bookmarks:1+notify", "storage:bookmarks+notify",
	"http://jabber.org/protocol/mood+notify", "http://jabber.org/protocol/tune+notify",
	"http://jabber.org/protocol/activity+notify", "http://jabber.org/protocol/geoloc+notify",
	"urn:xmpp:omemo:2:devices+notify", "urn:xmpp:sid:0", "urn:xmpp:hints", "urn:xmpp:eme:0",
	"urn:xmpp:reactions:0", "urn:xmpp:message-retract:0", "urn:xmpp:message-moderate:0",
	"urn:xmpp:reply:0", "urn:xmpp:fallback:0", "urn:xmpp:sims:1", "urn:xmpp:bob",
	"urn:xmpp:jingle-message:0", "urn:xmpp:jingle:apps:dtls:0", "urn:xmpp:jingle:apps:rtp:rtcp-fb:0",
	"urn:xmpp:jingle:apps:rtp:rtp-hdrext:0", "urn:xmpp:jingle:apps:grouping:0",
	"jabber:iq:oob", "jabber:x:oob", "http://jabber.org/protocol/xhtml-im", "urn:xmpp:attention:0",
	"http://jabber.org/protocol/commands", "urn:xmpp:blocking", "urn:xmpp:idle:1",
	"urn:xmpp:avatar:data", "vcard-temp", "urn:xmpp:vcard4", "urn:xmpp:http:upload:0",
	"urn:xmpp:openpgp:0:public-keys+notify", "urn:xmpp:mds:displayed:0+notify",
	"http://jabber.org/protocol/rosterx", "urn:xmpp:styling:0", "urn:xmpp:spoiler:0",
	"urn:xmpp:message-attaching:1", "urn:xmpp:call-invites:0", "urn:xmpp:hashes:2",
	"urn:xmpp:hash-function-text-names:sha-256", "urn:xmpp:hash-function-text-names:sha3-256",
	"urn:xmpp:jingle:apps:rtp:ssma:0", "http://jabber.org/protocol/pubsub",
	"urn:xmpp:delay", "jabber:x:data", "urn:xmpp:forward:0", "urn:xmpp:sf:0",
	"urn:xmpp:privacy", "urn:xmpp:mucsub:0", "urn:xmpp:muclight:0", "urn:xmpp:vcard:avatar",
	"urn:xmpp:bookmarks-conversion:0", "urn:xmpp:x-data:validate", "urn:xmpp:extdisco:2",
	"http://jabber.org/protocol/ibb", "urn:xmpp:jingle:apps:xmlstream:0",
}

// client is one distinct disco#info document and what presences of its
// users announce.
type client struct {
	fam   int
	info  *hashing.Info
	node  string // XEP-0115 node
	ver   string // XEP-0115 sha-1 ver
	caps2 string // XEP-0390 sha-256 value, "" when the client does not announce one
}

// makeClients builds n distinct documents. A share forms of them carry a
// XEP-0128 software information form, a share caps2 also announce a
// XEP-0390 sha-256 hash.
func makeClients(r *rand.Rand, n int, forms, caps2 float64) ([]client, error) {
	opt := dedupe(optionalFeatures)
	// Each family's feature pool: its typical features and a few spares
	// that releases switch on and off.
	pools := make([][]string, len(families))
	for i, f := range families {
		perm := r.Perm(len(opt))
		k := min(f.feats+12, len(opt))
		for _, j := range perm[:k] {
			pools[i] = append(pools[i], opt[j])
		}
	}
	seen := make(map[string]bool, n)
	out := make([]client, 0, n)
	for tries := 0; len(out) < n; tries++ {
		if tries > 20*n+1000 {
			return nil, fmt.Errorf("bench: could not make %d distinct documents", n)
		}
		fi := r.IntN(len(families))
		f := &families[fi]
		info := &hashing.Info{}
		info.Identities = append(info.Identities, hashing.Identity{Category: "client", Type: f.typ, Name: f.name})
		if r.IntN(10) == 0 { // a localized second identity, as Psi and Gajim send
			info.Identities = append(info.Identities, hashing.Identity{Category: "client", Type: f.typ, Lang: "de", Name: f.name + " (Deutsch)"})
		}
		feats := append([]string(nil), coreFeatures...)
		pool := pools[fi]
		want := f.feats - 3 + r.IntN(7)
		for _, j := range r.Perm(len(pool)) {
			if len(feats)-len(coreFeatures) >= want {
				break
			}
			feats = append(feats, pool[j])
		}
		// Some clients announce PEP interest for every feature they parse.
		if r.IntN(3) == 0 {
			feats = append(feats, "urn:xmpp:microblog:0+notify")
		}
		r.Shuffle(len(feats), func(i, j int) { feats[i], feats[j] = feats[j], feats[i] })
		info.Features = feats
		version := fmt.Sprintf("%d.%d.%d", 1+r.IntN(3), r.IntN(20), r.IntN(12))
		if r.Float64() < forms {
			osName := f.os[r.IntN(len(f.os))]
			fields := []hashing.Field{
				{Var: "FORM_TYPE", Type: "hidden", Values: []string{"urn:xmpp:dataforms:softwareinfo"}},
				{Var: "os", Values: []string{osName}},
				{Var: "os_version", Values: []string{fmt.Sprintf("%d.%d", 1+r.IntN(15), r.IntN(10))}},
				{Var: "software", Values: []string{f.name}},
				{Var: "software_version", Values: []string{version}},
			}
			if r.IntN(4) == 0 {
				fields = append(fields, hashing.Field{Var: "ip_version", Type: "text-multi", Values: []string{"ipv4", "ipv6"}})
			}
			info.Forms = []hashing.Form{{Type: "result", Fields: fields}}
		}
		ver, err := hashing.Ver(hashing.SHA1, info)
		if err != nil {
			return nil, fmt.Errorf("bench: generated document: %w", err)
		}
		if seen[ver] {
			continue
		}
		seen[ver] = true
		c := client{fam: fi, info: info, node: f.node, ver: ver}
		if r.Float64() < caps2 {
			if c.caps2, err = hashing.Caps2(hashing.SHA256, info); err != nil {
				return nil, fmt.Errorf("bench: generated document: %w", err)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func dedupe(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// appendAnswers appends c's disco#info answers, one <query/> per line, one
// for every node c can be asked at.
func (c *client) appendAnswers(dst []byte) []byte {
	nodes := []string{hashing.CapsNode(c.node, c.ver)}
	if c.caps2 != "" {
		nodes = append(nodes, hashing.Caps2Node(hashing.SHA256, c.caps2))
	}
	for _, n := range nodes {
		in := *c.info
		in.Node = n
		dst = messages.AppendDiscoInfo(dst, &in)
		dst = append(dst, '\n')
	}
	return dst
}
