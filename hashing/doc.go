// Package hashing computes and verifies entity capability hashes: the ver of
// XEP-0115 Entity Capabilities and the hashes of XEP-0390 Entity
// Capabilities 2.0, over the disco#info model in Info.
//
//	ver, err := hashing.Ver(hashing.SHA1, info)          // what we announce
//	key, err := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, announced)
//	how, err := hashing.Verify(key, answer, hashing.Options{}) // what a peer sent
//
// The package is a leaf: standard library and golang.org/x/crypto only, no
// goroutines, no clock, no logging. Every function is safe for concurrent
// use and none modifies or retains the Info it is given.
//
// # Conformance
//
// XEP-0115's string S is built literally: identities, features, forms,
// fields and values sorted in octet order field by field, character data
// written raw (no XML escaping), an identity's xml:lang taken only from that
// identity. A form whose FORM_TYPE is missing or not of type hidden is left
// out. XEP-0390's input is the 0x1f/0x1e/0x1d/0x1c encoding of §4.1 with
// every encoded string sorted as an octet string and every form included.
//
// Before hashing, every answer is checked against XEP-0115 §5.4: a duplicate
// identity, duplicate feature, duplicate FORM_TYPE or a FORM_TYPE field with
// differing values is an error (a *RuleError wrapping ErrDuplicateIdentity,
// ErrDuplicateFeature, ErrDuplicateFormType or ErrFormTypeMultipleValues),
// never a hash. Options admits two real-world deviations, off by default.
//
// # Algorithms
//
// XEP-0115 hashes use any Algorithm but MD5, which Verify still accepts for
// old peers. XEP-0390 hashes use sha-256, sha-512, sha3-256, sha3-512,
// blake2b-256 and blake2b-512.
//
// # Allocation
//
// AppendVer and AppendCaps2 build their input in the spare capacity of dst
// and keep their sort indices in pooled scratch space: a caller that reuses
// dst hashes without allocating. Verify does not allocate on success.
package hashing
