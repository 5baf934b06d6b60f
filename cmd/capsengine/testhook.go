//go:build capsengine_testhook

package main

import (
	"context"
	"fmt"
	"os"
	"sync"
)

// This file is compiled only into the binary that the signal tests build
// (go build -tags capsengine_testhook). It prints lines the tests wait for
// before they send a signal, so that they signal a command known to be in
// the state under test, without sleeping and hoping. CAPSENGINE_TESTHOOK
// selects the state: any value reports when signals are handled, "hold" holds an import after its first file until
// the first signal, "ignore-cancel" holds it for good.
func init() {
	hold := os.Getenv("CAPSENGINE_TESTHOOK")
	if hold == "" {
		return // runs as any other build
	}
	signalsHandled = func() { fmt.Fprintln(os.Stderr, "testhook: signals handled") }
	var once sync.Once
	afterImportFile = func(ctx context.Context) {
		once.Do(func() {
			fmt.Fprintln(os.Stderr, "testhook: import held")
			if hold == "ignore-cancel" {
				// A command stuck where it does not see its context: only
				// the second signal can end it.
				select {}
			}
			<-ctx.Done() // "hold"
		})
	}
}
