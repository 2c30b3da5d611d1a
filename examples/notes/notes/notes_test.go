package notes_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-ipc/tether"
	"github.com/tether-ipc/tether/client"
	notesv1 "github.com/tether-ipc/tether/examples/notes/gen/notes/v1"
	"github.com/tether-ipc/tether/examples/notes/internal/notestest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// post sends body with the app's secret, as the page's calls carry it.
func post(t *testing.T, token, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// The notes app through its gateway (the page's path: hook, seal,
// capabilities), its trusted socket (a Go service) and its gRPC port
// (refused without a seal).
func TestNotesApp(t *testing.T) {
	r := notestest.Start(t)
	c, err := client.Dial(r.Trusted[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A listener hears note-created, typed.
	created := make(chan *notesv1.NoteCreated, 4)
	sub, err := c.Listen(ctx, []string{"note-created"}, func(e client.Event) {
		var m notesv1.NoteCreated
		if err := e.Decode(&m); err == nil {
			created <- &m
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unlisten()

	code, body := post(t, r.Token, r.HTTP+"/ipc/invoke/create_note", `{"title":"Groceries","body":"milk"}`)
	if code != 200 || !strings.Contains(body, `"title":"Groceries"`) {
		t.Fatalf("create_note from the page: %d %s", code, body)
	}
	select {
	case m := <-created:
		if m.GetNote().GetTitle() != "Groceries" {
			t.Fatalf("note-created %v", m)
		}
	case <-ctx.Done():
		t.Fatal("no note-created")
	}
	var note struct{ ID string }
	json.Unmarshal([]byte(body), &note)

	for _, tc := range []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"protovalidate", "/ipc/invoke/create_note", `{"title":""}`, 400, "title"},
		{"hook blocks delete from the page", "/ipc/invoke/delete_note", `{"id":"` + note.ID + `"}`, 403, "delete_note is not allowed from the page"},
		{"hook blocks scripts", "/ipc/invoke/create_note", `{"title":"x","body":"<script>alert(1)</script>"}`, 403, "scripts"},
		{"not_found with details", "/ipc/invoke/get_note", `{"id":"nope"}`, 404, `"details":{"id":"nope"}`},
		{"the page emits nothing", "/ipc/emit/note-created", `{}`, 403, "emits no events"},
	} {
		if code, body := post(t, r.Token, r.HTTP+tc.path, tc.body); code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s; want %d with %s", tc.name, code, body, tc.code, tc.want)
		}
	}

	// The export channel, as the page's Channel reads it (SSE).
	code, body = post(t, r.Token, r.HTTP+"/ipc/invoke/export_notes", `{}`, "Accept", "text/event-stream")
	if code != 200 || !strings.Contains(body, "Groceries") || !strings.Contains(body, `"of":1`) {
		t.Fatalf("export_notes: %d %s", code, body)
	}
	var frames int
	for sc := bufio.NewScanner(strings.NewReader(body)); sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "data:") {
			frames++
		}
	}
	if frames < 2 { // one note, then the end
		t.Fatalf("export frames %d:\n%s", frames, body)
	}

	// A Go service on the trusted socket may delete; afterwards the note is
	// not_found, with its id as details, on the typed client too.
	notes := notesv1.NewNotesClient(c.Conn())
	if _, err := notes.DeleteNote(ctx, &notesv1.DeleteNoteRequest{Id: note.ID}); err != nil {
		t.Fatalf("delete_note from the backend: %v", err)
	}
	_, err = notes.GetNote(ctx, &notesv1.GetNoteRequest{Id: note.ID})
	var details map[string]string
	if tether.CodeOf(err) != tether.CodeNotFound || tether.FromError(err).DecodeDetails(&details) != nil || details["id"] != note.ID {
		t.Fatalf("get of the deleted note: %v %v", err, details)
	}
	// Anyone else on the gRPC port is refused: isolation takes sealed calls only.
	plain, err := client.Dial(r.GRPC)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Invoke(ctx, "list_notes", nil, nil); tether.CodeOf(err) != tether.CodePermissionDenied {
		t.Fatalf("unsealed list_notes: %v", err)
	}
}
