package capsengine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/capsengine/capsengine"
	"github.com/capsengine/capsengine/actors"
	"github.com/capsengine/capsengine/hashing"
)

// TestFacadeErrors: the engine's errors name this package, not an
// internal one, and match both this package's sentinels and the actors
// ones they stand for.
func TestFacadeErrors(t *testing.T) {
	ctx := context.Background()
	q := capsengine.QuerierFunc(func(context.Context, string, string) (*hashing.Info, error) {
		return nil, errors.New("no answer")
	})
	eng, err := capsengine.Open(ctx, capsengine.Config{InMemory: true, Querier: q})
	if err != nil {
		t.Fatal(err)
	}
	_, err = eng.Caps("nobody@example.org/x")
	if got, want := fmt.Sprint(err), "capsengine: unknown JID"; got != want {
		t.Errorf("Caps of an unknown JID: got %q, want %q", got, want)
	}
	if err != capsengine.ErrUnknownJID || !errors.Is(err, actors.ErrUnknownJID) {
		t.Errorf("Caps of an unknown JID: %#v is not ErrUnknownJID, or does not match actors.ErrUnknownJID", err)
	}
	if _, err := eng.Wait(ctx, "nobody@example.org/x"); !errors.Is(err, capsengine.ErrUnknownJID) {
		t.Errorf("Wait of an unknown JID: got %v, want ErrUnknownJID", err)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = eng.Wait(ctx, "nobody@example.org/x")
	if !errors.Is(err, capsengine.ErrClosed) || !errors.Is(err, actors.ErrClosed) || err.Error() != "capsengine: engine closed" {
		t.Errorf("Wait after Close: got %q, want capsengine: engine closed matching both sentinels", err)
	}
}
