// Command notes-client is a Go service calling the notes app through its
// trusted socket: in isolation mode too, with the client label "backend"
// the capabilities grant. It adds a note, lists the notes, and deletes the
// note it added:
//
//	go run ./cmd/notes-client --addr unix://$PWD/backend.sock
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	notesv1 "github.com/tether-ipc/tether/examples/notes/gen/notes/v1"
)

func main() {
	addr := flag.String("addr", "unix://backend.sock", "the notes app's trusted endpoint")
	flag.Parse()
	if err := run(*addr); err != nil {
		var te *tether.Error
		if errors.As(err, &te) {
			fmt.Fprintf(os.Stderr, "notes-client: %s: %s\n", te.Code(), te.Message())
		} else {
			fmt.Fprintln(os.Stderr, "notes-client:", err)
		}
		os.Exit(1)
	}
}

func run(addr string) error {
	c, err := client.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	notes := notesv1.NewNotesClient(c.Conn()) // typed, on the same connection
	note, err := notes.CreateNote(ctx, &notesv1.CreateNoteRequest{Title: "from Go", Body: "written by notes-client"})
	if err != nil {
		return err
	}
	fmt.Println("created", note.GetId())
	var list struct {
		Notes []struct{ ID, Title string } `json:"notes"`
	}
	if err := c.Invoke(ctx, "list_notes", nil, &list); err != nil { // by name, JSON
		return err
	}
	fmt.Println("notes:", len(list.Notes))
	if _, err := notes.DeleteNote(ctx, &notesv1.DeleteNoteRequest{Id: note.GetId()}); err != nil {
		return err
	}
	fmt.Println("deleted", note.GetId())
	_, err = notes.GetNote(ctx, &notesv1.GetNoteRequest{Id: note.GetId()})
	var te *tether.Error
	if !errors.As(err, &te) || te.Code() != tether.CodeNotFound {
		return fmt.Errorf("get of a deleted note: %v", err)
	}
	fmt.Println("gone:", te.Message(), string(te.Details()))
	return nil
}
