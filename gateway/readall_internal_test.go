package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
)

func TestReadAll(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB: several growth steps
	for _, tc := range []struct {
		name     string
		body     []byte
		declared int64 // -1: unknown (chunked)
		want     error
	}{
		{"exact", []byte(`{"a":1}`), 7, nil},
		{"large", big, int64(len(big)), nil},
		{"chunked", big, -1, nil},
		{"shorter than declared", big[:1000], 2000, io.ErrUnexpectedEOF},
		{"longer than declared", big[:2000], 1000, errors.New("body longer than its Content-Length")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{ContentLength: tc.declared, Body: io.NopCloser(chunks(tc.body))}
			got, err := readAll(r)
			switch {
			case tc.want == nil && err != nil:
				t.Fatal(err)
			case tc.want != nil && (err == nil || err.Error() != tc.want.Error()):
				t.Fatalf("error %v, want %v", err, tc.want)
			case tc.want == nil && !bytes.Equal(got, tc.body):
				t.Fatalf("read %d bytes, want %d", len(got), len(tc.body))
			}
			if tc.want == nil && tc.declared > 0 && cap(got) != len(got) {
				t.Fatalf("buffer of %d for %d bytes", cap(got), len(got))
			}
		})
	}
}

// chunks returns b in reads of at most 4096 bytes, as a
// socket does.
func chunks(b []byte) io.Reader { return &chunky{b: b} }

type chunky struct{ b []byte }

func (c *chunky) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 4096)], c.b)
	c.b = c.b[n:]
	return n, nil
}
