// Package seed is the trusted seed shipped with capsengine: the disco#info
// answers of the capsdb corpus (1,611 answers of real clients collected by
// the capsdb project, released under CC0: COPYING.txt), compressed into
// the binary. "capsengine db seed" verifies them into a trusted store, so
// that a fresh install resolves the clients they cover without asking
// anyone, and so that nobody can answer for those vers with a forged
// disco#info that hashes alike (capsdb's own reason to exist: SHA-1
// preimages).
//
// The corpus is old as well as wide: it is a floor, not a replacement for
// a store filled by the engine. Refresh it by replacing capsdb.json.gz
// with a newer capsdb db.json, gzipped.
package seed

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"

	"github.com/capsengine/capsengine/capsfiles"
)

//go:embed capsdb.json.gz
var capsdbGz []byte

// maxJSON bounds the decompressed seed: it is ours, but a bound costs
// nothing and keeps a bad build from eating memory.
const maxJSON = 64 << 20

// DBJSON returns the seed as a capsdb db.json document.
func DBJSON() ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(capsdbGz))
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxJSON+1))
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if len(data) > maxJSON {
		return nil, fmt.Errorf("seed: larger than %d bytes", maxJSON)
	}
	return data, nil
}

// Entries parses the seed. Entries whose key does not parse carry Err (see
// capsfiles.ParseDBJSON); none is verified here.
func Entries() ([]capsfiles.DBEntry, error) {
	data, err := DBJSON()
	if err != nil {
		return nil, err
	}
	return capsfiles.ParseDBJSON(data)
}
