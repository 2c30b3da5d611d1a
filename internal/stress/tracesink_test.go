package stress

import (
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestCountSpans(t *testing.T) {
	req := &collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: make([]*tracepb.Span, 3)}, {Spans: make([]*tracepb.Span, 2)}}},
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: make([]*tracepb.Span, 4)}}},
	}}
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for i := range ss.Spans {
				ss.Spans[i] = &tracepb.Span{Name: "s", TraceId: make([]byte, 16), SpanId: make([]byte, 8)}
			}
		}
	}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := countSpans(b); err != nil || n != 9 {
		t.Fatalf("countSpans = %d, %v; want 9", n, err)
	}
	if _, err := countSpans(b[:len(b)-3]); err == nil {
		t.Fatal("a truncated request counted without error")
	}
}
