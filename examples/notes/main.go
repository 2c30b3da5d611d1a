// Command notes is a Tether app of its own: the notes.v1.Notes service,
// served by package app with everything `tether serve` has. Run it with
//
//	go run . --config tether.json
//
// and open the address it prints; cmd/notes-client calls it from Go
// through the trusted socket.
package main

import (
	"github.com/tether-ipc/tether/app"
	notesv1 "github.com/tether-ipc/tether/examples/notes/gen/notes/v1"
	"github.com/tether-ipc/tether/examples/notes/notes"
	"github.com/tether-ipc/tether/server"
)

func main() {
	app.Main(func(s *server.Server) error {
		notesv1.RegisterNotesServer(s, notes.New(s))
		return nil
	})
}
