package main

import (
	"testing"

	"github.com/tether-ipc/tether/examples/notes/internal/notestest"
)

// The Go client does its round trip against the running app.
func TestClientRoundTrip(t *testing.T) {
	r := notestest.Start(t)
	if err := run(r.Trusted[0]); err != nil {
		t.Fatal(err)
	}
}
