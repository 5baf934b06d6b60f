package storage_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/capsengine/capsengine/hashing"
	"github.com/capsengine/capsengine/storage"
)

func Example() {
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Config{Dir: "caps", FS: vfs.NewMem()})
	if err != nil {
		panic(err)
	}
	defer db.Close(ctx)

	// A peer announced this ver, and this is its disco#info answer.
	key, _ := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, "QgayPKawpkPSDYmwT/WM94uAlu0=")
	answer := hashing.Info{
		Identities: []hashing.Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}},
		Features: []string{
			"http://jabber.org/protocol/caps",
			"http://jabber.org/protocol/disco#info",
			"http://jabber.org/protocol/disco#items",
			"http://jabber.org/protocol/muc",
		},
	}
	// Put verifies the answer and returns once it is durable.
	err = db.Put(ctx, key, &storage.Entry{Info: answer, Nodes: []string{"http://code.google.com/p/exodus"}})
	fmt.Println("put:", err)

	e, src, err := db.Lookup(key)
	fmt.Println("lookup:", src, e.Method, e.Info.HasFeature("http://jabber.org/protocol/muc"), err)

	// An answer that does not hash to its key is never stored.
	answer.Features = answer.Features[:3]
	err = db.Put(ctx, key, &storage.Entry{Info: answer})
	var mismatch *hashing.MismatchError
	fmt.Println("tampered:", errors.As(err, &mismatch))

	other, _ := hashing.ParseKey(hashing.XEP0115, hashing.SHA1, "q07IKJEyjvHSyhy//CH0CxmKi8w=")
	_, err = db.Get(other)
	fmt.Println("unknown:", errors.Is(err, storage.ErrNotFound))
	// Output:
	// put: <nil>
	// lookup: user strict true <nil>
	// tampered: true
	// unknown: true
}
