// Package messages holds the XMPP payloads capsengine acts on, as plain
// data, and their XML codec: presence stanzas with XEP-0115 and XEP-0390
// caps, and XEP-0030 disco#info answers (decoded into hashing.Info).
//
// Decoding presence is the engine's ingest hot path. A Decoder reads a raw
// stanza into a reusable PresenceView without allocating, and
// PresenceView.AppendKeys turns the announced hashes into cache keys, also
// without allocating:
//
//	var d messages.Decoder // one per goroutine
//	var v messages.PresenceView
//	keys := make([]hashing.Key, 0, 4)
//	for _, stanza := range stanzas {
//		if err := d.DecodePresence(stanza, &v); err != nil {
//			continue // malformed, over a limit, or not a presence: count and drop
//		}
//		var err error
//		keys, err = v.AppendKeys(keys[:0])
//		// keys: every hash announced that can be verified; err: the first
//		// that cannot (unknown algorithm, bad base64, ...), to be counted.
//	}
//
// ParsePresence and ParseDiscoInfo are the allocating, goroutine-safe
// conveniences; AppendPresence, AppendCaps, AppendCaps2 and AppendDiscoInfo
// encode.
//
// # Conformance
//
// Peer input is hostile, so the decoders accept exactly the documents a
// conforming XML 1.0 processor with Namespaces in XML 1.0 accepts, and
// nothing else. In particular they check UTF-8 and the Char production
// everywhere, reject undefined entities and references to illegal
// characters, match end tags, reject duplicate attributes (literal and by
// expanded name), undeclared prefixes and anything after the root element,
// and normalize attribute values and line ends as XML requires. Elements
// are identified by namespace and local name, never by prefix. Elements the
// decoder does not read are skipped, but checked just as strictly. A fuzz
// test holds the decoders to a reference built on encoding/xml.
//
// Deliberate differences from a general XML processor:
//
//   - A document type declaration is an error: XMPP forbids DTDs (RFC 6120
//     §11.1), and without one only the five predefined entities exist.
//   - Only UTF-8 is read: an XML declaration must say version 1.0 and, if
//     it names an encoding, UTF-8.
//   - Names follow the XML 1.0 fourth-edition character classes, as
//     encoding/xml does, not the wider fifth-edition ones.
//   - A stanza is decoded as a document on its own: prefixes declared on an
//     enclosing stream header are not in scope.
//
// A well-formed document with the wrong root yields ErrNotPresence (or
// ErrNotDiscoInfo); malformed input always yields a *SyntaxError, whatever
// its root.
//
// # Limits
//
// Every decode is bounded by Decoder.Limits: input size, element depth,
// attributes per element, namespace declarations in scope, and the number
// of caps2 hashes, identities, features, forms, fields and values. The
// scanner never recurses, and its memory is proportional to the input.
// Exceeding a limit is an error that matches ErrTooLarge, ErrTooDeep or
// ErrTooMany.
//
// # Lifetimes
//
// The slices of a PresenceView point into the decoded stanza or into the
// Decoder, and are valid until the next call on the same Decoder. Use
// PresenceView.Presence for a copy that owns its memory. A decoded
// hashing.Info always owns its memory.
//
// # Encoding
//
// The encoders write attribute values in single quotes and escape so that
// decoding gives back exactly what was encoded: tab, LF and CR in
// attributes and CR in text become character references. Strings XML 1.0
// cannot carry (invalid UTF-8, control characters other than tab, LF and
// CR, U+FFFE, U+FFFF) are written as U+FFFD, so the output is always
// well-formed; those strings alone do not round-trip.
package messages
