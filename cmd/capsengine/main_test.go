package main

import (
	"context"
	"os"
	"testing"
)

// TestMain lets this test binary stand in for capsengine when
// "bench --cluster" re-executes itself as a member (memberEnv set): it
// then runs the command line instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv(memberEnv) != "" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	code := m.Run()
	removeBinary()
	os.Exit(code)
}
