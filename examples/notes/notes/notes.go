// Package notes implements the notes.v1.Notes service: notes kept in
// memory, a note-created event for every new note, and an export channel.
package notes

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tether-ipc/tether"
	notesv1 "github.com/tether-ipc/tether/examples/notes/gen/notes/v1"
	"github.com/tether-ipc/tether/server"
)

// Service implements notesv1.NotesServer. It is safe for concurrent use.
type Service struct {
	notesv1.UnimplementedNotesServer
	emitter *server.Server

	mu    sync.Mutex
	next  int
	notes map[string]*notesv1.Note
}

// New returns an empty notebook that announces new notes through s.
func New(s *server.Server) *Service {
	return &Service{emitter: s, notes: map[string]*notesv1.Note{}}
}

// CreateNote adds a note and emits note-created. protovalidate has checked
// the title and body before this runs.
func (n *Service) CreateNote(ctx context.Context, r *notesv1.CreateNoteRequest) (*notesv1.Note, error) {
	n.mu.Lock()
	n.next++
	note := &notesv1.Note{Id: "n" + strconv.Itoa(n.next), Title: r.GetTitle(), Body: r.GetBody(), Created: timestamppb.Now()}
	n.notes[note.Id] = note
	n.mu.Unlock()
	if _, err := n.emitter.Emit(ctx, "note-created", &notesv1.NoteCreated{Note: note}); err != nil {
		return nil, err
	}
	return note, nil
}

// ListNotes returns every note, newest first.
func (n *Service) ListNotes(context.Context, *emptypb.Empty) (*notesv1.ListNotesResponse, error) {
	return &notesv1.ListNotesResponse{Notes: n.sorted()}, nil
}

// GetNote returns one note.
func (n *Service) GetNote(_ context.Context, r *notesv1.GetNoteRequest) (*notesv1.Note, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	note, ok := n.notes[r.GetId()]
	if !ok {
		return nil, notFound(r.GetId())
	}
	return note, nil
}

// DeleteNote removes a note.
func (n *Service) DeleteNote(_ context.Context, r *notesv1.DeleteNoteRequest) (*emptypb.Empty, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.notes[r.GetId()]; !ok {
		return nil, notFound(r.GetId())
	}
	delete(n.notes, r.GetId())
	return &emptypb.Empty{}, nil
}

// ExportNotes streams every note; it stops when the caller goes.
func (n *Service) ExportNotes(r *notesv1.ExportNotesRequest, stream notesv1.Notes_ExportNotesServer) error {
	all := n.sorted()
	for i, note := range all {
		if i > 0 && r.GetPaceMs() > 0 {
			select {
			case <-time.After(time.Duration(r.GetPaceMs()) * time.Millisecond):
			case <-stream.Context().Done():
				return stream.Context().Err()
			}
		}
		if err := stream.Send(&notesv1.ExportNotesResponse{Note: note, N: uint32(i + 1), Of: uint32(len(all))}); err != nil {
			return err
		}
	}
	return nil
}

func (n *Service) sorted() []*notesv1.Note {
	n.mu.Lock()
	defer n.mu.Unlock()
	all := make([]*notesv1.Note, 0, len(n.notes))
	for _, note := range n.notes {
		all = append(all, note)
	}
	sort.Slice(all, func(i, j int) bool {
		ti, tj := all[i].GetCreated().AsTime(), all[j].GetCreated().AsTime()
		if ti.Equal(tj) {
			return all[i].GetId() > all[j].GetId()
		}
		return ti.After(tj)
	})
	return all
}

// notFound is the error of an unknown id: the id travels as details, so a
// frontend reads err.details.id.
func notFound(id string) error {
	return tether.Errorf(tether.CodeNotFound, "no note %q", id).WithDetails(map[string]string{"id": id})
}
