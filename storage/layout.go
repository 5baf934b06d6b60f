package storage

import (
	"os"
	"path/filepath"
)

// Layout is capsengine's data directory, shared by every command that
// opens the stores: Dir/user holds the user store, Dir/trusted the
// trusted store when there is one.
type Layout struct{ Dir string }

// User is the user store's directory.
func (l Layout) User() string { return filepath.Join(l.Dir, "user") }

// Trusted is the trusted store's directory, whether or not it exists.
func (l Layout) Trusted() string { return filepath.Join(l.Dir, "trusted") }

// TrustedIfPresent is Trusted when that directory exists, else "": a data
// directory without a trusted store runs with the user store alone.
func (l Layout) TrustedIfPresent() string {
	if _, err := os.Stat(l.Trusted()); err == nil {
		return l.Trusted()
	}
	return ""
}
