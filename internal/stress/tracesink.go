package stress

import (
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// sink is this process's OTLP/HTTP trace receiver: it decodes every export
// request and counts the spans, then answers as a collector does.
var sink struct {
	once  sync.Once
	err   error
	spans atomic.Int64
}

// StartTraceSink starts the sink once and points the OTLP exporter of
// every app this process starts afterwards at it, with the standard
// variables: their tracing is then on as an app's is with a collector,
// every call sampled (the SDK's default).
func StartTraceSink() error {
	sink.once.Do(func() {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			sink.err = err
			return
		}
		mux := http.NewServeMux()
		mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			n, err := countSpans(body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			sink.spans.Add(int64(n))
			out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.Write(out) //nolint:errcheck
		})
		go (&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(lis) //nolint:errcheck // lives as long as the process
		os.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+lis.Addr().String())
		os.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
		os.Unsetenv("OTEL_SDK_DISABLED")
		os.Unsetenv("OTEL_TRACES_EXPORTER")
		os.Unsetenv("OTEL_TRACES_SAMPLER")
	})
	return sink.err
}

// countSpans counts the spans of an OTLP ExportTraceServiceRequest
// (resource_spans = 1 → scope_spans = 2 → spans = 2) by walking its wire
// format, without decoding the spans: the sink should cost little next to
// the exporter it measures.
func countSpans(b []byte) (int, error) {
	n := 0
	err := eachField(b, 1, func(rs []byte) error {
		return eachField(rs, 2, func(ss []byte) error {
			return eachField(ss, 2, func([]byte) error { n++; return nil })
		})
	})
	return n, err
}

// eachField calls f with the bytes of every length-delimited field num of
// the message b.
func eachField(b []byte, num protowire.Number, f func([]byte) error) error {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return protowire.ParseError(l)
			}
			if err := f(v); err != nil {
				return err
			}
			b = b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
	}
	return nil
}

// SpansExported is how many spans this process's sink has received.
func SpansExported() int64 { return sink.spans.Load() }
