// Package capsfiles is the file layout capsdb (https://github.com/xnyhps/capsdb)
// and aioxmpp's entity caps cache keep disco#info documents in, one file a
// hash, named for its key:
//
//	hashes/<alg>_<quote(node#ver)>.xml         XEP-0115, one file per node seen
//	caps2/<quote(alg)>/ab/cd/<rest>.xml        XEP-0390; abcd<rest> is the
//	                                           digest in lower-case base32
//
// quote is Python's urllib.parse.quote(s, safe=""), which both projects
// name their files with. Path and Parse are each other's inverse; Quote
// is exported for callers that name files of their own the same way.
package capsfiles

import (
	"encoding/base32"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/capsengine/capsengine/hashing"
)

// The layout's two directories.
const (
	HashesDir = "hashes"
	Caps2Dir  = "caps2"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Path is where k's document lives, relative to the layout's root, with
// slashes. node is the XEP-0115 caps node the key was announced with;
// XEP-0390 keys ignore it.
func Path(k hashing.Key, node string) string {
	if k.Scheme == hashing.XEP0390 {
		enc := strings.ToLower(b32.EncodeToString(k.Digest()))
		return path.Join(Caps2Dir, Quote(k.Alg.String()), enc[:2], enc[2:4], enc[4:]+".xml")
	}
	return path.Join(HashesDir, Name(k, node))
}

// Name is the file name of a XEP-0115 key's document in hashes/, and of
// the files of a bare directory in that layout.
func Name(k hashing.Key, node string) string {
	return k.Alg.String() + "_" + Quote(hashing.CapsNode(node, k.Ver())) + ".xml"
}

// Parse decodes a path relative to the layout's root (with slashes or the
// system's separators) into its key and, for XEP-0115, the node.
func Parse(rel string) (hashing.Key, string, error) {
	parts := strings.Split(strings.ReplaceAll(rel, "\\", "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == HashesDir:
		return ParseName(parts[1])
	case len(parts) == 5 && parts[0] == Caps2Dir:
		k, err := parseCaps2(parts[1], parts[2:])
		return k, "", err
	}
	return hashing.Key{}, "", fmt.Errorf("%q is neither hashes/<alg>_<node#ver>.xml nor caps2/<alg>/ab/cd/<rest>.xml", rel)
}

// ParseName decodes a XEP-0115 file name, <alg>_<quote(node#ver)>.xml.
func ParseName(name string) (hashing.Key, string, error) {
	base, ok := strings.CutSuffix(name, ".xml")
	if !ok {
		return hashing.Key{}, "", fmt.Errorf("file name %q does not end in .xml", name)
	}
	algName, quoted, ok := strings.Cut(base, "_")
	if !ok {
		return hashing.Key{}, "", fmt.Errorf("file name %q is not <algo>_<node#ver>.xml", name)
	}
	nodever, err := url.PathUnescape(quoted)
	if err != nil {
		return hashing.Key{}, "", fmt.Errorf("file name %q: %v", name, err)
	}
	i := strings.LastIndexByte(nodever, '#')
	if i < 0 {
		return hashing.Key{}, "", fmt.Errorf("file name %q names no node#ver", name)
	}
	alg, err := hashing.ParseAlgorithm(algName)
	if err != nil {
		return hashing.Key{}, "", fmt.Errorf("file name %q: %w", name, err)
	}
	k, err := hashing.ParseKey(hashing.XEP0115, alg, nodever[i+1:])
	if err != nil {
		return hashing.Key{}, "", fmt.Errorf("file name %q: %w", name, err)
	}
	return k, nodever[:i], nil
}

// ParseCaps2 decodes a XEP-0390 document's path below caps2/: the quoted
// algorithm directory and the rest, ab/cd/<rest>.xml.
func ParseCaps2(quotedAlg, rest string) (hashing.Key, error) {
	return parseCaps2(quotedAlg, strings.Split(strings.ReplaceAll(rest, "\\", "/"), "/"))
}

func parseCaps2(quotedAlg string, parts []string) (hashing.Key, error) {
	algName, err := url.PathUnescape(quotedAlg)
	if err != nil {
		return hashing.Key{}, fmt.Errorf("caps2 algorithm directory %q: %v", quotedAlg, err)
	}
	alg, err := hashing.ParseAlgorithm(algName)
	if err != nil {
		return hashing.Key{}, fmt.Errorf("caps2 algorithm directory %q: %w", quotedAlg, err)
	}
	rest := strings.Join(parts, "/")
	if len(parts) != 3 || len(parts[0]) != 2 || len(parts[1]) != 2 || !strings.HasSuffix(parts[2], ".xml") {
		return hashing.Key{}, fmt.Errorf("caps2 path %q is not ab/cd/<rest>.xml", rest)
	}
	enc := parts[0] + parts[1] + strings.TrimSuffix(parts[2], ".xml")
	digest, err := b32.DecodeString(strings.ToUpper(enc))
	if err != nil {
		return hashing.Key{}, fmt.Errorf("caps2 path %q: %v", rest, err)
	}
	return hashing.NewKey(hashing.XEP0390, alg, digest)
}

// Quote is Python's urllib.parse.quote(s, safe=""): every byte but ASCII
// letters, digits and _.-~ as %XX.
func Quote(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == '-', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
