package gateway

import (
	"net/http/httptest"
	"testing"

	tetherv1 "github.com/tether-ipc/tether/gen/tether/v1"
)

// A batch is written as one SSE frame per event, flushed together; an
// event whose name could break the frame syntax is skipped.
func TestWriteListenBatch(t *testing.T) {
	rec := httptest.NewRecorder()
	sse, err := startSSE(rec, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = writeListen(sse, &tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Batch{Batch: &tetherv1.EventBatch{Events: []*tetherv1.Event{
		{Id: 1, Name: "a", Payload: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(`1`)}}},
		{Id: 2, Name: "bad\nevent: x", Payload: &tetherv1.Payload{Body: &tetherv1.Payload_Json{Json: []byte(`2`)}}},
		{Id: 3, Name: "a"},
		nil,
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rec.Body.String(), "event: a\nid: 1\ndata: 1\n\nevent: a\nid: 3\ndata: null\n\n"; got != want {
		t.Fatalf("SSE of a batch:\n%q\nwant\n%q", got, want)
	}
	// An empty batch writes nothing.
	rec.Body.Reset()
	if err := writeListen(sse, &tetherv1.ListenResponse{Kind: &tetherv1.ListenResponse_Batch{}}); err != nil || rec.Body.Len() != 0 {
		t.Fatalf("empty batch: %q %v", rec.Body.String(), err)
	}
}
